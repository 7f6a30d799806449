package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

type pipes struct {
	stdin          io.WriteCloser
	stdout, stderr io.ReadCloser
	wait           func() error
}

func start(t *testing.T, ctx context.Context, r runner.Runner, cmd string, args []string, env []string) pipes {
	t.Helper()
	stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, cmd, args, env, nil)
	if err != nil {
		t.Fatalf("RunWithPipes(%s %v): %v", cmd, args, err)
	}
	for _, f := range []interface{}{stdin, stdout, stderr} {
		if _, ok := f.(*os.File); !ok {
			t.Fatalf("stream is %T, not *os.File", f)
		}
	}
	t.Cleanup(func() {
		stdin.Close()
		stdout.Close()
		stderr.Close()
	})
	return pipes{stdin, stdout, stderr, wait}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestEchoThroughCat(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		p := start(t, context.Background(), r, "cat", nil, nil)
		if _, err := io.WriteString(p.stdin, "hello world\n"); err != nil {
			t.Fatal(err)
		}
		p.stdin.Close()
		if got := readAll(t, p.stdout); got != "hello world\n" {
			t.Errorf("stdout %q", got)
		}
		if got := readAll(t, p.stderr); got != "" {
			t.Errorf("stderr %q", got)
		}
		if err := p.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
	})
}

// Each line is written and its echo read back before the next is sent, so
// the streams are really interactive (no buffering until EOF).
func TestMultipleWrites(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		p := start(t, context.Background(), r, "cat", nil, nil)
		lines := bufio.NewReader(p.stdout)
		for i := 0; i < 100; i++ {
			want := fmt.Sprintf("line %d\n", i)
			if _, err := io.WriteString(p.stdin, want); err != nil {
				t.Fatal(err)
			}
			got, err := lines.ReadString('\n')
			if err != nil || got != want {
				t.Fatalf("line %d: %q, %v", i, got, err)
			}
		}
		p.stdin.Close()
		if rest := readAll(t, lines); rest != "" {
			t.Errorf("extra output %q", rest)
		}
		readAll(t, p.stderr)
		if err := p.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
	})
}

func TestStderrCaptureAndExitCode(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		p := start(t, context.Background(), r, "sh", []string{"-c", "echo out; echo 'error message' >&2; exit 3"}, nil)
		p.stdin.Close()
		var stdout, stderr string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); stderr = readAll(t, p.stderr) }()
		stdout = readAll(t, p.stdout)
		wg.Wait()
		if stdout != "out\n" || stderr != "error message\n" {
			t.Errorf("stdout %q, stderr %q", stdout, stderr)
		}
		err := p.wait()
		var exit *runner.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 || !exit.Exited() {
			t.Fatalf("wait: %v (%T), want exit status 3", err, err)
		}
		if err.Error() != "exit status 3" {
			t.Errorf("message %q", err.Error())
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || ws.ExitStatus() != 3 {
			t.Errorf("Sys() = %v", exit.Sys())
		}
	})
}

// Cancelling the context kills the whole tree: the shell, its background
// child and its foreground child, found from the host by command line.
func TestContextCancellationKillsTree(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		for _, tc := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 2*time.Second)
			}, context.DeadlineExceeded},
		} {
			t.Run(tc.name, func(t *testing.T) {
				secs := uniqueSeconds()
				ctx, cancel := tc.ctx()
				defer cancel()
				p := start(t, ctx, r, "sh", []string{"-c", "sleep " + secs + " & sleep " + secs + "; wait"}, nil)
				if !waitFor(20*time.Second, func() bool { return len(pidsWithArg(secs)) == 2 }) {
					t.Fatalf("the two sleeps never showed up: %v", pidsWithArg(secs))
				}
				t0 := time.Now()
				if tc.want == context.Canceled {
					cancel()
				}
				readAll(t, p.stdout)
				readAll(t, p.stderr)
				err := p.wait()
				if !errors.Is(err, tc.want) || !errors.Is(err, ctx.Err()) {
					t.Fatalf("wait: %v, want %v", err, tc.want)
				}
				if !errors.Is(err, runner.ErrCanceled) {
					t.Errorf("wait error does not match ErrCanceled: %v", err)
				}
				if d := time.Since(t0); d > 15*time.Second {
					t.Errorf("took %v to stop", d)
				}
				if !waitFor(5*time.Second, func() bool { return len(pidsWithArg(secs)) == 0 }) {
					t.Fatalf("processes survived the cancellation: %v", pidsWithArg(secs))
				}
			})
		}
	})
}

func TestCommandNotFound(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		const name = "nonexistent-command-12345"
		stdin, stdout, stderr, wait, err := r.RunWithPipes(context.Background(), name, nil, nil, nil)
		if err == nil && k.kind == runner.TypeDocker {
			// The engine CLI only learns inside the container that the
			// command is missing; the process must then fail.
			stdin.Close()
			readAll(t, stdout)
			msg := readAll(t, stderr)
			stdout.Close()
			stderr.Close()
			var exit *runner.ExitError
			if err := wait(); !errors.As(err, &exit) {
				t.Fatalf("wait: %v, stderr %q: want a failed exit", err, msg)
			}
			t.Logf("%s: %v, stderr %q", k.kind, exit, msg)
			return
		}
		if !errors.Is(err, runner.ErrCommandNotFound) {
			t.Fatalf("err %v, want ErrCommandNotFound", err)
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message does not name the command: %v", err)
		}
		if stdin != nil || stdout != nil || stderr != nil || wait != nil {
			t.Errorf("outputs set on failure")
		}
	})
}

func TestEnvVars(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		env := []string{"TEST_VAR=test_value_123", "RR_TWICE=first", "RR_TWICE=second", "RR_SPACES=a b  c"}
		p := start(t, context.Background(), r, "sh", []string{"-c", `echo "$TEST_VAR|$RR_TWICE|$RR_SPACES"`}, env)
		p.stdin.Close()
		if got := readAll(t, p.stdout); got != "test_value_123|second|a b  c\n" {
			t.Errorf("stdout %q", got)
		}
		readAll(t, p.stderr)
		if err := p.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
	})
}

// A child that exits without reading: writes then fail with EPIPE (Go
// ignores SIGPIPE for such fds) and wait reports success.
func TestEarlyExit(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		p := start(t, context.Background(), r, "true", nil, nil)
		readAll(t, p.stdout)
		readAll(t, p.stderr)
		var werr error
		waitFor(20*time.Second, func() bool {
			_, werr = p.stdin.Write([]byte("test\n"))
			return werr != nil
		})
		if !errors.Is(werr, syscall.EPIPE) {
			t.Errorf("write after exit: %v, want EPIPE", werr)
		}
		if err := p.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
	})
}

func TestConcurrent16MiB(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase, r runner.Runner) {
		data := make([]byte, 16<<20)
		rand.Read(data)
		p := start(t, context.Background(), r, "cat", nil, nil)
		werr := make(chan error, 1)
		go func() {
			_, err := p.stdin.Write(data)
			if cerr := p.stdin.Close(); err == nil {
				err = cerr
			}
			werr <- err
		}()
		got := readAll(t, p.stdout)
		if err := <-werr; err != nil {
			t.Fatalf("write: %v", err)
		}
		readAll(t, p.stderr)
		if err := p.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if !bytes.Equal([]byte(got), data) {
			t.Fatalf("got %d bytes back, want the %d written", len(got), len(data))
		}
	})
}
