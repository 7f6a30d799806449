package runner

import (
	"errors"
	"fmt"
	"syscall"
)

// Status is a status code of the C library (rr_status).
type Status uint32

// The status codes, by their C values.
const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = 1
	StatusUnknownRunner   Status = 2
	StatusInvalidOptions  Status = 3
	StatusRequirements    Status = 4
	StatusCommandNotFound Status = 5
	StatusSpawn           Status = 6
	StatusIO              Status = 7
	StatusTimeout         Status = 8
	StatusInternal        Status = 9
	StatusCanceled        Status = 10
)

// Sentinels, one per failure status: test an error with errors.Is.
var (
	// ErrInvalidArgument: an argument was malformed (an env entry without
	// '=', a string holding a NUL byte).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnknownRunner: the runner type is not one the library knows.
	ErrUnknownRunner = errors.New("unknown runner")
	// ErrInvalidOptions: the options or params are malformed, have an
	// unknown key or a value of the wrong type; the message names the key.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrRequirements: something the runner needs is missing on this machine.
	ErrRequirements = errors.New("requirements not met")
	// ErrCommandNotFound: the command does not exist.
	ErrCommandNotFound = errors.New("command not found")
	// ErrSpawn: the process could not be started.
	ErrSpawn = errors.New("spawn failed")
	// ErrIO: a system call failed while running, signalling or waiting.
	ErrIO = errors.New("i/o error")
	// ErrTimeout: a deadline passed first.
	ErrTimeout = errors.New("timed out")
	// ErrInternal: a bug in the library.
	ErrInternal = errors.New("internal error")
	// ErrCanceled: the call was cancelled; errors carrying it also match
	// the context's error (context.Canceled or context.DeadlineExceeded).
	ErrCanceled = errors.New("canceled")

	// ErrClosed: the Runner was closed.
	ErrClosed = errors.New("restricted-runner: runner is closed")
	// ErrWaitCalled: wait was called a second time for the same process.
	ErrWaitCalled = errors.New("restricted-runner: wait was already called")
)

var sentinels = map[Status]error{
	StatusInvalidArgument: ErrInvalidArgument,
	StatusUnknownRunner:   ErrUnknownRunner,
	StatusInvalidOptions:  ErrInvalidOptions,
	StatusRequirements:    ErrRequirements,
	StatusCommandNotFound: ErrCommandNotFound,
	StatusSpawn:           ErrSpawn,
	StatusIO:              ErrIO,
	StatusTimeout:         ErrTimeout,
	StatusInternal:        ErrInternal,
	StatusCanceled:        ErrCanceled,
}

// Error is an error reported by the C library: its status, its message
// (which names what was wrong) and the OS errno behind it, if any.
// errors.Is matches it against the sentinel of its status and, when Errno
// is set, against that errno (so errors.Is(err, fs.ErrNotExist) works too).
type Error struct {
	Code    Status
	Message string
	Errno   syscall.Errno
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the status sentinel and the errno to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if s, ok := sentinels[e.Code]; ok {
		errs = append(errs, s)
	}
	if e.Errno != 0 {
		errs = append(errs, e.Errno)
	}
	return errs
}

// ExitError reports a process that did not exit with status 0, like
// os/exec's *exec.ExitError (whose os.ProcessState cannot be built outside
// the standard library): same method names, same message text. Reason
// adds why it ended (a timeout, a CPU limit, an out-of-memory kill...).
type ExitError struct {
	exited bool
	code   int
	signal syscall.Signal
	reason EndReason
}

func (e *ExitError) Error() string {
	if e.exited {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return "signal: " + e.signal.String()
}

// ExitCode is the exit code, or -1 when a signal ended the process.
func (e *ExitError) ExitCode() int {
	if e.exited {
		return e.code
	}
	return -1
}

// Exited reports whether the process exited (rather than being killed by a signal).
func (e *ExitError) Exited() bool { return e.exited }

// Signal is the signal that ended the process, or 0 when it exited.
func (e *ExitError) Signal() syscall.Signal { return e.signal }

// Reason says why the process ended: EndExited or EndSignaled when
// nothing but the command itself explains it.
func (e *ExitError) Reason() EndReason { return e.reason }

// Success is false: an ExitError is only made for a failure.
func (e *ExitError) Success() bool { return false }

// Sys returns the status as a syscall.WaitStatus, as os.ProcessState.Sys does.
func (e *ExitError) Sys() interface{} {
	if e.exited {
		return syscall.WaitStatus(uint32(e.code&0xff) << 8)
	}
	return syscall.WaitStatus(uint32(e.signal) & 0x7f)
}

// RunError is Run's error for a command that ran and failed: its message is
// the command's trimmed stderr (as in go-restricted-runner), or the exit
// status when stderr was empty; errors.As finds the *ExitError inside.
type RunError struct {
	Stderr string
	Stdout string
	Exit   *ExitError
}

func (e *RunError) Error() string {
	if e.Stderr != "" {
		return e.Stderr
	}
	return e.Exit.Error()
}

// Unwrap returns the exit status.
func (e *RunError) Unwrap() error { return e.Exit }

// canceledError is what a call stopped by its context returns: it matches
// the context's error, ErrCanceled, and whatever else it wraps (an
// *ExitError, the library's *Error).
type canceledError struct {
	ctxErr error
	cause  error
}

func (e *canceledError) Error() string {
	if e.cause == nil {
		return e.ctxErr.Error()
	}
	return e.ctxErr.Error() + " (" + e.cause.Error() + ")"
}

func (e *canceledError) Unwrap() []error {
	errs := []error{e.ctxErr, ErrCanceled}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}
