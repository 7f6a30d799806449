package runner

/*
#include <stdlib.h>
#include "restricted_runner.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// Native is a runner of the C library. It is immutable and safe for
// concurrent use. Close frees it; one that is not closed is freed when it
// is garbage collected. Processes it started stay valid after Close.
type Native struct {
	kind   Type
	logger Logger

	mu      sync.RWMutex // held shared by calls using ptr, exclusively by Close
	ptr     *C.rr_runner
	cleanup runtime.Cleanup
}

var _ Runner = (*Native)(nil)

// NewNative is New returning the concrete type (for Close): it checks the
// runner's requirements.
func NewNative(runnerType Type, options Options, logger Logger) (*Native, error) {
	return newNative(runnerType, options, logger, true)
}

// newNative builds a runner, checking its requirements when checked is
// true (rr_runner_new) and leaving them to CheckImplicitRequirements and
// the first spawn otherwise (rr_runner_new_unchecked).
func newNative(runnerType Type, options Options, logger Logger, checked bool) (*Native, error) {
	logger = normalizeLogger(logger)
	opts, err := optionsJSON(options)
	if err != nil {
		return nil, err
	}
	if err := checkNUL("runner type", string(runnerType)); err != nil {
		return nil, err
	}
	b := newCBlock(0, len(runnerType)+1+len(opts)+1)
	defer b.free()
	kind := b.str(string(runnerType))
	var optsC *C.char
	if opts != "" {
		optsC = b.str(opts)
	}
	var r *C.rr_runner
	var e *C.rr_error
	var rc C.rr_status
	if checked {
		rc = C.rr_runner_new(kind, optsC, &r, &e)
	} else {
		rc = C.rr_runner_new_unchecked(kind, optsC, &r, &e)
	}
	if err := takeError(rc, e); err != nil {
		logger.Debug("runner %s not created: %v", runnerType, err)
		return nil, err
	}
	n := &Native{kind: runnerType, logger: logger, ptr: r}
	n.cleanup = runtime.AddCleanup(n, func(p *C.rr_runner) { C.rr_runner_free(p) }, r)
	return n, nil
}

func optionsJSON(options Options) (string, error) {
	if len(options) == 0 {
		return "", nil
	}
	s, err := options.ToJSON()
	if err != nil {
		return "", &Error{Code: StatusInvalidOptions, Message: "invalid options: " + err.Error()}
	}
	return s, nil
}

func paramsJSON(params map[string]interface{}) (string, error) {
	if len(params) == 0 {
		return "", nil
	}
	b, err := json.Marshal(params)
	if err != nil {
		return "", &Error{Code: StatusInvalidOptions, Message: "invalid params: " + err.Error()}
	}
	return string(b), nil
}

// Type is the kind of this runner.
func (n *Native) Type() Type { return n.kind }

// Close frees the runner. Calls after Close return ErrClosed; Close waits
// for calls in progress. Closing twice is harmless.
func (n *Native) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ptr != nil {
		n.cleanup.Stop()
		C.rr_runner_free(n.ptr)
		n.ptr = nil
	}
	return nil
}

// CheckImplicitRequirements checks now that what the runner needs is on
// this machine (each call checks afresh; for docker it asks the engine):
// nil, or an error matching ErrRequirements that says what is missing.
// After a check passed, runs no longer check.
func (n *Native) CheckImplicitRequirements() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.ptr == nil {
		return ErrClosed
	}
	var e *C.rr_error
	return takeError(C.rr_runner_check(n.ptr, &e), e)
}

// CheckRequirements reports whether a runner of runnerType with options
// could be created on this machine, without creating one: nil, or the
// error New would return.
func CheckRequirements(runnerType Type, options Options) error {
	opts, err := optionsJSON(options)
	if err != nil {
		return err
	}
	if err := checkNUL("runner type", string(runnerType)); err != nil {
		return err
	}
	return checkRequirements(runnerType, opts)
}

func checkRequirements(kind Type, options string) error {
	b := newCBlock(0, len(kind)+1+len(options)+1)
	defer b.free()
	kindC := b.str(string(kind))
	var opts *C.char
	if options != "" {
		opts = b.str(options)
	}
	var e *C.rr_error
	return takeError(C.rr_check_requirements(kindC, opts, &e), e)
}

// Run implements Runner.Run.
func (n *Native) Run(ctx context.Context, shell string, command string, env []string, params map[string]interface{}, tmpfile bool) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	pj, err := paramsJSON(params)
	if err != nil {
		return "", err
	}
	if err := checkNUL("shell or command", shell, command); err != nil {
		return "", err
	}
	if err := checkNUL("an env entry", env...); err != nil {
		return "", err
	}

	slots, bytes := cSize(env, true)
	b := newCBlock(slots, bytes+len(shell)+1+len(command)+1+len(pj)+1)
	defer b.free()
	var shellC, paramsC *C.char
	if shell != "" {
		shellC = b.str(shell)
	}
	commandC := b.str(command)
	if pj != "" {
		paramsC = b.str(pj)
	}
	envC := b.array(env)

	cancelFd := C.int(-1)
	if ctx.Done() != nil {
		cp, err := newCancelPipe()
		if err != nil {
			return "", err
		}
		defer cp.close()
		stop := context.AfterFunc(ctx, cp.fire)
		defer stop()
		cancelFd = C.int(cp.r)
	}

	n.mu.RLock()
	if n.ptr == nil {
		n.mu.RUnlock()
		return "", ErrClosed
	}
	var out C.rr_output
	var e *C.rr_error
	rc := C.rr_run_cancelable(n.ptr, shellC, commandC, envC, paramsC, 0, cancelFd, &out, &e)
	n.mu.RUnlock()

	if err := takeError(rc, e); err != nil {
		if rc == C.RR_ERR_CANCELED {
			if cerr := ctx.Err(); cerr != nil {
				return "", &canceledError{ctxErr: cerr, cause: err}
			}
		}
		n.logger.Debug("run of %q failed: %v", command, err)
		return "", err
	}
	stdout := cBytes(out.stdout_data, out.stdout_len)
	stderr := cBytes(out.stderr_data, out.stderr_len)
	exit := exitError(out.status)
	C.rr_output_free(&out)
	if exit != nil {
		return "", &RunError{
			Stderr: strings.TrimSpace(stderr),
			Stdout: strings.TrimSpace(stdout),
			Exit:   exit,
		}
	}
	return strings.TrimSpace(stdout), nil
}

func cBytes(p *C.char, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
}

func exitError(st C.rr_exit_status) *ExitError {
	if st.exited != 0 {
		if st.code == 0 {
			return nil
		}
		return &ExitError{exited: true, code: int(st.code)}
	}
	return &ExitError{signal: syscall.Signal(st.signal)}
}

// cancelPipe lets a context cancel a blocking rr_run_cancelable: closing
// the write end wakes the library's poll on the read end.
type cancelPipe struct {
	r, w int
	mu   sync.Mutex
}

func newCancelPipe() (*cancelPipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, &Error{Code: StatusIO, Message: "i/o error: creating the cancel pipe: " + err.Error(), Errno: errnoOf(err)}
	}
	return &cancelPipe{r: fds[0], w: fds[1]}, nil
}

func (c *cancelPipe) fire() {
	c.mu.Lock()
	if c.w >= 0 {
		syscall.Close(c.w)
		c.w = -1
	}
	c.mu.Unlock()
}

func (c *cancelPipe) close() {
	c.fire()
	syscall.Close(c.r)
}

func errnoOf(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return 0
}

// RunWithPipes implements Runner.RunWithPipes. The three streams are
// *os.File values in non-blocking mode, served by Go's poller (so
// SetReadDeadline works and a blocked Read holds no OS thread).
func (n *Native) RunWithPipes(ctx context.Context, cmd string, args []string, env []string, params map[string]interface{}) (
	stdin io.WriteCloser,
	stdout io.ReadCloser,
	stderr io.ReadCloser,
	wait func() error,
	err error,
) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, nil, err
	}
	pj, err := paramsJSON(params)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("cmd", cmd); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("an argument", args...); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("an env entry", env...); err != nil {
		return nil, nil, nil, nil, err
	}

	as, ab := cSize(args, true)
	es, eb := cSize(env, true)
	b := newCBlock(as+es, ab+eb+len(cmd)+1+len(pj)+1)
	cmdC := b.str(cmd)
	var paramsC *C.char
	if pj != "" {
		paramsC = b.str(pj)
	}
	argsC := b.array(args)
	envC := b.array(env)

	var in, out, errFd C.int
	var p *C.rr_process
	var e *C.rr_error
	n.mu.RLock()
	if n.ptr == nil {
		n.mu.RUnlock()
		b.free()
		return nil, nil, nil, nil, ErrClosed
	}
	rc := C.rr_run_with_pipes(n.ptr, cmdC, argsC, envC, paramsC, &in, &out, &errFd, &p, &e)
	n.mu.RUnlock()
	b.free()
	if err := takeError(rc, e); err != nil {
		n.logger.Debug("starting %q failed: %v", cmd, err)
		return nil, nil, nil, nil, err
	}

	proc := newProcess(ctx, p)
	return pipeFile(in, "|0"), pipeFile(out, "|1"), pipeFile(errFd, "|2"), proc.wait, nil
}

// pipeFile wraps a pipe fd from the library in an *os.File using Go's
// poller: non-blocking, so Read parks the goroutine rather than an OS thread.
func pipeFile(fd C.int, name string) *os.File {
	// A pipe has no other status flag to keep: one fcntl sets O_NONBLOCK.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, syscall.O_NONBLOCK)
	return os.NewFile(uintptr(fd), name)
}
