package runner_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

func TestRunPipelineEnvAndTrim(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		ctx := context.Background()
		out, err := r.Run(ctx, "", "echo piped | cat | cat", nil, nil, false)
		if err != nil || out != "piped" {
			t.Fatalf("pipeline: %q, %v", out, err)
		}
		out, err = r.Run(ctx, "sh", `printf '\n  %s %s  \n\n' "$RR_A" "$RR_B"`, []string{"RR_A=one", "RR_B=two"}, nil, true)
		if err != nil || out != "one two" {
			t.Fatalf("env: %q, %v", out, err)
		}
		// A command that succeeds while writing to stderr still succeeds.
		out, err = r.Run(ctx, "", "echo fine; echo noise >&2", nil, nil, false)
		if err != nil || out != "fine" {
			t.Fatalf("stderr noise: %q, %v", out, err)
		}
	})
}

func TestRunFailureText(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		ctx := context.Background()
		_, err := r.Run(ctx, "", "echo partial; printf '  oops: it broke \n\n' >&2; exit 2", nil, nil, false)
		var re *runner.RunError
		if !errors.As(err, &re) {
			t.Fatalf("err %v (%T), want *RunError", err, err)
		}
		if err.Error() != "oops: it broke" || re.Stdout != "partial" {
			t.Errorf("message %q, stdout %q", err.Error(), re.Stdout)
		}
		var exit *runner.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("exit %v", exit)
		}
		_, err = r.Run(ctx, "", "exit 4", nil, nil, false)
		if err == nil || err.Error() != "exit status 4" {
			t.Errorf("silent failure: %v", err)
		}
		// Where the shell is the direct child its death by SIGKILL shows as
		// a signal; under a wrapper (firejail, the engine CLI) the wrapper
		// reports it as exit status 128+9.
		_, err = r.Run(ctx, "", "kill -9 $$", nil, nil, false)
		if !errors.As(err, &exit) || !(exit.Signal() == syscall.SIGKILL || exit.ExitCode() == 137) {
			t.Errorf("killed shell: %v", err)
		}
	})
}

// Params fill the runner's {{ .dir }} placeholders for one call: with the
// param the command can read the folder, without it the call fails naming it.
func TestRunParams(t *testing.T) {
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			if !available(t, k) {
				return
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("secret-ish\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			opts := k.readDirOpts(k.opts)
			r, err := runner.New(k.kind, opts, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer r.(*runner.Native).Close()
			cmd := "cat " + k.pathInside(dir, "f")
			out, err := r.Run(context.Background(), "", cmd, nil, map[string]interface{}{"dir": dir}, false)
			if err != nil || out != "secret-ish" {
				t.Fatalf("with params: %q, %v", out, err)
			}
			if k.kind == runner.TypeExec || k.kind == runner.TypeSandboxExec {
				return // no templated option in this table
			}
			_, err = r.Run(context.Background(), "", cmd, nil, nil, false)
			if !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), "dir") {
				t.Fatalf("without params: %v, want ErrInvalidOptions naming dir", err)
			}
		})
	}
}

func TestRunCancellation(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		secs := uniqueSeconds()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			waitFor(20*time.Second, func() bool { return len(pidsWithArg(secs)) == 2 })
			cancel()
		}()
		t0 := time.Now()
		_, err := r.Run(ctx, "", "sleep "+secs+" & sleep "+secs+"; wait", nil, nil, false)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, runner.ErrCanceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if d := time.Since(t0); d > 25*time.Second {
			t.Errorf("took %v", d)
		}
		if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(secs)) == 0 }) {
			t.Fatalf("processes survived: %v", pidsWithArg(secs))
		}
		// An already cancelled context starts nothing.
		if _, err := r.Run(ctx, "", "true", nil, nil, false); !errors.Is(err, context.Canceled) {
			t.Errorf("done ctx: %v", err)
		}
		if _, _, _, _, err := r.RunWithPipes(ctx, "true", nil, nil, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("done ctx: %v", err)
		}
	})
}

func TestBadOptionsAndUnknownTypes(t *testing.T) {
	_, err := runner.New("chroot", nil, nil)
	if !errors.Is(err, runner.ErrUnknownRunner) || !strings.Contains(err.Error(), "chroot") {
		t.Errorf("unknown type: %v", err)
	}
	var rerr *runner.Error
	if !errors.As(err, &rerr) || rerr.Code != runner.StatusUnknownRunner {
		t.Errorf("not a *runner.Error with the status: %#v", err)
	}
	for _, tc := range []struct {
		opts runner.Options
		key  string
	}{
		{runner.Options{"no_such_option": true}, "no_such_option"},
		{runner.Options{"shell": 42}, "shell"},
	} {
		_, err := runner.New(runner.TypeExec, tc.opts, nil)
		if !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: %v", tc.opts, err)
		}
	}
	if _, err := runner.New(runner.TypeExec, runner.Options{"shell": make(chan int)}, nil); !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("unmarshalable option: %v", err)
	}
	// Every available kind rejects a key it does not know.
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			if !available(t, k) {
				return
			}
			_, err := runner.New(k.kind, with(k.opts, runner.Options{"allow_everything": true}), nil)
			if !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), "allow_everything") {
				t.Errorf("%v", err)
			}
		})
	}
	if runtime.GOOS == "linux" {
		_, err := runner.New(runner.TypeSandboxExec, nil, nil)
		if !errors.Is(err, runner.ErrRequirements) {
			t.Errorf("sandbox-exec on Linux: %v", err)
		}
	}
}

func TestBadArguments(t *testing.T) {
	r := newExec(t)
	ctx := context.Background()
	if _, _, _, _, err := r.RunWithPipes(ctx, "echo", []string{"a\x00b"}, nil, nil); !errors.Is(err, runner.ErrInvalidArgument) {
		t.Errorf("NUL in arg: %v", err)
	}
	if _, _, _, _, err := r.RunWithPipes(ctx, "env", nil, []string{"NOEQUALS"}, nil); !errors.Is(err, runner.ErrInvalidArgument) {
		t.Errorf("env without '=': %v", err)
	}
	if _, err := r.Run(ctx, "", "true", nil, map[string]interface{}{"x": make(chan int)}, false); !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("bad params: %v", err)
	}
	if _, err := r.Run(ctx, "/nonexistent/shell", "true", nil, nil, false); !errors.Is(err, runner.ErrCommandNotFound) {
		t.Errorf("missing shell: %v", err)
	}
}

func newExec(t *testing.T) *runner.Exec {
	t.Helper()
	r, err := runner.NewExec(runner.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestLoggers(t *testing.T) {
	var nilLogger *common.Logger
	for _, l := range []runner.Logger{nil, nilLogger, common.GetLogger()} {
		r, err := runner.New(runner.TypeExec, runner.Options{}, l)
		if err != nil {
			t.Fatalf("%T: %v", l, err)
		}
		if _, err := r.Run(context.Background(), "", "exit 1", nil, nil, false); err == nil {
			t.Fatal("exit 1 succeeded")
		}
	}
	path := filepath.Join(t.TempDir(), "log")
	l, err := common.NewLogger("rr ", path, common.LogLevelDebug, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := runner.New("nope", nil, l); err == nil {
		t.Fatal("unknown type accepted")
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "nope") {
		t.Errorf("log %q", b)
	}
}

func TestCloseAndWaitTwice(t *testing.T) {
	r, err := runner.NewNative(runner.TypeExec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stdin, stdout, stderr, wait, err := r.RunWithPipes(context.Background(), "true", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A process outlives the runner that started it.
	r.Close()
	r.Close()
	if _, err := r.Run(context.Background(), "", "true", nil, nil, false); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, _, _, _, err := r.RunWithPipes(context.Background(), "true", nil, nil, nil); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("RunWithPipes after Close: %v", err)
	}
	stdin.Close()
	stdout.Close()
	stderr.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, runner.ErrWaitCalled) {
		t.Errorf("second wait: %v", err)
	}
	if err := r.CheckImplicitRequirements(); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("CheckImplicitRequirements after Close: %v", err)
	}
}

// A process whose wait is dropped is killed, reaped and cleaned up once
// the garbage collector finds its handle unreachable.
func TestAbandonedProcessIsReapedByGC(t *testing.T) {
	r := newExec(t)
	secs := uniqueSeconds()
	func() {
		stdin, stdout, stderr, _, err := r.RunWithPipes(context.Background(), "sh", []string{"-c", "sleep " + secs + " & exec sleep " + secs}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		stdout.Close()
		stderr.Close()
	}()
	if !waitFor(10*time.Second, func() bool { return len(pidsWithArg(secs)) == 2 }) {
		t.Fatalf("sleeps not running: %v", pidsWithArg(secs))
	}
	if !waitFor(10*time.Second, func() bool { runtime.GC(); return len(pidsWithArg(secs)) == 0 }) {
		t.Fatalf("abandoned processes still running: %v", pidsWithArg(secs))
	}
	if !waitFor(5*time.Second, func() bool { return zombies() == 0 }) {
		t.Fatalf("%d zombie children left", zombies())
	}
}

// zombies counts this process's children that exited but were not reaped.
func zombies() int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == self {
			n++
		}
	}
	return n
}

// Spawning many processes leaves goroutines, OS threads and open fds
// where they were, whether the context is cancellable or not.
func TestSpawnsLeaveNothingBehind(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		spawn := func(i int) {
			c := context.Background()
			if i%2 == 1 {
				c = ctx
			}
			if i%10 == 9 {
				if _, err := r.Run(c, "", "true", nil, nil, false); err != nil {
					t.Fatal(err)
				}
				return
			}
			stdin, stdout, stderr, wait, err := r.RunWithPipes(c, "true", nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stdin.Close()
			out, _ := io.ReadAll(stdout)
			errText, _ := io.ReadAll(stderr)
			stdout.Close()
			stderr.Close()
			if err := wait(); err != nil || len(out) > 0 || len(errText) > 0 {
				t.Fatalf("wait: %v; stdout %q; stderr %q", err, out, errText)
			}
		}
		batch := func(n int) {
			var wg sync.WaitGroup
			next := make(chan int)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						spawn(i)
					}
				}()
			}
			for i := 0; i < n; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
		}
		batch(200) // warm up: threads for blocking cgo calls, the poller, caches
		settle := func() { runtime.GC(); time.Sleep(50 * time.Millisecond) }
		settle()
		goroutines, threads, fds := runtime.NumGoroutine(), countDir("/proc/self/task"), openFds()

		batch(k.spawns)
		settle()
		waitFor(2*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines })
		if g := runtime.NumGoroutine(); g > goroutines {
			t.Errorf("goroutines %d -> %d", goroutines, g)
		}
		// Go keeps its OS threads and may start one more when several cgo
		// calls block at the same moment; a leak would grow with the spawn
		// count, so a small constant slack separates the two.
		const threadSlack = 2
		if th := countDir("/proc/self/task"); th > threads+threadSlack {
			t.Errorf("OS threads %d -> %d", threads, th)
		}
		if after := openFds(); len(after) != len(fds) {
			t.Errorf("open fds %d -> %d:%s", len(fds), len(after), fdDiff(fds, after))
		}
		if z := zombies(); z != 0 {
			t.Errorf("%d zombies", z)
		}
		t.Logf("%d spawns: %d goroutines, %d threads, %d fds", k.spawns, goroutines, threads, len(fds))
	})
}

// One runner serves many goroutines at once (run under -race).
func TestConcurrentUse(t *testing.T) {
	r := newExec(t)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				want := strconv.Itoa(g*100 + i)
				out, err := r.Run(context.Background(), "", "echo $N", []string{"N=" + want}, nil, false)
				if err != nil || out != want {
					t.Errorf("got %q, %v; want %s", out, err, want)
				}
			}
		}(g)
	}
	wg.Wait()
}
