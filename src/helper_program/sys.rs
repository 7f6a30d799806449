//! Raw Linux system calls for the helper, which links no C library. Each
//! wrapper returns the kernel's result: a value, or `-errno`.

use core::arch::asm;

#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGRETURN: usize = 15;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const PRCTL: usize = 157;
    pub const EXIT_GROUP: usize = 231;
    pub const PPOLL: usize = 271;
    pub const SIGNALFD4: usize = 289;
    pub const LSEEK: usize = 8;
    pub const PREAD64: usize = 17;
    pub const GETPID: usize = 39;
    pub const CLONE: usize = 56;
    pub const EXECVE: usize = 59;
    pub const SETSID: usize = 112;
    pub const GETDENTS64: usize = 217;
    pub const CLOCK_NANOSLEEP: usize = 230;
    pub const OPENAT: usize = 257;
    pub const UNLINKAT: usize = 263;
    pub const RENAMEAT2: usize = 316;
    pub const DUP3: usize = 292;
    pub const CAPGET: usize = 125;
    pub const CAPSET: usize = 126;
}

#[cfg(target_arch = "aarch64")]
pub mod nr {
    pub const CLOSE: usize = 57;
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const PPOLL: usize = 73;
    pub const SIGNALFD4: usize = 74;
    pub const EXIT_GROUP: usize = 94;
    pub const KILL: usize = 129;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const PRCTL: usize = 167;
    pub const WAIT4: usize = 260;
    pub const UNLINKAT: usize = 35;
    pub const OPENAT: usize = 56;
    pub const GETDENTS64: usize = 61;
    pub const LSEEK: usize = 62;
    pub const PREAD64: usize = 67;
    pub const CLOCK_NANOSLEEP: usize = 115;
    pub const SETSID: usize = 157;
    pub const GETPID: usize = 172;
    pub const CLONE: usize = 220;
    pub const EXECVE: usize = 221;
    pub const RENAMEAT2: usize = 276;
    pub const DUP3: usize = 24;
    pub const CAPGET: usize = 90;
    pub const CAPSET: usize = 91;
}

/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; the kernel clobbers only
    // rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "aarch64")]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments.
    unsafe {
        asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

macro_rules! sys {
    ($n:expr $(, $a:expr)* $(,)?) => {{
        let mut args = [0usize; 6];
        let given = [$($a as usize),*];
        let mut i = 0;
        while i < given.len() {
            args[i] = given[i];
            i += 1;
        }
        // SAFETY: each call site passes arguments valid for its system call.
        unsafe { $crate::sys::syscall6($n, args) }
    }};
}
pub(crate) use sys;

pub fn exit(code: i32) -> ! {
    loop {
        sys!(nr::EXIT_GROUP, code);
    }
}

pub fn write_all(fd: i32, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        let n = sys!(nr::WRITE, fd, buf.as_ptr(), buf.len());
        if n == -EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

pub const EINTR: isize = 4;
pub const ECHILD: isize = 10;

/// The kernel's `sigset_t`: 64 signals.
pub type SigSet = u64;

pub const fn sigbit(sig: i32) -> SigSet {
    1 << (sig - 1)
}

pub const SIG_SETMASK: usize = 2;
pub const SIGKILL: i32 = 9;
pub const SIGSTOP: i32 = 19;
pub const SIGCHLD: i32 = 17;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const WNOHANG: usize = 1;
pub const POLLIN: i16 = 1;
pub const SFD_CLOEXEC: usize = 0o2_000_000;
pub const PR_SET_DUMPABLE: usize = 4;
pub const PR_SET_PDEATHSIG: usize = 1;
pub const PR_CAPBSET_DROP: usize = 24;
pub const PR_SET_SECUREBITS: usize = 28;
pub const PR_CAP_AMBIENT: usize = 47;
pub const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
pub const EINVAL: isize = 22;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
pub const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
pub struct CapHeader {
    pub version: u32,
    pub pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}
pub const SI_QUEUE: i32 = -1;

#[repr(C)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: SigSet,
}

#[repr(C)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// `struct signalfd_siginfo`, 128 bytes; only the leading fields are read.
#[repr(C)]
pub struct SignalfdSiginfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub pid: u32,
    pub uid: u32,
    pub fd: i32,
    pub tid: u32,
    pub band: u32,
    pub overrun: u32,
    pub trapno: u32,
    pub status: i32,
    pub int: i32,
    pub rest: [u8; 80],
}

pub const AT_FDCWD: isize = -100;
pub const AT_REMOVEDIR: usize = 0x200;
pub const O_RDONLY: usize = 0;
pub const O_WRONLY: usize = 1;
pub const O_RDWR: usize = 2;
pub const O_DIRECTORY: usize = 0o200_000;
pub const O_CLOEXEC: usize = 0o2_000_000;
pub const RENAME_NOREPLACE: usize = 1;
pub const SEEK_END: usize = 2;
pub const ENOENT: isize = 2;
pub const EBUSY: isize = 16;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;
pub const CLOCK_MONOTONIC: usize = 1;

#[repr(C)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

/// Sleeps `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    let t = Timespec {
        sec: (ms / 1000) as i64,
        nsec: ((ms % 1000) * 1_000_000) as i64,
    };
    sys!(nr::CLOCK_NANOSLEEP, CLOCK_MONOTONIC, 0, &t as *const Timespec, 0);
}

/// The monotonic clock in milliseconds.
pub fn now_ms() -> u64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    // clock_gettime has a vDSO, but the system call works everywhere.
    #[cfg(target_arch = "x86_64")]
    const CLOCK_GETTIME: usize = 228;
    #[cfg(target_arch = "aarch64")]
    const CLOCK_GETTIME: usize = 113;
    sys!(CLOCK_GETTIME, CLOCK_MONOTONIC, &mut t as *mut Timespec);
    t.sec as u64 * 1000 + t.nsec as u64 / 1_000_000
}
