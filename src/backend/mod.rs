//! One module per runner kind. Each turns its options into a spawn: the
//! argv and profile rendering are pure functions with golden tests, and the
//! spawn wraps them with the guard that removes what it created.

use std::ffi::{OsStr, OsString};
use std::fmt;

use crate::error::Result;
use crate::process::{Process, SpawnGuard};
use crate::runner::{Command, Kind};
use crate::spawn::{find_program, merged_env, Program, Stdio};

pub(crate) mod docker;
pub(crate) mod exec;
pub(crate) mod firejail;
#[cfg(target_os = "linux")]
pub(crate) mod landrun;
pub(crate) mod profile_file;
pub(crate) mod sandbox_exec;

/// A runner kind with its options: what `Runner` delegates to.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Checks that what this runner needs exists on this machine.
    fn check_requirements(&self) -> Result<()>;

    /// The shell `Run` uses when the caller gives none.
    fn default_shell(&self) -> OsString;

    /// Starts `command` under this runner.
    fn spawn(&self, command: &Command) -> Result<Process>;
}

/// Builds the backend of `kind` from its JSON options.
pub(crate) fn build(kind: Kind, options_json: Option<&str>) -> Result<Box<dyn Backend>> {
    Ok(match kind {
        Kind::Exec => Box::new(exec::Exec::new(options_json)?),
        Kind::Docker => Box::new(docker::Docker::new(options_json)?),
        Kind::Firejail => Box::new(firejail::Firejail::new(options_json)?),
        Kind::SandboxExec => Box::new(sandbox_exec::SandboxExec::new(options_json)?),
        #[cfg(target_os = "linux")]
        Kind::Landrun => Box::new(landrun::Landrun::new(options_json)?),
        #[cfg(not(target_os = "linux"))]
        Kind::Landrun => {
            return Err(crate::error::Error::requirements(
                "the landrun runner needs Linux (the Landlock LSM, kernel 5.13 or later)",
            ))
        }
    })
}

/// The shell for host runners: the `shell` option, else `$SHELL`, else `/bin/sh`.
pub(crate) fn host_shell(option: Option<&str>) -> OsString {
    match option {
        Some(s) if !s.is_empty() => s.into(),
        _ => match std::env::var_os("SHELL") {
            Some(s) if !s.is_empty() => s,
            _ => "/bin/sh".into(),
        },
    }
}

/// Starts `program args...` on the host with the caller's environment plus
/// `env`, the program looked up in the resulting PATH.
pub(crate) fn spawn_on_host<I, S>(
    program: &OsStr,
    args: I,
    env: &[(OsString, OsString)],
    stdio: [Stdio; 3],
    guard: Box<dyn SpawnGuard>,
) -> Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let p = host_program(program, args, env, stdio)?;
    Ok(Process::new(p.spawn()?, guard))
}

/// The [`Program`] for `program args...` with the caller's environment plus
/// `env`, the program looked up in the resulting PATH.
pub(crate) fn host_program<I, S>(
    program: &OsStr,
    args: I,
    env: &[(OsString, OsString)],
    stdio: [Stdio; 3],
) -> Result<Program>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let vars = merged_env(env);
    let path = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let resolved = find_program(program, path)?;
    let mut p = Program::new(&resolved, program)?;
    p.args(args)?.env(&vars)?.stdio(stdio);
    Ok(p)
}
