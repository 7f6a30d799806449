package runner

/*
#include <signal.h>
#include "restricted_runner.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// handle is the C process handle, shared by wait, the context watcher and
// the garbage-collection cleanup. rr_wait consumes the handle while
// rr_process_kill only borrows it, so both go through mu and the first
// to take ptr (wait or cleanup) is the only one to call rr_wait.
type handle struct {
	mu     sync.Mutex
	ptr    *C.rr_process
	killed bool
}

// kill sends SIGKILL to the whole tree unless the handle was consumed.
func (h *handle) kill() {
	h.mu.Lock()
	if h.ptr != nil {
		C.rr_process_kill(h.ptr, C.SIGKILL, nil)
		h.killed = true
	}
	h.mu.Unlock()
}

// take hands the pointer to its one consumer.
func (h *handle) take() (*C.rr_process, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.ptr
	h.ptr = nil
	return p, h.killed
}

// process is what the wait function of RunWithPipes closes over; when it
// becomes unreachable without wait having run, its cleanup kills and reaps
// the process tree and removes what the spawn created.
type process struct {
	h       *handle
	ctx     context.Context
	stop    func() bool // deregisters the context watcher; nil without one
	started atomic.Bool
	cleanup runtime.Cleanup
}

type abandoned struct {
	h    *handle
	stop func() bool
}

func newProcess(ctx context.Context, p *C.rr_process) *process {
	h := &handle{ptr: p}
	pr := &process{h: h, ctx: ctx}
	if ctx.Done() != nil {
		// No goroutine until ctx is done: AfterFunc then runs h.kill once.
		pr.stop = context.AfterFunc(ctx, h.kill)
	}
	pr.cleanup = runtime.AddCleanup(pr, reapAbandoned, abandoned{h: h, stop: pr.stop})
	return pr
}

// reapAbandoned runs from the runtime's cleanup goroutine, which must not
// block: the reap (for a container, its removal) runs in its own goroutine.
func reapAbandoned(a abandoned) {
	if a.stop != nil {
		a.stop()
	}
	p, _ := a.h.take()
	if p == nil {
		return
	}
	go func() {
		C.rr_process_kill(p, C.SIGKILL, nil)
		C.rr_wait(p, nil, nil)
	}()
}

func (pr *process) wait() error {
	if !pr.started.CompareAndSwap(false, true) {
		return ErrWaitCalled
	}
	defer runtime.KeepAlive(pr)
	// Wait for the exit in Go's poller, so that no OS thread is held (the
	// context watcher may kill the process meanwhile); where that is not
	// possible, block in rr_process_wait_exit, which allows rr_process_kill
	// from another thread. Then stop the watcher before rr_wait consumes
	// the handle; rr_wait itself no longer waits for the exit.
	exited := awaitExit(int(C.rr_process_pid(pr.h.ptrForWaitExit())))
	if pr.stop != nil {
		if !exited {
			var e *C.rr_error
			C.rr_process_wait_exit(pr.h.ptrForWaitExit(), -1, &e)
			if e != nil {
				C.rr_error_free(e)
			}
		}
		pr.stop()
	}
	p, killed := pr.h.take()
	pr.cleanup.Stop()
	if p == nil {
		return ErrWaitCalled
	}
	var st C.rr_exit_status
	var e *C.rr_error
	if err := takeError(C.rr_wait(p, &st, &e), e); err != nil {
		return pr.canceled(killed, err)
	}
	if exit := exitError(st); exit != nil {
		return pr.canceled(killed, exit)
	}
	return nil
}

// ptrForWaitExit reads the pointer for rr_process_wait_exit; only wait,
// which runs once, takes it away afterwards, so it stays valid for the call.
func (h *handle) ptrForWaitExit() *C.rr_process {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ptr
}

// canceled wraps err with the context's error when the watcher killed the process.
func (pr *process) canceled(killed bool, err error) error {
	if killed {
		if cerr := pr.ctx.Err(); cerr != nil {
			return &canceledError{ctxErr: cerr, cause: err}
		}
	}
	return err
}
