//! The `exec` runner: direct execution on the host, no isolation.

use std::ffi::OsString;

use crate::backend::{host_shell, spawn_on_host, Backend};
use crate::env::EnvPolicy;
use crate::error::Result;
use crate::options::Options;
use crate::process::{PlainGuard, Process};
use crate::runner::Command;

/// Option keys of the `exec` runner.
pub(crate) const KEYS: &[&str] = &["shell", "inherit_env", "pass_env"];

#[derive(Debug)]
pub(crate) struct Exec {
    shell: Option<String>,
    env: EnvPolicy,
}

impl Exec {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        let mut o = Options::parse("exec", options_json, KEYS)?;
        Ok(Exec {
            shell: o.string("shell")?,
            env: EnvPolicy::parse(&mut o)?,
        })
    }
}

impl Backend for Exec {
    fn check_requirements(&self) -> Result<()> {
        Ok(())
    }

    fn default_shell(&self) -> OsString {
        host_shell(self.shell.as_deref())
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        spawn_on_host(
            &command.program,
            &command.args,
            &self.env,
            &command.env,
            command.stdio,
            Box::new(PlainGuard),
        )
    }
}
