//! The runner: a backend built once from a kind and options, immutable and
//! shareable between threads; each spawn takes its own command and params.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::attrs::SpawnAttrs;
use crate::backend::{self, Backend};
use crate::error::{Error, ErrorKind, Result};
use crate::explain::Explanation;
use crate::output::{self, Output};
use crate::process::{Process, WaitResult};
use crate::spawn::{parse_env_entry, Stdio};
use crate::template::Params;

/// The kinds of runner, by the names go-restricted-runner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `exec`: direct execution, no isolation.
    Exec,
    /// `sandbox-exec`: macOS Seatbelt profiles.
    SandboxExec,
    /// `firejail`: Linux namespaces and seccomp through firejail.
    Firejail,
    /// `docker`: a container per spawn, through the docker or podman CLI.
    Docker,
    /// `landrun` (alias `landlock`): Linux Landlock applied in the child.
    Landrun,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Kind; 5] = [
        Kind::Exec,
        Kind::SandboxExec,
        Kind::Firejail,
        Kind::Docker,
        Kind::Landrun,
    ];

    /// The name used in options and the C ABI.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::SandboxExec => "sandbox-exec",
            Kind::Firejail => "firejail",
            Kind::Docker => "docker",
            Kind::Landrun => "landrun",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Kind> {
        if s == "landlock" {
            return Ok(Kind::Landrun);
        }
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            Error::new(
                ErrorKind::UnknownRunner,
                format!("{s:?} is not a runner kind (known: {}, and landlock as an alias of landrun)", known.join(", ")),
            )
        })
    }
}

/// What to run: a program, its arguments, extra environment, params for the
/// runner's `{{ .name }}` placeholders, where its stdio goes, and the
/// spawn's attributes (its working folder).
#[derive(Debug, Clone)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) params: Params,
    pub(crate) stdio: [Stdio; 3],
    pub(crate) attrs: SpawnAttrs,
}

impl Command {
    /// Runs `program` (looked up in PATH when it has no slash).
    pub fn new(program: impl Into<OsString>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            params: Params::new(),
            stdio: [Stdio::Pipe; 3],
            attrs: SpawnAttrs::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets one environment variable on top of those the runner passes on
    /// (the caller's, or what its `inherit_env` and `pass_env` allow; a later
    /// setting of the same key wins).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds `KEY=VALUE` entries, as the C ABI takes them.
    pub fn env_entries<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(
        mut self,
        entries: I,
    ) -> Result<Self> {
        for e in entries {
            self.env.push(parse_env_entry(e.as_ref())?);
        }
        Ok(self)
    }

    /// Sets the params used to fill the runner's placeholders for this spawn.
    pub fn params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// Sets what the child's stdin, stdout and stderr are connected to.
    pub fn stdio(mut self, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Self {
        self.stdio = [stdin, stdout, stderr];
        self
    }

    /// Sets the folder the command starts in (see [`SpawnAttrs::set_cwd`]).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.attrs.set_cwd(Some(dir));
        self
    }

    /// Sets every spawn attribute at once.
    pub fn attrs(mut self, attrs: SpawnAttrs) -> Self {
        self.attrs = attrs;
        self
    }

    /// The spawn attributes.
    pub fn attrs_ref(&self) -> &SpawnAttrs {
        &self.attrs
    }

    /// The program to run.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, without the program.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// The extra environment, in the order given.
    pub fn env_overrides(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// The params for this spawn.
    pub fn params_ref(&self) -> &Params {
        &self.params
    }

    /// Where the child's stdio goes.
    pub fn stdio_ref(&self) -> [Stdio; 3] {
        self.stdio
    }
}

/// A runner of one kind with its options, ready to spawn.
///
/// Immutable: it can be shared between threads (`Send + Sync`), and a spawn
/// never changes what it does. Its requirements (an OS, a program, a kernel
/// feature, an answering engine) are checked by [`Runner::new`], or, for a
/// runner from [`Runner::new_unchecked`], by [`Runner::check`] and at the
/// first spawn; once a check passed, spawns do not check again.
#[derive(Debug)]
pub struct Runner {
    kind: Kind,
    backend: Box<dyn Backend>,
    /// Set once a requirements check passed.
    checked: AtomicBool,
}

impl Runner {
    /// Builds a runner of `kind` (a name such as `"firejail"`) from its JSON
    /// options, and checks that what it needs is on this machine.
    pub fn new(kind: &str, options_json: Option<&str>) -> Result<Runner> {
        let runner = Runner::new_unchecked(kind, options_json)?;
        runner.check()?;
        Ok(runner)
    }

    /// Builds a runner of `kind` from its JSON options without checking its
    /// requirements. The options are read as strictly as by
    /// [`Runner::new`] (an unknown key or a wrong type is an error); what
    /// the runner needs on this machine is checked by [`Runner::check`] and
    /// by the first spawn, which fails with [`ErrorKind::Requirements`] while
    /// something is missing.
    pub fn new_unchecked(kind: &str, options_json: Option<&str>) -> Result<Runner> {
        let kind: Kind = kind.parse()?;
        let backend = backend::build(kind, options_json)?;
        // The record store and its watchdog, which also reclaims what dead
        // callers left: made now, so the first spawn does not pay for them.
        crate::record::ensure();
        Ok(Runner {
            kind,
            backend,
            checked: AtomicBool::new(false),
        })
    }

    /// Checks now that what the runner needs is on this machine (each call
    /// checks afresh); an error is [`ErrorKind::Requirements`] saying what
    /// is missing. Once a check passed, spawns no longer check.
    pub fn check(&self) -> Result<()> {
        self.backend.check_requirements()?;
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Checks that the options are valid and that what the runner needs is
    /// on this machine, without keeping a runner.
    pub fn check_requirements(kind: &str, options_json: Option<&str>) -> Result<()> {
        Runner::new(kind, options_json).map(|_| ())
    }

    /// The kind of this runner.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Starts `command` under this runner; a runner whose requirements
    /// were not checked yet checks them first.
    pub fn spawn(&self, command: &Command) -> Result<Process> {
        if !self.checked.load(Ordering::Acquire) {
            self.check()?;
        }
        let process = self
            .backend
            .spawn(command)?
            .with_usage(command.attrs.measures_usage());
        if process.has_enforcement() {
            return Ok(process);
        }
        let report = self.backend.report(self.kind);
        Ok(process.with_enforcement(report))
    }

    /// What [`spawn`](Runner::spawn) would do with `command`, without
    /// starting anything or writing any file: the argv that would be
    /// executed, the rendered profile, the Landlock rules, namespaces,
    /// mounts, seccomp baseline, limits and the environment. Rendered by the
    /// code the spawn uses, so a bad param or path is the same error here.
    /// The runner's requirements are not checked (a missing wrapper program
    /// is shown by name); a `docker` runner with engine `auto` asks the
    /// engines which one answers, as its spawn would.
    pub fn explain(&self, command: &Command) -> Result<Explanation> {
        self.backend.explain(command)
    }

    /// The shell `run` uses when none is given: the runner's `shell` option,
    /// else the backend's default (`$SHELL`, else `/bin/sh`, for host runners).
    pub fn default_shell(&self) -> OsString {
        self.backend.default_shell()
    }

    /// Runs `shell -c command` to completion and captures its output
    /// (the one-shot `Run` of go-restricted-runner). An empty or absent
    /// `shell` means [`default_shell`](Runner::default_shell). On timeout the
    /// whole process tree is killed and the error is [`ErrorKind::Timeout`].
    pub fn run(
        &self,
        shell: Option<&OsStr>,
        command: &OsStr,
        env: &[(OsString, OsString)],
        params: &Params,
        timeout: Option<Duration>,
    ) -> Result<Output> {
        self.run_cancelable(shell, command, env, params, timeout, None)
    }

    /// Like [`run`](Runner::run), and also stops early when `cancel` becomes
    /// readable or hung up (another thread wrote to or closed the other end
    /// of a pipe): the whole process tree is then killed, reaped and cleaned
    /// up, and the error is [`ErrorKind::Canceled`].
    pub fn run_cancelable(
        &self,
        shell: Option<&OsStr>,
        command: &OsStr,
        env: &[(OsString, OsString)],
        params: &Params,
        timeout: Option<Duration>,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<Output> {
        let process = self.spawn(&self.run_command(shell, command, env, params))?;
        output::collect_cancelable(process, timeout, cancel)
    }

    /// Like [`run_cancelable`](Runner::run_cancelable), and says why the
    /// command ended and what it cost. A timeout or a cancellation is an
    /// outcome here, not an error: the tree is killed, what it wrote until
    /// then is returned, and the result's reason says which.
    pub fn run_detailed(
        &self,
        shell: Option<&OsStr>,
        command: &OsStr,
        env: &[(OsString, OsString)],
        params: &Params,
        timeout: Option<Duration>,
        cancel: Option<BorrowedFd<'_>>,
    ) -> Result<(Output, WaitResult)> {
        let process = self.spawn(&self.run_command(shell, command, env, params))?;
        output::collect_detailed(process, timeout, cancel)
    }

    /// `shell -c command`, stdin /dev/null, both streams piped.
    fn run_command(
        &self,
        shell: Option<&OsStr>,
        command: &OsStr,
        env: &[(OsString, OsString)],
        params: &Params,
    ) -> Command {
        let shell = match shell {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => self.default_shell(),
        };
        let mut cmd = Command::new(shell)
            .arg("-c")
            .arg(command)
            .params(params.clone())
            .stdio(Stdio::Null, Stdio::Pipe, Stdio::Pipe);
        cmd.env = env.to_vec();
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name_and_alias() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>().unwrap(), k);
        }
        assert_eq!("landlock".parse::<Kind>().unwrap(), Kind::Landrun);
        let e = "chroot".parse::<Kind>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownRunner);
        assert!(
            e.message()
                .contains("exec, sandbox-exec, firejail, docker, landrun"),
            "{e}"
        );
    }

    #[test]
    fn runner_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Runner>();
        check::<Process>();
    }
}
