//! The `exec` runner: direct execution on the host, no isolation; but the
//! command's whole tree still ends with its handle, and with its caller.
//!
//! Where the caller may create cgroups (root, or a delegated cgroup v2
//! subtree) each spawn gets a leaf of its own under the caller's cgroup,
//! which the child starts in (or joins before exec where the kernel cannot
//! fork into a cgroup; see `vfork::into_cgroup`): `cgroup.kill` then ends
//! every process of the tree,
//! `setsid` and double-forked ones included. Elsewhere the process group
//! is what is killed.

use std::ffi::OsString;

use serde_json::json;

use crate::attrs::program_in;
use crate::backend::{host_program, host_shell, Backend};
#[cfg(target_os = "linux")]
use crate::child::{Child, ExitStatus, Usage};
use crate::enforcement::Enforcement;
use crate::env::EnvPolicy;
use crate::error::Result;
use crate::explain::Explanation;
use crate::options::Options;
use crate::owner::now_ticks;
#[cfg(target_os = "linux")]
use crate::process::{EndReason, SpawnGuard};
use crate::process::{PlainGuard, Process};
use crate::record::{Line, Record};
use crate::runner::Command;

#[cfg(target_os = "linux")]
use crate::cgroup::{self, Leaf};

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

/// The guard of a spawn contained in a cgroup leaf: signals reach every
/// process in it, and the wait ends what is left before the leaf goes.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct CgroupGuard {
    leaf: Option<Leaf>,
}

#[cfg(target_os = "linux")]
impl SpawnGuard for CgroupGuard {
    fn kill(&self, child: &Child, signal: i32) -> Result<()> {
        child.signal_group(signal)?;
        if let (Some(leaf), true) = (&self.leaf, signal != 0 && child.reaped_status().is_none()) {
            if signal == libc::SIGKILL {
                leaf.kill_all();
            } else if let Ok(procs) = std::fs::read_to_string(leaf.dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, signal) };
                }
            }
        }
        Ok(())
    }

    fn ended(
        &mut self,
        _status: ExitStatus,
        usage: Option<Usage>,
    ) -> (Option<EndReason>, Option<Usage>) {
        // The leaf counts the whole tree's CPU, orphans included; the peak
        // memory is the kernel's, of the processes waited for.
        let cpu = self.leaf.as_ref().and_then(Leaf::cpu_used);
        let usage = cpu.map(|(user, system)| Usage {
            user,
            system,
            peak_rss_bytes: usage.map_or(0, |u| u.peak_rss_bytes),
        });
        (None, usage)
    }

    fn cleanup(&mut self) -> Result<()> {
        match self.leaf.take() {
            Some(leaf) => leaf.finish(),
            None => Ok(()),
        }
    }
}

impl Backend for Exec {
    fn check_requirements(&self) -> Result<()> {
        Ok(())
    }

    fn default_shell(&self) -> OsString {
        host_shell(self.shell.as_deref())
    }

    fn explain(&self, command: &Command) -> Result<Explanation> {
        self.explanation(command)
    }

    fn env_policy(&self) -> &crate::env::EnvPolicy {
        &self.env
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        let cwd = command.attrs.host_cwd()?;
        let name = program_in(&command.program, cwd.as_deref());
        let mut program =
            host_program(&name, &command.args, &self.env, &command.env, command.stdio)?;
        program.cwd(cwd.as_deref())?;
        #[cfg(target_os = "linux")]
        if let Some(h) = cgroup::containment() {
            let (leaf, record, from, spawned) =
                spawn_contained(h, &program, command.attrs.measures_usage())?;
            // While the command starts: the wait then only reads them.
            leaf.open_controls();
            record.add(Line::Pid {
                pid: spawned.child.pid(),
                from,
                to: now_ticks(),
            });
            let report = reporter(&record, "cgroup v2 leaf (cgroup.kill)", &self.env);
            return Ok(
                Process::new(spawned, Box::new(CgroupGuard { leaf: Some(leaf) }))
                    .with_record(record)
                    .with_enforcement_from(report),
            );
        }
        let record = Record::begin(&[Line::Spawn("exec")]);
        let from = now_ticks();
        let spawned = program.spawn()?;
        record.add(Line::Pid {
            pid: spawned.child.pid(),
            from,
            to: now_ticks(),
        });
        let report = reporter(&record, "process group", &self.env);
        Ok(Process::new(spawned, Box::new(PlainGuard))
            .with_record(record)
            .with_enforcement_from(report))
    }
}

/// Starts `program` in a leaf of `h`, recorded; a second time in a new leaf
/// when the pooled one it got was removed from outside while idle.
#[cfg(target_os = "linux")]
fn spawn_contained(
    h: &cgroup::Hierarchy,
    program: &crate::spawn::Program,
    measure_cpu: bool,
) -> Result<(Leaf, Record, u64, crate::spawn::Spawned)> {
    let mut tries = 0;
    loop {
        tries += 1;
        let leaf = Leaf::take(h, measure_cpu)?;
        let record = Record::begin(&[Line::Spawn("exec"), Line::Cgroup(&leaf.dir)]);
        let from = now_ticks();
        match crate::vfork::spawn_in_cgroup(program, &leaf) {
            Ok(spawned) => return Ok((leaf, record, from, spawned)),
            Err(e) => {
                let retry = tries == 1 && leaf.gone();
                // Nothing runs in it (a failed child was reaped): the leaf
                // goes back to the pool, unless it is gone.
                let _ = leaf.finish();
                if !retry {
                    return Err(e);
                }
            }
        }
    }
}

/// What builds the report of a spawn, when it is first asked for: most
/// callers never ask.
fn reporter(
    record: &Record,
    containment: &'static str,
    env: &EnvPolicy,
) -> impl FnOnce() -> Enforcement + Send + 'static {
    let recorded = record.is_recorded();
    let env = env.clone();
    move || {
        env.report(
            Enforcement::new("exec")
                .layer("containment", true, containment, json!({}))
                .die_with_caller(
                    recorded,
                    "the caller's watchdog ends the tree when the caller dies",
                ),
        )
    }
}

impl Exec {
    /// What a spawn would run: the program found in PATH, directly.
    fn explanation(&self, command: &Command) -> Result<Explanation> {
        let (cwd, host) = crate::backend::resolve_command(command, &self.env)?;
        let mut argv = vec![command.program.clone()];
        argv.extend(command.args.iter().cloned());
        #[cfg(target_os = "linux")]
        let containment = match cgroup::containment() {
            Some(_) => "a cgroup v2 leaf of its own (cgroup.kill ends the whole tree, setsid'd processes included)",
            None => "its process group (a setsid'd descendant escapes it)",
        };
        #[cfg(not(target_os = "linux"))]
        let containment = "its process group (a setsid'd descendant escapes it)";
        Ok(Explanation::new("exec")
            .argv(host.path.as_os_str(), &argv)
            .set(
                "working_folder",
                json!(cwd.as_deref().map(|d| crate::explain::text(d.as_os_str()))),
            )
            .set("capabilities", json!("the caller's"))
            .set("network", json!("the host's"))
            .set("containment", json!(containment))
            .environment(&host.vars)
            .note("no isolation: the command runs on the host as the caller"))
    }
}
