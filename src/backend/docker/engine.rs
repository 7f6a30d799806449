//! Talking to the container engine through its CLI: finding it, probing it,
//! signalling and removing containers, listing the ones this library made.
//! Every call is bounded by a timeout, so a hung engine cannot hang a wait.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use super::config::{Engine, OWNER_LABEL};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{self, Output};
use crate::process::{PlainGuard, Process};
use crate::spawn::{find_program, Program, Stdio};

/// Upper bound for a probe, a kill or a listing.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for removing containers (a busy engine can be slow at it).
const REMOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// An engine CLI found in PATH. It runs with the caller's environment, so
/// DOCKER_HOST, DOCKER_CONTEXT, CONTAINER_HOST and the like apply as usual.
#[derive(Debug, Clone)]
pub(crate) struct Cli {
    pub(crate) engine: Engine,
    pub(crate) path: PathBuf,
}

/// What a probe learnt: the engine answered, and whether the image is local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) image_present: bool,
}

fn first_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    if lines.is_empty() {
        "no message".into()
    } else {
        lines.join(" / ")
    }
}

impl Cli {
    /// Finds the CLI of `engine` in the caller's PATH.
    pub(crate) fn find(engine: Engine) -> Result<Cli> {
        let path = std::env::var_os("PATH");
        match find_program(OsStr::new(engine.cli()), path.as_deref()) {
            Ok(path) => Ok(Cli { engine, path }),
            Err(e) if e.kind() == ErrorKind::CommandNotFound => Err(Error::requirements(format!(
                "the {} CLI is not installed: {}",
                engine.cli(),
                e.message()
            ))),
            Err(e) => Err(Error::requirements(format!(
                "the {} CLI cannot be used: {}",
                engine.cli(),
                e.message()
            ))),
        }
    }

    /// A program running this CLI with `args`, with the caller's environment.
    pub(crate) fn program<I, S>(&self, args: I) -> Result<Program>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.program_with_env(args, &std::env::vars_os().collect::<Vec<_>>())
    }

    /// A program running this CLI with `args` and the environment `vars`
    /// (the caller's, as read once by the spawn that names variables of it).
    pub(crate) fn program_with_env<I, S>(
        &self,
        args: I,
        vars: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> Result<Program>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut p = Program::new(&self.path, OsStr::new(self.engine.cli()))?;
        p.args(args)?.env(vars)?;
        Ok(p)
    }

    /// Runs the CLI to completion; `what` names the call in errors.
    fn call(&self, args: &[&str], timeout: Duration, what: &str) -> Result<Output> {
        let mut p = self.program(args)?;
        p.stdio([Stdio::Null, Stdio::Pipe, Stdio::Pipe]);
        let spawned = p.spawn().map_err(|e| {
            Error::new(
                ErrorKind::Spawn,
                format!("{what}: starting {}: {}", self.engine.cli(), e.message()),
            )
        })?;
        output::collect(Process::new(spawned, Box::new(PlainGuard)), Some(timeout)).map_err(|e| {
            let kind = if e.kind() == ErrorKind::Timeout {
                ErrorKind::Timeout
            } else {
                ErrorKind::Io
            };
            Error::new(kind, format!("{what}: {}", e.message()))
        })
    }

    /// Checks that the engine answers, and whether `image` is present.
    pub(crate) fn probe(&self, image: Option<&str>) -> Result<Probe> {
        let mut args = vec!["images", "--quiet"];
        args.extend(image);
        let cmd = format!("`{} {}`", self.engine.cli(), args.join(" "));
        let out = self.call(&args, CALL_TIMEOUT, &cmd).map_err(|e| {
            Error::requirements(format!(
                "the {} engine does not answer: {}",
                self.engine.cli(),
                e.message()
            ))
        })?;
        if !out.status.success() {
            return Err(Error::requirements(format!(
                "the {} engine does not answer {cmd} ({}): {}",
                self.engine.cli(),
                out.status,
                first_lines(&out.stderr)
            )));
        }
        let mut image_present = out.stdout.iter().any(|b| !b.is_ascii_whitespace());
        if let (false, Some(image)) = (image_present, image) {
            // The listing filters by reference and has been seen to miss an
            // image while another client tags or untags at the same moment;
            // a direct look-up settles it.
            let what = format!("`{} image inspect {image}`", self.engine.cli());
            let inspect = self.call(
                &["image", "inspect", "--format", "{{.Id}}", image],
                CALL_TIMEOUT,
                &what,
            )?;
            image_present = inspect.status.success();
        }
        Ok(Probe { image_present })
    }

    /// `rm` and its flags: forced removal without a graceful-stop wait.
    fn remove_flags(&self) -> Vec<&'static str> {
        match self.engine {
            // `-t 0`: podman would first wait 10 s for SIGTERM to stop the
            // container's PID 1.
            Engine::Podman => vec!["rm", "--force", "--ignore", "--time=0"],
            // docker's forced removal kills at once and ignores missing
            // containers.
            Engine::Docker => vec!["rm", "--force"],
        }
    }

    /// The arguments (after the CLI) that remove container `name`.
    pub(crate) fn remove_argv(&self, name: &str) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> =
            self.remove_flags().into_iter().map(Into::into).collect();
        v.push(name.into());
        v
    }

    /// Whether the engine killed container `name` for memory (its
    /// `State.OOMKilled`); false when it cannot tell.
    pub(crate) fn oom_killed(&self, name: &str) -> bool {
        let what = format!("{} inspect {name}", self.engine.cli());
        self.call(
            &["inspect", "--format", "{{.State.OOMKilled}}", name],
            CALL_TIMEOUT,
            &what,
        )
        .map(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true")
        .unwrap_or(false)
    }

    /// Sends `signal` to the container's processes through the engine.
    pub(crate) fn kill(&self, name: &str, signal: i32) -> Result<()> {
        let sig = format!("--signal={signal}");
        let what = format!("{} kill {name}", self.engine.cli());
        let out = self.call(&["kill", &sig, name], CALL_TIMEOUT, &what)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failed(&what, &out))
        }
    }

    /// Force-removes containers by name, without a graceful-stop wait; a
    /// container that does not exist counts as removed.
    pub(crate) fn remove(&self, names: &[&str]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = self.remove_flags();
        args.extend_from_slice(names);
        let what = format!("{} rm {}", self.engine.cli(), names.join(" "));
        let out = self.call(&args, REMOVE_TIMEOUT, &what)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(());
        }
        // Errors that mean the container is gone or going away.
        let gone = stderr.lines().filter(|l| !l.trim().is_empty()).all(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("no such container")
                || l.contains("no container with name or id")
                || l.contains("already in progress")
        });
        if gone {
            Ok(())
        } else {
            Err(failed(&what, &out))
        }
    }

    /// Names and owner-label values of every container carrying the label.
    pub(crate) fn list_owned(&self) -> Result<Vec<(String, String)>> {
        let filter = format!("label={OWNER_LABEL}");
        // The two CLIs expose labels differently in templates.
        let format = match self.engine {
            Engine::Podman => format!("{{{{.Names}}}}\t{{{{index .Labels \"{OWNER_LABEL}\"}}}}"),
            Engine::Docker => format!("{{{{.Names}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}"),
        };
        let fmt = format!("--format={format}");
        let what = format!("{} ps", self.engine.cli());
        let out = self.call(
            &["ps", "--all", "--no-trunc", "--filter", &filter, &fmt],
            CALL_TIMEOUT,
            &what,
        )?;
        if !out.status.success() {
            return Err(failed(&what, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, o)| (n.trim().to_string(), o.trim().to_string()))
            .filter(|(n, _)| !n.is_empty())
            .collect())
    }
}

/// The error for a CLI call `what` that ran but failed.
fn failed(what: &str, out: &Output) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("{what} ({}): {}", out.status, first_lines(&out.stderr)),
    )
}
