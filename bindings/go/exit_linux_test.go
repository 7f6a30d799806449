package runner_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// On Linux wait parks its goroutine in Go's poller until the process exits
// (the child's pidfd) instead of blocking an OS thread in the library: 32
// goroutines waiting at once add no thread per wait. The same holds with a
// cancelable context, whose watcher can still kill the process.
func TestWaitHoldsNoThread(t *testing.T) {
	r := newExec(t)
	for _, cancelable := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		if !cancelable {
			ctx = context.Background()
		}
		const n = 32
		waits := make([]func() error, n)
		for i := range waits {
			stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "sleep", []string{"2"}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stdin.Close()
			stdout.Close()
			stderr.Close()
			waits[i] = wait
		}
		before := countDir("/proc/self/task")
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, w := range waits {
			wg.Add(1)
			go func(w func() error) {
				defer wg.Done()
				errs <- w()
			}(w)
		}
		time.Sleep(500 * time.Millisecond)
		during := countDir("/proc/self/task")
		if cancelable {
			cancel()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if cancelable != (err != nil) {
				t.Errorf("cancelable %v: wait returned %v", cancelable, err)
			}
		}
		cancel()
		if during > before+4 {
			t.Errorf("cancelable %v: %d waits took OS threads %d -> %d", cancelable, n, before, during)
		}
		t.Logf("cancelable %v: threads %d while %d waits were pending (%d before)", cancelable, during, n, before)
	}
}
