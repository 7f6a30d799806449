//! Run a command in a restricted environment and get its stdin, stdout and
//! stderr as raw pipe fds, plus a handle whose wait reaps the process and
//! removes every profile file and container the spawn created.
//!
//! Runners: `exec` (no isolation), `firejail`, `sandbox-exec` (macOS),
//! `docker` (docker or podman) and `landrun` (Linux Landlock), with the
//! option keys of go-restricted-runner.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use restricted_runner::{Command, Runner};
//!
//! let runner = Runner::new("exec", None)?;
//! let mut p = runner.spawn(&Command::new("cat"))?;
//! let mut stdin = std::fs::File::from(p.take_stdin().unwrap());
//! let mut stdout = std::fs::File::from(p.take_stdout().unwrap());
//! stdin.write_all(b"hello\n").unwrap();
//! drop(stdin);
//! let mut s = String::new();
//! stdout.read_to_string(&mut s).unwrap();
//! assert_eq!(s, "hello\n");
//! assert!(p.wait()?.success());
//! # Ok::<(), restricted_runner::Error>(())
//! ```
//!
//! The C ABI over this crate lives in [`ffi`]; its header is
//! `include/restricted_runner.h`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod attrs;
mod backend;
#[cfg(target_os = "linux")]
mod caps;
#[cfg(target_os = "linux")]
mod cgroup;
mod child;
pub mod conformance;
mod enforcement;
mod env;
mod error;
pub mod explain;
pub mod ffi;
#[cfg(target_os = "linux")]
mod helper;
mod options;
mod output;
mod owner;
mod process;
mod record;
mod runner;
mod spawn;
mod template;
#[cfg(target_os = "linux")]
mod vfork;

/// Reclaims everything recorded by spawns of callers that are dead (they
/// crashed, were killed, or exited without waiting, and their watchdog is
/// gone too): kills their leftover processes, removes their containers,
/// profile files and cgroups. Never touches a live process's spawns; safe to
/// run from several processes at once. Returns how many spawns it
/// reclaimed. Each process's watchdog does the same in the background when
/// its first runner is built.
pub fn gc() -> Result<u32> {
    record::gc()
}

/// Housekeeping for the `docker` runner's containers.
pub mod docker {
    pub use crate::backend::docker::remove_orphans;
}

pub use attrs::SpawnAttrs;
pub use child::{ExitStatus, Usage};
pub use enforcement::{Enforcement, LAYERS};
pub use error::{Error, ErrorKind, Result};
pub use explain::Explanation;
pub use output::Output;
pub use process::{EndReason, Process, WaitResult};
pub use runner::{Command, Kind, Runner};
pub use spawn::Stdio;
pub use template::Params;
