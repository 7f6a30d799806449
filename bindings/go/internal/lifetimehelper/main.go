// Command lifetimehelper is a caller for the binding's lifetime tests: it
// starts a command through the package, prints "ready" once it runs, and
// then waits to be killed without ever waiting for the command.
//
//	lifetimehelper [-thread] [-exit] RUNNER OPTIONS_JSON CMD [ARG...]
//
// With -exit it ends by os.Exit once its stdin reaches EOF, instead.
// With -thread the command is started from a goroutine locked to its OS
// thread that returns without unlocking, so that Go ends that thread; "ready"
// comes once the thread is gone.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// keep holds the wait functions: an unreachable one lets the garbage
// collector kill and reap its process.
var keep []func() error

func main() {
	thread := flag.Bool("thread", false, "start the command from a thread that then ends")
	exit := flag.Bool("exit", false, "os.Exit at EOF on stdin")
	flag.Parse()
	if flag.NArg() < 3 {
		fail(fmt.Errorf("usage: lifetimehelper [-thread] [-exit] RUNNER OPTIONS_JSON CMD [ARG...]"))
	}
	var opts runner.Options
	if err := json.Unmarshal([]byte(flag.Arg(1)), &opts); err != nil {
		fail(err)
	}
	r, err := runner.New(runner.Type(flag.Arg(0)), opts, nil)
	if err != nil {
		fail(err)
	}
	cmd, args := flag.Arg(2), flag.Args()[3:]
	start := func() {
		_, _, _, wait, err := r.RunWithPipes(context.Background(), cmd, args, nil, nil)
		if err != nil {
			fail(err)
		}
		keep = append(keep, wait)
	}
	if !*thread {
		start()
		fmt.Println("ready")
		if *exit {
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}
		select {}
	}
	for {
		tid := make(chan int)
		go func() {
			runtime.LockOSThread()
			me := syscall.Gettid()
			if me == os.Getpid() {
				// The main thread is parked, not ended, when its goroutine
				// exits locked: try again from another thread.
				runtime.UnlockOSThread()
				tid <- 0
				return
			}
			start()
			tid <- me
		}()
		me := <-tid
		if me == 0 {
			continue
		}
		task := "/proc/self/task/" + strconv.Itoa(me)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(task); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				fail(fmt.Errorf("thread %d did not end", me))
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Println("ready", me)
		select {}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lifetimehelper:", err)
	os.Exit(1)
}
