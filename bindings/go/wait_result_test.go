package runner_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// wrapped reports whether k's status is that of a wrapper program
// (firejail, the engine's CLI), which exits 128+N for a command killed by
// signal N.
func wrapped(k kindCase) bool {
	return k.kind == runner.TypeFirejail || k.kind == runner.TypeDocker
}

func resultRunner(t *testing.T, r runner.Runner) runner.ResultRunner {
	t.Helper()
	rr, ok := r.(runner.ResultRunner)
	if !ok {
		t.Fatalf("%T is not a ResultRunner", r)
	}
	return rr
}

// A command that exits 3 after some work: the code, EndExited, and (but
// in a container, whose processes are the engine's) the CPU it used and
// its peak memory; the same through Run's *ExitError.
func TestResultOfAnExit(t *testing.T) {
	const busy = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo out; echo err >&2; exit 3"
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		rr := resultRunner(t, r)
		out, err := rr.RunResult(context.Background(), "/bin/sh", busy, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", out.WaitResult)
		if out.Stdout != "out\n" || out.Stderr != "err\n" {
			t.Errorf("streams %q %q, want them untrimmed", out.Stdout, out.Stderr)
		}
		if out.ExitCode != 3 || out.Signal != 0 || !out.Exited() || out.Success() || out.Reason != runner.EndExited {
			t.Errorf("result %+v, want exit 3, EndExited", out.WaitResult)
		}
		if out.Reason.String() != "exited" {
			t.Errorf("reason prints %q", out.Reason)
		}
		if out.WallTime <= 0 || out.WallTime > time.Minute {
			t.Errorf("wall time %v", out.WallTime)
		}
		if k.kind == runner.TypeDocker {
			if out.CPUMeasured || out.PeakRSSMeasured || out.UserTime != 0 || out.PeakRSS != 0 {
				t.Errorf("a container's usage is not the caller's: %+v", out.WaitResult)
			}
		} else {
			if !out.CPUMeasured || !out.PeakRSSMeasured {
				t.Fatalf("nothing measured: %+v", out.WaitResult)
			}
			// The wall clock starts once the spawn returned, the child's CPU
			// count when it was made: a few milliseconds apart.
			if out.UserTime < 20*time.Millisecond || out.WallTime+50*time.Millisecond < out.UserTime {
				t.Errorf("user %v, wall %v", out.UserTime, out.WallTime)
			}
			if out.PeakRSS < 100<<10 || out.PeakRSS > 1<<30 {
				t.Errorf("peak RSS %d", out.PeakRSS)
			}
		}
		exit := out.ExitError()
		if exit == nil || exit.ExitCode() != 3 || exit.Reason() != runner.EndExited || exit.Error() != "exit status 3" {
			t.Errorf("ExitError() %v", exit)
		}

		// Run's error carries the same.
		_, err = r.Run(context.Background(), "/bin/sh", "exit 3", nil, nil, false)
		var ee *runner.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || ee.Reason() != runner.EndExited {
			t.Errorf("Run: %v", err)
		}

		// And the pipes' wait, which reports a success with a nil error.
		stdin, stdout, stderr, wait, err := rr.RunWithPipesResult(context.Background(), "sh", []string{"-c", "exit 3"}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		drain(stdin, stdout, stderr)
		res, err := wait()
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || ee.Reason() != runner.EndExited {
			t.Errorf("wait: %v", err)
		}
		if res == nil || res.ExitCode != 3 || res.Reason != runner.EndExited {
			t.Errorf("wait result %+v", res)
		}
		if res, err := wait(); res != nil || !errors.Is(err, runner.ErrWaitCalled) {
			t.Errorf("second wait: %+v, %v", res, err)
		}
		stdin, stdout, stderr, wait, err = rr.RunWithPipesResult(context.Background(), "true", nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		drain(stdin, stdout, stderr)
		if res, err := wait(); err != nil || res == nil || !res.Success() || res.ExitError() != nil {
			t.Errorf("true: %+v, %v", res, err)
		}
	})
}

func drain(stdin io.WriteCloser, stdout, stderr io.ReadCloser) {
	stdin.Close()
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	stdout.Close()
	stderr.Close()
}

// A command killed by a signal that is not the package's: EndSignaled.
func TestResultOfASignal(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		rr := resultRunner(t, r)
		out, err := rr.RunResult(context.Background(), "/bin/sh", "kill -TERM $$", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", out.WaitResult)
		if wrapped(k) {
			if out.ExitCode != 128+int(syscall.SIGTERM) {
				t.Errorf("result %+v, want the wrapper's exit 143", out.WaitResult)
			}
		} else if out.Signal != syscall.SIGTERM || out.ExitCode != -1 || out.Exited() || out.Reason != runner.EndSignaled {
			t.Errorf("result %+v, want SIGTERM, EndSignaled", out.WaitResult)
		}

		stdin, stdout, stderr, wait, err := rr.RunWithPipesResult(context.Background(), "sh", []string{"-c", "kill -KILL $$"}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		drain(stdin, stdout, stderr)
		res, err := wait()
		var ee *runner.ExitError
		if !errors.As(err, &ee) || res == nil {
			t.Fatalf("wait: %+v, %v", res, err)
		}
		if wrapped(k) {
			if res.ExitCode != 128+int(syscall.SIGKILL) || ee.ExitCode() != res.ExitCode {
				t.Errorf("result %+v, want the wrapper's exit 137", res)
			}
		} else if res.Signal != syscall.SIGKILL || res.Reason != runner.EndSignaled || ee.Signal() != syscall.SIGKILL ||
			ee.Reason() != runner.EndSignaled || ee.Error() != "signal: killed" {
			t.Errorf("result %+v, error %v (%v), want SIGKILL, EndSignaled", res, ee, ee.Reason())
		}
	})
}

// Past the context's deadline the tree is killed: EndTimedOut, and the
// output written until then; cancelling is EndCanceled. Through pipes the
// wait's error still matches the context's.
func TestResultOfAContextTimeout(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		rr := resultRunner(t, r)
		secs := uniqueSeconds()
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		out, err := rr.RunResult(ctx, "/bin/sh", "echo before; sleep "+secs, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", out.WaitResult)
		if out.Reason != runner.EndTimedOut || out.Reason.String() != "timed out" {
			t.Errorf("reason %v, want timed out", out.Reason)
		}
		if out.Stdout != "before\n" {
			t.Errorf("stdout %q", out.Stdout)
		}
		if d := time.Since(t0); d < 2*time.Second || d > 30*time.Second || out.WallTime > d {
			t.Errorf("took %v, wall time %v", d, out.WallTime)
		}
		if exit := out.ExitError(); exit == nil || exit.Reason() != runner.EndTimedOut {
			t.Errorf("ExitError() %v", exit)
		}
		if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(secs)) == 0 }) {
			t.Errorf("survived: %v", pidsWithArg(secs))
		}
		// Run says the same as an error matching the context's.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		_, err = r.Run(ctx2, "", "sleep "+secs, nil, nil, false)
		var ee *runner.ExitError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, runner.ErrCanceled) || !errors.As(err, &ee) || ee.Reason() != runner.EndTimedOut {
			t.Errorf("Run: %v", err)
		}

		// Through pipes, a deadline and a cancellation.
		for _, tc := range []struct {
			name string
			want runner.EndReason
			ctx  func() (context.Context, context.CancelFunc)
		}{
			{"deadline", runner.EndTimedOut, func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second)
			}},
			{"cancel", runner.EndCanceled, func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Second, cancel)
				return ctx, cancel
			}},
		} {
			ctx, cancel := tc.ctx()
			defer cancel()
			stdin, stdout, stderr, wait, err := rr.RunWithPipesResult(ctx, "sleep", []string{secs}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			drain(stdin, stdout, stderr)
			res, err := wait()
			if !errors.Is(err, ctx.Err()) || !errors.Is(err, runner.ErrCanceled) || res == nil || res.Reason != tc.want {
				t.Errorf("%s: %+v, %v; want %v", tc.name, res, err, tc.want)
			}
			if !errors.As(err, &ee) || ee.Reason() != tc.want {
				t.Errorf("%s: %v does not carry %v", tc.name, err, tc.want)
			}
		}
	})
}

// Past max_cpu_seconds under landrun: EndCPULimit, whether the command
// dies of SIGXCPU or ignores it and is killed at the hard limit.
func TestResultOfACPULimit(t *testing.T) {
	k := kindCase{kind: runner.TypeLandrun, linux: true, opts: runner.Options{
		"allow_read_exec_folders": systemFolders(),
		"max_cpu_seconds":         1,
	}}
	if !available(t, k) {
		return
	}
	r, err := runner.NewLandrun(k.opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, script := range []string{"while :; do :; done", "trap '' XCPU; while :; do :; done"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := r.RunResult(ctx, "/bin/sh", script, nil, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", script, out.WaitResult)
		if out.Reason != runner.EndCPULimit || out.Reason.String() != "CPU limit" {
			t.Errorf("%s: reason %v, want CPU limit", script, out.Reason)
		}
		// The kernel checks the limit against its tick-sampled CPU time and
		// reports the time really run: on a busy machine that can be less.
		if cpu := out.UserTime + out.SystemTime; !out.CPUMeasured || cpu < 500*time.Millisecond {
			t.Errorf("%s: CPU %v (measured %v)", script, cpu, out.CPUMeasured)
		}
		_, err = r.Run(context.Background(), "/bin/sh", script, nil, nil, false)
		var ee *runner.ExitError
		if !errors.As(err, &ee) || ee.Reason() != runner.EndCPULimit {
			t.Errorf("%s: Run: %v", script, err)
		}
	}
}

// Past a container's memory limit the engine kills the command:
// EndOutOfMemory.
func TestResultOfAContainersMemoryLimit(t *testing.T) {
	var k kindCase
	for _, c := range kinds() {
		if c.kind == runner.TypeDocker {
			k = c
		}
	}
	k.opts = with(k.opts, runner.Options{"memory": "32m", "memory_swap": "32m"})
	if !available(t, k) {
		return
	}
	r, err := runner.NewDocker(k.opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// podman (its conmon) leaves an empty OOM marker file ("oom") in the
	// folder its CLI started in: run from a folder of the test's own.
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.RunResult(ctx, "", "head -c 200m /dev/zero | tail > /dev/null", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", out.WaitResult)
	if out.Reason != runner.EndOutOfMemory || out.Reason.String() != "out of memory" || out.Success() {
		t.Errorf("result %+v, want out of memory", out.WaitResult)
	}
	if ee := out.ExitError(); ee == nil || ee.Reason() != runner.EndOutOfMemory {
		t.Errorf("ExitError() %v", ee)
	}
}

func TestEndReasonStrings(t *testing.T) {
	want := []string{"exited", "signaled", "killed", "timed out", "canceled", "out of memory", "CPU limit", "file size limit"}
	for i, w := range want {
		if got := runner.EndReason(i).String(); got != w {
			t.Errorf("EndReason(%d) = %q, want %q", i, got, w)
		}
	}
	if got := runner.EndReason(99).String(); !strings.Contains(got, "99") {
		t.Errorf("unknown reason prints %q", got)
	}
}

// On Linux the kernel's peak resident size of a spawned child includes the
// caller's memory, which the child shares until it executes the command:
// `true` spawned by a program holding 64 MiB reports at least that.
func TestPeakRSSCountsTheCallersMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux accounting")
	}
	r, err := runner.NewNative(runner.TypeExec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ballast := make([]byte, 64<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	out, err := r.RunResult(context.Background(), "", "true", nil, nil)
	runtime.KeepAlive(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if !out.PeakRSSMeasured || out.PeakRSS < 64<<20 {
		t.Errorf("peak RSS %d (measured %v), want the caller's 64 MiB counted", out.PeakRSS, out.PeakRSSMeasured)
	}
}
