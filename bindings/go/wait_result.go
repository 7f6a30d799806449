package runner

/*
#include "restricted_runner.h"
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"strconv"
	"syscall"
	"time"
)

// EndReason says why a process ended. Its values are those of the C
// library's rr_end_reason; later versions may add some, which String
// prints as a number (go by ExitCode and Signal for those).
type EndReason uint32

// The reasons a process ends.
const (
	// EndExited: it exited by itself, whatever its code.
	EndExited EndReason = C.RR_END_EXITED
	// EndSignaled: a signal ended it that did not come from this package
	// (another process, or itself).
	EndSignaled EndReason = C.RR_END_SIGNALED
	// EndKilled: its handle killed it. This package kills a process only
	// for its context, which reports EndCanceled or EndTimedOut instead.
	EndKilled EndReason = C.RR_END_KILLED
	// EndTimedOut: the context's deadline passed and the tree was killed.
	EndTimedOut EndReason = C.RR_END_TIMED_OUT
	// EndCanceled: the context was cancelled and the tree was killed.
	EndCanceled EndReason = C.RR_END_CANCELED
	// EndOutOfMemory: the kernel, or the container engine, killed it for
	// memory (a container's `memory` limit).
	EndOutOfMemory EndReason = C.RR_END_OUT_OF_MEMORY
	// EndCPULimit: it used up its CPU time limit (`max_cpu_seconds`).
	EndCPULimit EndReason = C.RR_END_CPU_LIMIT
	// EndFileSizeLimit: it wrote past its file size limit (SIGXFSZ).
	EndFileSizeLimit EndReason = C.RR_END_FILE_SIZE_LIMIT
)

var endReasonNames = [...]string{
	EndExited:        "exited",
	EndSignaled:      "signaled",
	EndKilled:        "killed",
	EndTimedOut:      "timed out",
	EndCanceled:      "canceled",
	EndOutOfMemory:   "out of memory",
	EndCPULimit:      "CPU limit",
	EndFileSizeLimit: "file size limit",
}

func (r EndReason) String() string {
	if int(r) < len(endReasonNames) {
		return endReasonNames[r]
	}
	return "EndReason(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// WaitResult is how a process ended and what it cost.
//
// For the firejail and docker runners the status is that of the wrapper
// (firejail, the engine's CLI), which reports a command killed by signal N
// as exit code 128+N; Reason still tells a timeout, a cancellation or an
// out-of-memory kill apart.
type WaitResult struct {
	// ExitCode is the exit code, or -1 when a signal ended the process.
	ExitCode int
	// Signal is the signal that ended the process, or 0 when it exited.
	Signal syscall.Signal
	// Reason says why it ended.
	Reason EndReason
	// WallTime runs from the spawn to the reap.
	WallTime time.Duration
	// UserTime and SystemTime are the CPU time, in user mode and in the
	// kernel, of the processes the command waited for (or of its whole
	// cgroup, where it has one). Zero unless CPUMeasured.
	UserTime   time.Duration
	SystemTime time.Duration
	// PeakRSS is the largest resident set of any one of those processes,
	// in bytes, as the kernel reports it. Zero unless PeakRSSMeasured. On
	// Linux it is never below the calling program's own resident size at
	// the spawn: the child shares the caller's memory until it executes
	// the command, and the kernel counts that too.
	PeakRSS uint64
	// CPUMeasured and PeakRSSMeasured say whether the system measured the
	// CPU times and the peak memory: not for a container, whose processes
	// are the engine's, not the caller's.
	CPUMeasured     bool
	PeakRSSMeasured bool
}

// Exited reports whether the process exited (rather than being ended by a signal).
func (r *WaitResult) Exited() bool { return r.Signal == 0 }

// Success reports whether the process exited with code 0.
func (r *WaitResult) Success() bool { return r.Signal == 0 && r.ExitCode == 0 }

// ExitError is the process's status as the error wait returns for it: nil
// after a success, else an *ExitError carrying Reason.
func (r *WaitResult) ExitError() *ExitError {
	if r.Success() {
		return nil
	}
	return &ExitError{exited: r.Signal == 0, code: r.ExitCode, signal: r.Signal, reason: r.Reason}
}

// newCWaitResult prepares the C struct for a call filling it.
func newCWaitResult() C.rr_wait_result {
	return C.rr_wait_result{size: C.sizeof_rr_wait_result}
}

// waitResultOf converts what the library filled in. A handle kill is this
// package's context watcher at work: it becomes EndTimedOut or EndCanceled
// by ctx's error, as does a cancelled rr_run_info.
func waitResultOf(w *C.rr_wait_result, ctx context.Context, killedByCtx bool) *WaitResult {
	r := &WaitResult{
		Reason:   EndReason(w.reason),
		WallTime: micros(w.wall_time_us),
	}
	if w.status.exited != 0 {
		r.ExitCode = int(w.status.code)
	} else {
		r.ExitCode = -1
		r.Signal = syscall.Signal(w.status.signal)
	}
	if w.measured&C.RR_MEASURED_CPU != 0 {
		r.CPUMeasured = true
		r.UserTime = micros(w.user_time_us)
		r.SystemTime = micros(w.system_time_us)
	}
	if w.measured&C.RR_MEASURED_PEAK_RSS != 0 {
		r.PeakRSSMeasured = true
		r.PeakRSS = uint64(w.peak_rss_bytes)
	}
	if (r.Reason == EndKilled && killedByCtx) || r.Reason == EndCanceled {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.Reason = EndTimedOut
		} else {
			r.Reason = EndCanceled
		}
	}
	return r
}

func micros(us C.uint64_t) time.Duration {
	const max = uint64(1<<63-1) / uint64(time.Microsecond)
	if uint64(us) > max {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(us) * time.Microsecond
}

// RunOutput is what RunResult returns: both streams as the command wrote
// them (not trimmed, unlike Run's), and how it ended.
type RunOutput struct {
	Stdout string
	Stderr string
	WaitResult
}

// ResultRunner is implemented by *Native and the typed runners (*Exec,
// *Landrun, ...): the runs that also say how the command ended and what it
// cost. A program holding a Runner from New gets one by type assertion.
type ResultRunner interface {
	Runner
	RunResult(ctx context.Context, shell string, command string, env []string, params map[string]interface{}) (*RunOutput, error)
	RunWithPipesResult(ctx context.Context, cmd string, args []string, env []string, params map[string]interface{}) (
		stdin io.WriteCloser,
		stdout io.ReadCloser,
		stderr io.ReadCloser,
		wait func() (*WaitResult, error),
		err error,
	)
}

var (
	_ ResultRunner = (*Native)(nil)
	_ ResultRunner = (*Exec)(nil)
	_ ResultRunner = (*Firejail)(nil)
	_ ResultRunner = (*SandboxExec)(nil)
	_ ResultRunner = (*Landrun)(nil)
	_ ResultRunner = (*Docker)(nil)
)
