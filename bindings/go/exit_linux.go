package runner

import (
	"os"
	"syscall"
	"unsafe"
)

// Linux's pidfd_open (the same number on every architecture) and waitid's
// P_PIDFD; syscall has neither.
const (
	sysPidfdOpen = 434
	pPID         = 1
	pPIDFD       = 3
	wNoWait      = 0x1000000
	// How many times awaitExit yields before it parks on a pidfd.
	exitYields = 2
)

// awaitExit parks the calling goroutine until pid, a child of this process
// that the library has not reaped (it stays a zombie until rr_wait), has
// exited. It holds no OS thread while it waits: the child's pidfd sits in
// Go's poller. It returns false when it cannot wait this way (a kernel
// without pidfd_open, before Linux 5.3); the caller then blocks in the
// library instead.
func awaitExit(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A child whose pipes just reached EOF is usually finishing its exit:
	// yielding the CPU once or twice lets it become waitable, cheaper than
	// a pidfd in the poller.
	for try := 0; ; try++ {
		exited, err := exitedWithoutReaping(pPID, pid)
		if err != nil || exited {
			return err == nil
		}
		if try == exitYields {
			break
		}
		_, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), syscall.O_NONBLOCK, 0)
	if errno != 0 {
		return false
	}
	f := os.NewFile(fd, "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	failed := false
	err = rc.Read(func(fd uintptr) bool {
		exited, err := exitedWithoutReaping(pPIDFD, int(fd))
		failed = err != nil
		return exited || failed
	})
	return err == nil && !failed
}

// exitedWithoutReaping asks waitid whether the process has exited, leaving
// it a zombie (WNOWAIT) and without blocking (WNOHANG).
func exitedWithoutReaping(idType, id int) (bool, error) {
	for {
		var info [128]byte // siginfo_t; the pid field stays 0 while it runs
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, uintptr(idType), uintptr(id),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOHANG|wNoWait, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return false, errno
		}
		// si_pid follows si_signo, si_errno, si_code and the union's padding.
		return *(*int32)(unsafe.Pointer(&info[16])) != 0, nil
	}
}
