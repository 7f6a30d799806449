//! One module per runner kind. Each turns its options into a spawn: the
//! argv and profile rendering are pure functions with golden tests, and the
//! spawn wraps them with the guard that removes what it created.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;

use crate::enforcement::Enforcement;
use crate::env::EnvPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::explain::Explanation;
use crate::process::Process;
use crate::runner::{Command, Kind};
use crate::spawn::{find_program, Program, Stdio};

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

    /// What [`spawn`](Backend::spawn) would do with `command`, rendered by
    /// the same code, with nothing started nor written.
    fn explain(&self, command: &Command) -> Result<Explanation>;

    /// Which of the caller's variables the command gets.
    fn env_policy(&self) -> &EnvPolicy;

    /// What a spawn of this runner enforces, for a spawn that did not
    /// attach its own report.
    fn report(&self, kind: Kind) -> Enforcement {
        self.env_policy()
            .report(Enforcement::new(kind.name()).layer(
                "containment",
                true,
                "process group",
                serde_json::json!({}),
            ))
    }
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

/// A command resolved on the host: its environment, and the program as
/// found in that environment's PATH.
pub(crate) struct HostCommand {
    /// The program's absolute path, so that a wrapper (firejail,
    /// sandbox-exec) runs exactly what was found here, and a name like
    /// `--version` stays a program.
    pub(crate) path: PathBuf,
    /// The environment the program gets.
    pub(crate) vars: Vec<(OsString, OsString)>,
}

/// `command`'s working folder on the host, and its program resolved there
/// (a relative program name is taken from that folder) with the
/// environment `env` gives it.
pub(crate) fn resolve_command(
    command: &Command,
    env: &EnvPolicy,
) -> Result<(Option<PathBuf>, HostCommand)> {
    let cwd = command.attrs.host_cwd()?;
    let name = crate::attrs::program_in(&command.program, cwd.as_deref());
    let host = resolve_on_host(&name, env, &command.env)?;
    Ok((cwd, host))
}

/// Looks `program` up in the PATH of the environment `env` gives plus
/// `overrides` (the default search path when that has no PATH).
pub(crate) fn resolve_on_host(
    program: &OsStr,
    env: &EnvPolicy,
    overrides: &[(OsString, OsString)],
) -> Result<HostCommand> {
    let vars = env.environment(overrides);
    let search = vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let path = locate(program, search)?;
    Ok(HostCommand { path, vars })
}

/// `program` found in `search` (a PATH), as an absolute path.
fn locate(program: &OsStr, search: Option<&OsStr>) -> Result<PathBuf> {
    let path = find_program(program, search)?;
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::from_io(ErrorKind::Spawn, "finding the current folder", &e))?;
    Ok(cwd.join(path))
}

/// The [`Program`] for `program args...` with the environment `env` gives
/// plus `overrides`, the program looked up in the resulting PATH.
pub(crate) fn host_program<I, S>(
    program: &OsStr,
    args: I,
    env: &EnvPolicy,
    overrides: &[(OsString, OsString)],
    stdio: [Stdio; 3],
) -> Result<Program>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if env.inherits_all() && overrides.is_empty() {
        // The caller's environment as it is: no copy of it is made.
        let path = locate(program, std::env::var_os("PATH").as_deref())?;
        let mut p = Program::new(&path, program)?;
        p.args(args)?.inherit_env().stdio(stdio);
        return Ok(p);
    }
    let host = resolve_on_host(program, env, overrides)?;
    let mut p = Program::new(&host.path, program)?;
    p.args(args)?.env(&host.vars)?.stdio(stdio);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_program_paths_become_absolute() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("--version");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let relative = tool.strip_prefix(std::env::current_dir().unwrap()).unwrap();
        let env = EnvPolicy::parse(&mut crate::options::Options::parse("exec", None, &[]).unwrap())
            .unwrap();
        let host = resolve_on_host(relative.as_os_str(), &env, &[]).unwrap();
        assert!(host.path.is_absolute());
        assert!(host.path.ends_with("bin/--version"));
    }
}
