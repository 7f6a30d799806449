package runner_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// escapingTree is a tree that tries to outlive its command: a grandchild
// in a session of its own, a double-forked one, and the command itself,
// each a sleep whose argument starts with m.
func escapingTree(m string) string {
	return fmt.Sprintf("setsid sleep %s1 & (sleep %s2 &); exec sleep %s3", m, m, m)
}

func treePids(m string) []string {
	var pids []string
	for i := 1; i <= 3; i++ {
		pids = append(pids, pidsWithArg(m+strconv.Itoa(i))...)
	}
	return pids
}

// marker is a number no other process on the machine carries as an argument.
func marker() string {
	return fmt.Sprintf("7%07d%04d", os.Getpid()%10_000_000, rand.Intn(10_000))
}

// A Go program that started a tree through the package and is SIGKILLed
// takes the whole tree along within 2 s: the setsid'd and double-forked
// grandchildren too; so does one that ends with os.Exit. In the
// thread-exited cases the program started it from a goroutine that locked
// its OS thread and returned, so Go ended the spawning thread first: the
// tree must survive that, and still die with the program.
func TestCallersTreeDiesWithIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux: the watchdog follows the caller by its pidfd")
	}
	bin := filepath.Join(t.TempDir(), "lifetimehelper")
	build := exec.Command("go", "build", "-o", bin, "./internal/lifetimehelper")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	for _, k := range kinds() {
		if k.kind != runner.TypeExec && k.kind != runner.TypeLandrun {
			continue
		}
		for _, tc := range []struct {
			name   string
			thread bool
			exit   bool
		}{{"sigkill", false, false}, {"thread-exited", true, false}, {"os.Exit", false, true}} {
			t.Run(string(k.kind)+"/"+tc.name, func(t *testing.T) {
				if !available(t, k) {
					return
				}
				endCaller(t, bin, k, tc.thread, tc.exit)
			})
		}
	}
}

// endCaller starts the helper running the escaping tree under k, then
// SIGKILLs it (or, with exit, lets it call os.Exit) and checks the tree
// is gone within 2 s.
func endCaller(t *testing.T, bin string, k kindCase, thread, exit bool) {
	opts, err := k.opts.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	if k.opts == nil {
		opts = "{}"
	}
	m := marker()
	args := []string{string(k.kind), opts, "sh", "-c", escapingTree(m)}
	if thread {
		args = append([]string{"-thread"}, args...)
	}
	if exit {
		args = append([]string{"-exit"}, args...)
	}
	caller := exec.Command(bin, args...)
	// Records and profile files of this caller only; its own process group
	// so that the test kills only what it means to.
	caller.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir(), "TMPDIR="+t.TempDir())
	caller.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	caller.Stderr = &stderr
	out, err := caller.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := caller.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			caller.Process.Kill()
			caller.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "ready") {
		caller.Wait()
		t.Fatalf("caller said %q (%v): %s", line, err, stderr.String())
	}
	if !waitFor(30*time.Second, func() bool { return len(treePids(m)) == 3 }) {
		t.Fatalf("the tree did not start: %v", treePids(m))
	}
	if thread {
		// A parent-death signal tied to the spawning thread would have
		// fired when it ended, before "ready": the command lives on.
		time.Sleep(300 * time.Millisecond)
		if got := pidsWithArg(m + "3"); len(got) != 1 || !alive(got[0]) {
			t.Fatalf("the command died with the thread that spawned it: %v", treePids(m))
		}
	}
	if exit {
		in.Close()
		if err := caller.Wait(); err != nil {
			t.Fatalf("caller: %v: %s", err, stderr.String())
		}
	} else {
		if err := caller.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		caller.Wait()
	}
	killed = true
	if !waitFor(2*time.Second, func() bool { return len(treePids(m)) == 0 }) {
		t.Fatalf("survived the caller's end by 2 s: %v", treePids(m))
	}
}

// alive reports whether pid is a process that has not exited.
func alive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// Go ends the OS thread of a goroutine that returns while locked to it
// (runtime.LockOSThread without UnlockOSThread). A command started from
// such a goroutine must not die with that thread: it keeps running,
// answers on its pipes, and its wait reports its own exit.
func TestSpawningThreadsExitDoesNotKillTheCommand(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux threads")
	}
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		rr := resultRunner(t, r)
		m := uniqueSeconds()
		type spawned struct {
			tid    int
			stdin  io.WriteCloser
			stdout io.ReadCloser
			stderr io.ReadCloser
			wait   func() (*runner.WaitResult, error)
			err    error
		}
		var s spawned
		for s.tid == 0 {
			ch := make(chan spawned)
			go func() {
				runtime.LockOSThread()
				tid := syscall.Gettid()
				if tid == os.Getpid() {
					// Go parks rather than ends the main thread: another try.
					runtime.UnlockOSThread()
					ch <- spawned{}
					return
				}
				in, out, errs, wait, err := rr.RunWithPipesResult(context.Background(), "sh",
					[]string{"-c", "sleep " + m + " >/dev/null 2>&1 & read x; echo got $x; exit 7"}, nil, nil)
				ch <- spawned{tid, in, out, errs, wait, err}
			}()
			s = <-ch
		}
		if s.err != nil {
			t.Fatal(s.err)
		}
		task := "/proc/self/task/" + strconv.Itoa(s.tid)
		if !waitFor(10*time.Second, func() bool {
			_, err := os.Stat(task)
			return errors.Is(err, os.ErrNotExist)
		}) {
			t.Fatalf("Go did not end thread %d", s.tid)
		}
		if !waitFor(30*time.Second, func() bool { return len(pidsWithArg(m)) == 1 }) {
			t.Fatalf("the background sleep did not start")
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := io.WriteString(s.stdin, "hi\n"); err != nil {
			t.Fatalf("the command is gone with its thread: writing: %v", err)
		}
		s.stdin.Close()
		if got, _ := io.ReadAll(s.stdout); string(got) != "got hi\n" {
			t.Errorf("stdout %q: the command did not survive its thread", got)
		}
		io.Copy(io.Discard, s.stderr)
		s.stdout.Close()
		s.stderr.Close()
		res, err := s.wait()
		var ee *runner.ExitError
		if !errors.As(err, &ee) || res == nil || res.ExitCode != 7 || res.Reason != runner.EndExited {
			t.Errorf("wait: %+v, %v; want exit 7, EndExited", res, err)
		}
		// The wait ends what the command left running.
		if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(m)) == 0 }) {
			t.Errorf("the background sleep survived the wait: %v", pidsWithArg(m))
		}
	})
}
