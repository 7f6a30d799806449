//! Talking to the container engine through its CLI: finding it, probing it,
//! signalling and removing containers, listing the ones this library made.
//! Every call is bounded by a timeout, so a hung engine cannot hang a wait.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use once_cell::sync::Lazy;

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
        let mut args = match self.engine {
            // `-t 0`: podman would first wait 10 s for SIGTERM to stop the
            // container's PID 1.
            Engine::Podman => vec!["rm", "--force", "--ignore", "--time=0"],
            // docker's forced removal kills at once and ignores missing
            // containers.
            Engine::Docker => vec!["rm", "--force"],
        };
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

/// Who owns a container: the machine, its boot, and a process by pid and
/// start time, so that neither a reboot nor pid reuse passes for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) machine: String,
    pub(crate) boot: String,
    pub(crate) pid: i32,
    pub(crate) start: u64,
}

impl Owner {
    /// The label value, `machine:boot:pid:start`.
    pub(crate) fn label(&self) -> String {
        format!("{}:{}:{}:{}", self.machine, self.boot, self.pid, self.start)
    }

    /// Parses a label value; `None` for anything this library did not write.
    pub(crate) fn parse(value: &str) -> Option<Owner> {
        let mut it = value.split(':');
        let (machine, boot, pid, start) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        Some(Owner {
            machine: machine.to_string(),
            boot: boot.to_string(),
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }

    /// Whether `self`, as seen from `me`, certainly no longer runs.
    /// `start_of(pid)` gives a live process's start time. Containers of
    /// another machine (or of an unidentifiable one) are never judged.
    pub(crate) fn is_gone(&self, me: &Owner, start_of: impl Fn(i32) -> Option<u64>) -> bool {
        if self.machine.is_empty() || self.machine != me.machine {
            return false;
        }
        if self.boot != me.boot {
            return true;
        }
        start_of(self.pid) != Some(self.start)
    }
}

fn read_id(paths: &[&str]) -> String {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().replace(':', ""))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// The start time of process `pid` in clock ticks since boot, from
/// /proc/PID/stat (field 22).
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process as an owner.
pub(crate) static ME: Lazy<Owner> = Lazy::new(|| {
    let pid = std::process::id() as i32;
    Owner {
        machine: read_id(&["/etc/machine-id", "/var/lib/dbus/machine-id"]),
        boot: read_id(&["/proc/sys/kernel/random/boot_id"]),
        pid,
        start: start_time(pid).unwrap_or(0),
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(machine: &str, boot: &str, pid: i32, start: u64) -> Owner {
        Owner {
            machine: machine.into(),
            boot: boot.into(),
            pid,
            start,
        }
    }

    #[test]
    fn label_round_trips() {
        let o = owner("abc", "b-1", 42, 777);
        assert_eq!(o.label(), "abc:b-1:42:777");
        assert_eq!(Owner::parse(&o.label()), Some(o));
        for bad in ["", "a:b:c", "a:b:x:1", "a:b:1:2:3", "a:b:1:-2"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_dead_owners_of_this_machine_are_gone() {
        let me = owner("m", "boot", 10, 100);
        let alive = |pid: i32| (pid == 20).then_some(500);
        // Same boot: alive with the same start time, or not.
        assert!(!owner("m", "boot", 20, 500).is_gone(&me, alive));
        assert!(
            owner("m", "boot", 20, 499).is_gone(&me, alive),
            "pid reused"
        );
        assert!(owner("m", "boot", 21, 500).is_gone(&me, alive), "pid gone");
        // An earlier boot of this machine: certainly gone.
        assert!(owner("m", "old", 20, 500).is_gone(&me, alive));
        // Another or an unknown machine: not ours to judge.
        assert!(!owner("other", "boot", 21, 1).is_gone(&me, alive));
        let anon = owner("", "boot", 10, 100);
        assert!(!owner("", "boot", 21, 1).is_gone(&anon, alive));
    }

    #[test]
    fn this_process_is_identified() {
        assert_eq!(ME.pid, std::process::id() as i32);
        assert!(ME.start > 0);
        assert_eq!(start_time(ME.pid), Some(ME.start));
        assert!(!ME.boot.is_empty());
        assert!(!ME.clone().is_gone(&ME, start_time));
    }
}
