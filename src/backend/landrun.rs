//! The `landrun` runner (alias `landlock`): the kernel's Landlock LSM,
//! resource limits and optionally an empty network namespace, applied to
//! the child between clone and exec. The calling process is never
//! restricted, and no external program is involved.
//!
//! - `rules`: the options and the pure rule plan of one spawn (golden-tested).
//! - `ruleset`: the plan turned into a kernel ruleset, before the spawn.
//! - `launch`: the vfork-style clone whose child confines itself and execs.
//!
//! Users' documentation: docs/runner-landrun.md.

mod launch;
mod rules;
mod ruleset;

use std::ffi::OsString;

use landlock::ABI;
use nix::errno::Errno;

use crate::backend::{host_program, host_shell, Backend};
use crate::error::{Error, Result};
use crate::process::{PlainGuard, Process};
use crate::runner::Command;
use crate::template::Params;
use rules::{PathRule, Settings};

#[derive(Debug)]
pub(crate) struct Landrun {
    settings: Settings,
    /// The kernel's Landlock ABI, or why there is none.
    abi: std::result::Result<ABI, Errno>,
}

impl Landrun {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        Ok(Landrun {
            settings: Settings::parse(options_json)?,
            abi: ruleset::detect_abi(),
        })
    }

    /// The ABI rules are planned for: none when Landlock is missing (only
    /// reachable with `best_effort`, see `check_requirements`).
    fn effective_abi(&self) -> ABI {
        self.abi.unwrap_or(ABI::Unsupported)
    }
}

impl Backend for Landrun {
    fn check_requirements(&self) -> Result<()> {
        let s = &self.settings;
        let needs_fs = !s.unrestricted_filesystem;
        let needs_tcp = s.restricts_tcp() && !s.isolate_network;
        if !s.best_effort {
            match self.abi {
                Err(e) if needs_fs || needs_tcp => {
                    return Err(Error::requirements(format!(
                        "Landlock is not available on this kernel (landlock_create_ruleset: {}); \
                         set best_effort to run without it",
                        std::io::Error::from(e)
                    )))
                }
                Ok(abi) if needs_tcp && abi < ABI::V4 => {
                    return Err(Error::requirements(format!(
                        "restricting TCP needs Landlock ABI 4 (Linux 6.7) and this kernel has {abi:?}; \
                         set allow_networking, isolate_network or best_effort"
                    )))
                }
                _ => {}
            }
        }
        if s.isolate_network && !has_cap_sys_admin() {
            return Err(Error::requirements(
                "isolate_network needs CAP_SYS_ADMIN to create a network namespace",
            ));
        }
        // Paths without params can be checked once, here; the others are
        // checked at each spawn.
        if needs_fs && !s.best_effort {
            for (grant, value) in &s.paths {
                if let Ok(path) = value.render(&Params::new()) {
                    ruleset::check_path(&PathRule {
                        path: path.into(),
                        grant: *grant,
                        access: Default::default(),
                    })?;
                }
            }
        }
        Ok(())
    }

    fn default_shell(&self) -> OsString {
        host_shell(None)
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        let program = host_program(
            &command.program,
            &command.args,
            &self.settings.env,
            &command.env,
            command.stdio,
        )?;
        let plan = rules::plan(&self.settings, &command.params, self.effective_abi())?;
        let ruleset = ruleset::create(&plan, self.settings.best_effort)?;
        let spawned = launch::spawn(
            &program,
            &launch::Confinement {
                ruleset: ruleset.as_ref(),
                limits: self.settings.limits,
                isolate_network: self.settings.isolate_network,
            },
        )?;
        Ok(Process::new(spawned, Box::new(PlainGuard)))
    }
}

/// Whether this process holds CAP_SYS_ADMIN, which creating a network
/// namespace needs.
fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::spawn::Stdio;

    fn with_abi(json: &str, abi: std::result::Result<ABI, Errno>) -> Landrun {
        Landrun {
            settings: Settings::parse(Some(json)).unwrap(),
            abi,
        }
    }

    #[test]
    fn a_kernel_without_landlock_fails_unless_best_effort() {
        let missing = Err(Errno::EOPNOTSUPP);
        let e = with_abi("{}", missing).check_requirements().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Requirements);
        assert!(e.message().contains("Landlock is not available"), "{e}");
        assert!(e.message().contains("best_effort"), "{e}");
        with_abi(r#"{"best_effort": true}"#, missing)
            .check_requirements()
            .unwrap();
        // Nothing to restrict by Landlock: no need for it.
        with_abi(
            r#"{"unrestricted_filesystem": true, "allow_networking": true}"#,
            missing,
        )
        .check_requirements()
        .unwrap();
    }

    #[test]
    fn tcp_rules_need_abi_4_unless_the_network_is_isolated_or_open() {
        let e = with_abi("{}", Ok(ABI::V3))
            .check_requirements()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Requirements);
        assert!(e.message().contains("ABI 4"), "{e}");
        for ok in [
            r#"{"best_effort": true}"#,
            r#"{"allow_networking": true}"#,
            r#"{"isolate_network": true}"#,
        ] {
            with_abi(ok, Ok(ABI::V3)).check_requirements().unwrap();
        }
    }

    #[test]
    fn best_effort_without_landlock_still_confines_what_it_can() {
        let r = with_abi(
            r#"{"best_effort": true, "max_open_files": 20}"#,
            Err(Errno::ENOSYS),
        );
        let cmd = Command::new("sh")
            .arg("-c")
            .arg("ls /tmp >/dev/null && ulimit -n && grep NoNewPrivs /proc/self/status")
            .stdio(Stdio::Null, Stdio::Pipe, Stdio::Null);
        let mut p = r.spawn(&cmd).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(p.take_stdout().unwrap()), &mut out)
            .unwrap();
        assert!(p.wait().unwrap().success(), "{out}");
        assert_eq!(out, "20\nNoNewPrivs:\t1\n");
    }
}
