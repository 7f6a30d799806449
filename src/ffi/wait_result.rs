//! How a run ended and what it cost: a struct that carries its size, so it
//! can grow without breaking programs built against an older header.

use std::ffi::{c_char, c_int};

use super::run::RunArgs;
use super::{
    guard, rr_error, rr_exit_status, rr_output, rr_process, rr_runner, rr_status, timeout_from_ms,
};
use crate::error::{Error, Result};
use crate::process::{EndReason, WaitResult};

/// Why a process ended (`rr_wait_result.reason`). Values are stable and
/// only ever appended; treat an unknown one as `RR_END_EXITED` or
/// `RR_END_SIGNALED` by the status.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rr_end_reason {
    /// It exited by itself, whatever its code.
    RR_END_EXITED = 0,
    /// A signal ended it that did not come from its handle.
    RR_END_SIGNALED = 1,
    /// Its handle killed it (`rr_process_kill`).
    RR_END_KILLED = 2,
    /// Its deadline passed and its tree was killed.
    RR_END_TIMED_OUT = 3,
    /// The caller cancelled the run and its tree was killed.
    RR_END_CANCELED = 4,
    /// The kernel, or the container engine, killed it for memory.
    RR_END_OUT_OF_MEMORY = 5,
    /// It used up its CPU time limit (`max_cpu_seconds`).
    RR_END_CPU_LIMIT = 6,
    /// It wrote past its file size limit (SIGXFSZ).
    RR_END_FILE_SIZE_LIMIT = 7,
}

/// `rr_wait_result.measured`: the CPU times were measured.
pub const RR_MEASURED_CPU: u32 = 1;
/// `rr_wait_result.measured`: the peak resident memory was measured.
pub const RR_MEASURED_PEAK_RSS: u32 = 2;

/// How a process ended and what it cost.
///
/// Set `size` to `sizeof(rr_wait_result)` before passing it: the library
/// fills only the fields that fit in that size, so a program built against
/// an older header keeps working when fields are appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rr_wait_result {
    /// `sizeof(rr_wait_result)` as the caller knows it; left as given.
    pub size: usize,
    /// How it ended (for wrapper runners, the wrapper's status: 128+N for a
    /// signal).
    pub status: rr_exit_status,
    /// Why it ended: an `rr_end_reason` value.
    pub reason: u32,
    /// Which of the measurements below were made: `RR_MEASURED_*` bits.
    pub measured: u32,
    /// Microseconds from the spawn to the reap.
    pub wall_time_us: u64,
    /// CPU time in user mode, in microseconds, of the processes the command
    /// waited for (or of its whole cgroup, where it has one).
    pub user_time_us: u64,
    /// CPU time in the kernel, in microseconds, likewise.
    pub system_time_us: u64,
    /// The largest resident set of any one of those processes, in bytes, as
    /// the kernel counts it (`ru_maxrss`). A process started vfork-style
    /// (`exec`, `landrun`) shares the caller's memory until it execs, and
    /// the kernel counts that too: for a command smaller than its caller,
    /// this is the caller's resident set at the spawn, an upper bound.
    pub peak_rss_bytes: u64,
}

impl From<EndReason> for rr_end_reason {
    fn from(r: EndReason) -> Self {
        match r {
            EndReason::Exited => rr_end_reason::RR_END_EXITED,
            EndReason::Signaled => rr_end_reason::RR_END_SIGNALED,
            EndReason::Killed => rr_end_reason::RR_END_KILLED,
            EndReason::TimedOut => rr_end_reason::RR_END_TIMED_OUT,
            EndReason::Canceled => rr_end_reason::RR_END_CANCELED,
            EndReason::OutOfMemory => rr_end_reason::RR_END_OUT_OF_MEMORY,
            EndReason::CpuLimit => rr_end_reason::RR_END_CPU_LIMIT,
            EndReason::FileSizeLimit => rr_end_reason::RR_END_FILE_SIZE_LIMIT,
        }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Checks that `out` can hold at least the status.
///
/// # Safety
/// `out` is NULL or writable for the size it says.
unsafe fn check_out(out: *mut rr_wait_result) -> Result<()> {
    // SAFETY: per the contract.
    let Some(o) = (unsafe { out.as_ref() }) else {
        return Err(Error::invalid_argument("out is NULL"));
    };
    let least = std::mem::offset_of!(rr_wait_result, reason);
    if o.size < least {
        return Err(Error::invalid_argument(format!(
            "out->size is {}: set it to sizeof(rr_wait_result)",
            o.size
        )));
    }
    Ok(())
}

/// Writes `r` into `out`, as far as `out->size` reaches.
///
/// # Safety
/// As [`check_out`], which must have passed.
unsafe fn fill(out: *mut rr_wait_result, r: &WaitResult) {
    let (cpu, rss) = match r.usage {
        Some(u) => (Some((u.user, u.system)), Some(u.peak_rss_bytes)),
        None => (None, None),
    };
    let full = rr_wait_result {
        size: 0,
        status: r.status.into(),
        reason: rr_end_reason::from(r.reason) as u32,
        measured: if cpu.is_some() { RR_MEASURED_CPU } else { 0 }
            | if rss.is_some() {
                RR_MEASURED_PEAK_RSS
            } else {
                0
            },
        wall_time_us: micros(r.wall_time),
        user_time_us: cpu.map_or(0, |c| micros(c.0)),
        system_time_us: cpu.map_or(0, |c| micros(c.1)),
        peak_rss_bytes: rss.unwrap_or(0),
    };
    // SAFETY: the caller's struct is writable for its own size; the copy
    // starts after `size`, which stays the caller's.
    unsafe {
        let their_size = (*out).size.min(std::mem::size_of::<rr_wait_result>());
        let skip = std::mem::size_of::<usize>();
        std::ptr::copy_nonoverlapping(
            (&full as *const rr_wait_result as *const u8).add(skip),
            (out as *mut u8).add(skip),
            their_size - skip,
        );
    }
}

/// Consumes `process` as `rr_wait` does, and fills `*out` (whose `size`
/// the caller set) with how it ended and what it cost: the status, the
/// reason (`rr_end_reason`), wall time, CPU times and peak memory where the
/// system measured them (see `measured`). `*out` is written only on
/// success; the handle is consumed on every path.
///
/// # Safety
/// `process` is NULL or a live handle, not used after this call; `out` is
/// NULL or writable for `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn rr_wait_info(
    process: *mut rr_process,
    out: *mut rr_wait_result,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        if process.is_null() {
            return Err(Error::invalid_argument("process is NULL"));
        }
        // SAFETY: ownership returns to Rust exactly once, per the contract.
        let process = unsafe { Box::from_raw(process) };
        // SAFETY: per the contract.
        let checked = unsafe { check_out(out) };
        let r = process.inner.wait_result()?;
        checked?;
        // SAFETY: checked above.
        unsafe { fill(out, &r) };
        Ok(())
    })
}

/// `rr_run_cancelable` that also says how the command ended and what it
/// cost, in `*info` (whose `size` the caller set). Unlike `rr_run`, a
/// timeout or a cancellation is an outcome here, not an error: the tree is
/// killed, the call returns `RR_OK`, `*out` holds what the command wrote
/// until then and `info->reason` is `RR_END_TIMED_OUT` or
/// `RR_END_CANCELED`. `cancel_fd` may be negative (no cancellation).
/// Release `*out` with `rr_output_free`.
///
/// # Safety
/// As `rr_run_cancelable`; `info` is writable for `info->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn rr_run_info(
    runner: *const rr_runner,
    shell: *const c_char,
    command: *const c_char,
    env: *const *const c_char,
    params_json: *const c_char,
    timeout_ms: i64,
    cancel_fd: c_int,
    out: *mut rr_output,
    info: *mut rr_wait_result,
    err: *mut *mut rr_error,
) -> rr_status {
    guard(err, || {
        // SAFETY: pointer validity is this function's contract.
        let a = unsafe { RunArgs::parse(runner, shell, command, env, params_json, cancel_fd) }?;
        if out.is_null() {
            return Err(Error::invalid_argument("out is NULL"));
        }
        // SAFETY: as above.
        unsafe { check_out(info) }?;
        let (output, result) = a.runner.run_detailed(
            a.shell,
            a.command,
            &a.env,
            &a.params,
            timeout_from_ms(timeout_ms),
            a.cancel,
        )?;
        // SAFETY: checked non-NULL above; `info` checked.
        unsafe {
            *out = rr_output::from(output);
            fill(info, &result);
        }
        Ok(())
    })
}
