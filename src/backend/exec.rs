//! The `exec` runner: direct execution on the host, no isolation.

use std::ffi::OsString;

use crate::attrs::program_in;
use crate::backend::{host_program, host_shell, Backend};
use crate::error::Result;
use crate::options::Options;
use crate::process::{PlainGuard, Process};
use crate::runner::Command;

/// Option keys of the `exec` runner.
pub(crate) const KEYS: &[&str] = &["shell"];

#[derive(Debug)]
pub(crate) struct Exec {
    shell: Option<String>,
}

impl Exec {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        let mut o = Options::parse("exec", options_json, KEYS)?;
        Ok(Exec {
            shell: o.string("shell")?,
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
        let cwd = command.attrs.host_cwd()?;
        let program = program_in(&command.program, cwd.as_deref());
        let mut p = host_program(&program, &command.args, &command.env, command.stdio)?;
        p.cwd(cwd.as_deref())?;
        Ok(Process::new(p.spawn()?, Box::new(PlainGuard)))
    }
}
