//! The library's helper program, embedded in the library and run from a
//! sealed memfd: it links no C library, so it starts in microseconds and
//! needs nothing on the machine.
//!
//! - `init PID`: PID 1 of a landrun sandbox (see `init.rs`);
//! - `watch DIR FILE`: the caller's watchdog, and `reclaim DIR FILE`: what
//!   a dead caller's spawns left behind, ended and removed (see
//!   `reclaim.rs`).
//!
//! Built by `build.rs` with rustc alone (no cargo, no crates): `#![no_std]`,
//! its own `_start`, raw system calls.

#![no_std]
#![no_main]
// Constants and wrappers are shared by the modes and the architectures.
#![allow(dead_code)]

mod init;
mod reclaim;
mod sys;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    sys::exit(127)
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call rr_helper_main",
    "ud2",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x0, sp",
    "and sp, x0, #-16",
    "bl rr_helper_main",
    "brk #0",
);

/// The NUL-terminated string at `p`, as bytes.
///
/// # Safety
/// `p` points to a NUL-terminated string that lives for the program's run.
unsafe fn c_str(p: *const u8) -> &'static [u8] {
    // SAFETY: the kernel put a NUL-terminated string there.
    unsafe { core::slice::from_raw_parts(p, strlen(p)) }
}

fn parse_int(s: &[u8]) -> Option<i32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut v: i32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i32::from(b - b'0');
    }
    Some(v)
}

/// # Safety
/// Called once by `_start` with the initial stack pointer.
#[no_mangle]
unsafe extern "C" fn rr_helper_main(sp: *const usize) -> ! {
    // SAFETY: the System V ABI's initial stack: argc, then argv pointers.
    let (argc, argv) = unsafe { (*sp, sp.add(1) as *const *const u8) };
    // SAFETY: argv holds argc valid pointers.
    let arg = |i: usize| unsafe { c_str(*argv.add(i)) };
    // SAFETY: the environment's pointers follow argv's terminating NULL.
    let environ = unsafe {
        let envp = argv.add(argc + 1);
        let mut n = 0;
        while !(*envp.add(n)).is_null() {
            n += 1;
        }
        core::slice::from_raw_parts(envp, n + 1)
    };
    match (argc, arg(1)) {
        (3, b"init") => {
            if let Some(pid) = parse_int(arg(2)) {
                init::run(pid);
            }
        }
        (4, b"watch") => reclaim::watch(arg(2), arg(3), environ),
        (4, b"reclaim") => reclaim::reclaim(arg(2), arg(3), environ),
        _ => {}
    }
    sys::write_all(2, b"restricted-runner-helper: bad arguments\n");
    sys::exit(2)
}

// The compiler may call these for copies and zeroing; without a C library
// they must come from here. Volatile accesses keep them from being turned
// back into calls to themselves.

#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller passes valid, non-overlapping ranges of n bytes.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        i += 1;
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) < (src as usize) {
        // SAFETY: forwards the caller's ranges; front-to-back is safe here.
        return unsafe { memcpy(dst, src, n) };
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        // SAFETY: the caller passes valid ranges of n bytes.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller passes a valid range of n bytes.
        unsafe { core::ptr::write_volatile(dst.add(i), c as u8) };
        i += 1;
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller passes valid ranges of n bytes.
        let (x, y) = unsafe { (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i))) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

#[no_mangle]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller passes a NUL-terminated string.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

/// The prebuilt `core` carries unwind tables naming this symbol; with
/// `panic=abort` nothing ever calls it.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}
