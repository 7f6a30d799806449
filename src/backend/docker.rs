//! The `docker` runner: one container per spawn, started attached through
//! the docker or podman CLI, its stdin, stdout and stderr being the CLI's.
//!
//! `<engine> run -i --init --name rr-<unique> --label <owner> ... image cmd args`:
//! one round trip, no `sleep` needed in the image, and nothing running once
//! the command ends. Signals go to the container through the engine; the
//! wait removes the container whenever it may still exist. Every container
//! carries a label naming its owning process, so [`remove_orphans`] can
//! remove what owners that died without waiting left behind.

mod config;
mod engine;

use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use once_cell::sync::OnceCell;
use serde_json::json;

use self::config::{Config, Engine, EngineChoice, Pull, Spawn, CONTAINER_SHELL};
use self::engine::Cli;
use crate::backend::Backend;
use crate::child::{Child, ExitStatus, Usage};
use crate::enforcement::Enforcement;
use crate::error::{Error, ErrorKind, Result};
use crate::explain::Explanation;
use crate::owner::{now_ticks, start_time, Owner};
use crate::process::{EndReason, Process, SpawnGuard};
use crate::record::{Line, Record};
use crate::runner::Command;

#[derive(Debug)]
pub(crate) struct Docker {
    config: Config,
    image: String,
    /// The engine CLI, chosen and probed by the first check that passes
    /// (the `auto` choice depends on which engine answers), then kept.
    cli: OnceCell<Cli>,
}

/// Picks the engine CLI the options ask for and checks that its engine
/// answers (and, with `pull: never`, that `image` is there).
fn connect(choice: EngineChoice, image: Option<&str>, pull: Option<Pull>) -> Result<Cli> {
    let check = |engine: Engine| -> Result<Cli> {
        let cli = Cli::find(engine)?;
        let probe = cli.probe(image)?;
        if let (Some(image), Some(Pull::Never), false) = (image, pull, probe.image_present) {
            return Err(Error::requirements(format!(
                "image {image:?} is not in the {} engine's local images, and \"pull\" is \"never\"",
                engine.cli()
            )));
        }
        Ok(cli)
    };
    match choice {
        EngineChoice::Only(engine) => check(engine),
        EngineChoice::Auto => {
            // Only an engine that does not answer makes auto fall back; a
            // missing image is reported for the engine that answered.
            let docker = Cli::find(Engine::Docker).and_then(|cli| cli.probe(None).map(|_| cli));
            match docker {
                Ok(_) => check(Engine::Docker),
                Err(docker_err) => check(Engine::Podman).map_err(|podman_err| {
                    Error::requirements(format!(
                        "engine \"auto\": no engine answers (docker: {}; podman: {})",
                        docker_err.message(),
                        podman_err.message()
                    ))
                }),
            }
        }
    }
}

impl Docker {
    /// Reads the options. The engine is found and probed by the
    /// requirements check, not here.
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        let config = Config::parse(options_json, true)?;
        let image = config
            .image
            .clone()
            .ok_or_else(|| Error::internal("image checked by Config::parse"))?;
        Ok(Docker {
            config,
            image,
            cli: OnceCell::new(),
        })
    }

    /// The engine CLI; connects (and keeps the result) if no check passed yet.
    fn cli(&self) -> Result<&Cli> {
        self.cli
            .get_or_try_init(|| connect(self.config.engine, Some(&self.image), self.config.pull))
    }
}

/// A container name no other spawn, in this process or another, uses.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("rr-{}-{n}-{nanos:08x}", std::process::id())
}

impl Backend for Docker {
    fn check_requirements(&self) -> Result<()> {
        // Every check asks the engine afresh; the first CLI that passed is
        // the one spawns keep using.
        let cli = connect(self.config.engine, Some(&self.image), self.config.pull)?;
        let _ = self.cli.set(cli);
        Ok(())
    }

    fn default_shell(&self) -> OsString {
        CONTAINER_SHELL.into()
    }

    fn explain(&self, command: &Command) -> Result<Explanation> {
        self.explanation(command)
    }

    fn env_policy(&self) -> &crate::env::EnvPolicy {
        &self.config.env
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        let cli = self.cli()?;
        let mounts = self.config.render_mounts(&command.params)?;
        for m in mounts.iter().filter(|m| m.host.starts_with('/')) {
            // The engines would create a missing host folder, owned by root.
            if std::fs::symlink_metadata(&m.host).is_err() {
                return Err(Error::invalid_options(format!(
                    "option \"mounts\" of the docker runner: host path {:?} does not exist",
                    m.host
                )));
            }
        }
        // A working folder for this spawn is a path inside the container,
        // overriding the `workdir` option.
        let workdir = match container_cwd(command)? {
            Some(dir) => Some(dir),
            None => self.config.render_workdir(&command.params)?,
        };
        let name = unique_name();
        let owner = Owner::current().label();
        // Read once: the names passed are those the CLI's environment holds.
        let caller: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let passed: Vec<OsString> = self
            .config
            .env
            .filter(caller.clone())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let argv = config::run_argv(
            &self.config,
            cli.engine,
            &Spawn {
                name: &name,
                owner: &owner,
                mounts: &mounts,
                workdir: workdir.as_deref(),
                passed: &passed,
                env: &command.env,
                program: &command.program,
                args: &command.args,
            },
        )?;
        let mut program = cli.program_with_env(&argv, &caller)?;
        program.stdio(command.stdio);
        // Should this process die, its watchdog (or a later gc) kills the
        // CLI and removes the container, with the engine's settings of now.
        let remove = cli.remove_argv(&name);
        let remove: Vec<&OsStr> = std::iter::once(cli.path.as_os_str())
            .chain(remove.iter().map(OsString::as_os_str))
            .collect();
        let env: Vec<(OsString, OsString)> = ENGINE_ENV
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
            .collect();
        let mut lines = vec![Line::Spawn("docker")];
        lines.extend(env.iter().map(|(k, v)| Line::Env(k, v)));
        lines.push(Line::Run(&remove));
        let record = Record::begin(&lines);
        let from = now_ticks();
        let spawned = program.spawn().map_err(|e| {
            let kind = match e.kind() {
                // Bad stdio: the caller's mistake, named as it is.
                ErrorKind::InvalidArgument => return e,
                ErrorKind::CommandNotFound => ErrorKind::Requirements,
                _ => ErrorKind::Spawn,
            };
            Error::new(
                kind,
                format!(
                    "starting the {} CLI for image {:?}: {}",
                    cli.engine.cli(),
                    self.image,
                    e.message()
                ),
            )
        })?;
        record.add(Line::Pid {
            pid: spawned.child.pid(),
            from,
            to: now_ticks(),
        });
        let enforced = enforcement(&argv, &name, &record, &self.config.env);
        Ok(Process::new(
            spawned,
            Box::new(ContainerGuard {
                cli: cli.clone(),
                name,
                signalled: AtomicBool::new(false),
                must_remove: cli.engine == Engine::Docker || self.config.limits_memory(),
                memory_limited: self.config.limits_memory(),
                oom_kills_before: oom_kills(),
            }),
        )
        .with_record(record)
        .with_enforcement(enforced))
    }
}

/// What a spawn enforces, read from the engine CLI's argv (so a report never
/// claims a flag the container was not started with; `docker_run_opts` may
/// add or undo some).
fn enforcement(
    argv: &[OsString],
    name: &str,
    record: &Record,
    env: &crate::env::EnvPolicy,
) -> Enforcement {
    let has = |flag: &str| argv_has(argv, flag);
    let any = |pred: &dyn Fn(&str) -> bool| argv.iter().filter_map(|a| a.to_str()).any(pred);
    let privileged = has("--privileged");
    let no_seccomp = privileged || any(&|a| a.contains("seccomp=unconfined"));
    let no_network = has("--network=none");
    let all_caps_dropped = has("--cap-drop=ALL") && !privileged;
    let cap_add: Vec<&str> = argv
        .iter()
        .filter_map(|a| a.to_str()?.strip_prefix("--cap-add="))
        .collect();
    let limits = limits_of(argv);
    // `-t`, alone or among short flags (`-it`), from docker_run_opts.
    let tty = any(&|a| {
        a == "--tty"
            || a.starts_with("--tty=")
            || (a.starts_with('-')
                && !a.starts_with("--")
                && a.len() <= 4
                && a.contains('t')
                && a[1..].chars().all(|c| "itd".contains(c)))
    });
    env.report(
        Enforcement::new("docker")
            .layer(
                "filesystem",
                !privileged,
                if has("--read-only") {
                    "the container's own root (the image), read-only, and the mounts listed"
                } else {
                    "the container's own root (the image) and the mounts listed"
                },
                json!({}),
            )
            .layer(
                "network",
                no_network,
                if no_network {
                    "--network=none: loopback only"
                } else {
                    "the engine's network"
                },
                json!({}),
            )
            .layer(
                "namespaces",
                !privileged,
                "the container's",
                json!({"namespaces": ["mount", "pid", "network", "ipc", "uts"]}),
            )
            .layer(
                "seccomp",
                !no_seccomp,
                if no_seccomp {
                    "none (unconfined)"
                } else {
                    "the engine's default profile"
                },
                json!({}),
            )
            .layer(
                "capabilities",
                all_caps_dropped && cap_add.is_empty(),
                if all_caps_dropped {
                    "--cap-drop=ALL"
                } else {
                    "the engine's default set (cap_drop [\"ALL\"] removes it)"
                },
                json!({ "cap_add": cap_add }),
            )
            .layer(
                "no_new_privs",
                has("--security-opt=no-new-privileges"),
                if has("--security-opt=no-new-privileges") {
                    "--security-opt=no-new-privileges"
                } else {
                    "none"
                },
                json!({}),
            )
            .layer(
                "terminal",
                !tty,
                if tty {
                    "a terminal of the engine's (-t)"
                } else {
                    "no terminal: the container's stdio are pipes the CLI relays"
                },
                json!({}),
            )
            .layer(
                "limits",
                limits.as_object().is_some_and(|l| !l.is_empty()),
                "the engine's cgroup limits",
                limits,
            )
            .layer(
                "containment",
                true,
                format!("container {name}, removed at wait"),
                json!({}),
            )
            .die_with_caller(record.is_recorded(), "the caller's watchdog kills the CLI and removes the container when the caller dies"),
    )
}

impl Docker {
    /// What a spawn would run: the engine CLI's argv, rendered as the spawn
    /// renders it (the container's name is new at each spawn).
    fn explanation(&self, command: &Command) -> Result<Explanation> {
        let mounts = self.config.render_mounts(&command.params)?;
        let workdir = match container_cwd(command)? {
            Some(dir) => Some(dir),
            None => self.config.render_workdir(&command.params)?,
        };
        let mut notes = Vec::new();
        // A named engine is only looked up; `auto` needs to know which
        // engine answers, as the spawn would.
        let cli = match (self.cli.get(), self.config.engine) {
            (Some(cli), _) => Ok(cli.clone()),
            (None, EngineChoice::Only(engine)) => Cli::find(engine),
            (None, EngineChoice::Auto) => {
                connect(self.config.engine, Some(&self.image), self.config.pull)
            }
        };
        let (path, engine) = match cli {
            Ok(cli) => (cli.path.into_os_string(), cli.engine),
            Err(e) => {
                notes.push(format!("a spawn would fail: {}", e.message()));
                let engine = match self.config.engine {
                    EngineChoice::Only(engine) => engine,
                    EngineChoice::Auto => Engine::Docker,
                };
                (engine.cli().into(), engine)
            }
        };
        let name = unique_name();
        let owner = Owner::current().label();
        let passed: Vec<OsString> = self
            .config
            .env
            .filter(std::env::vars_os().collect())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let argv = config::run_argv(
            &self.config,
            engine,
            &Spawn {
                name: &name,
                owner: &owner,
                mounts: &mounts,
                workdir: workdir.as_deref(),
                env: &command.env,
                passed: &passed,
                program: &command.program,
                args: &command.args,
            },
        )?;
        let mut full = vec![path];
        full.extend(argv);
        let mounts: Vec<serde_json::Value> = mounts
            .iter()
            .map(|m| {
                serde_json::json!({
                    "path": format!("{}:{}", m.host, m.container),
                    "mode": m.mode.as_deref().unwrap_or("rw"),
                })
            })
            .collect();
        let mut e = Explanation::new("docker")
            .argv(&command.program, &full)
            .set("working_folder", serde_json::json!(workdir))
            .set("mounts", serde_json::json!(mounts))
            .set("namespaces", serde_json::json!(["mount", "pid", "network", "ipc", "uts"]))
            .set("limits", limits_of(&full))
            .set("seccomp", serde_json::json!("the engine's default profile"))
            .set("capabilities", serde_json::json!("the engine's default set, with the options' cap_add and cap_drop"))
            .set(
                "network",
                serde_json::json!(if argv_has(&full, "--network=none") {
                    "none (the container has only loopback)"
                } else {
                    "the engine's network"
                }),
            )
            .set("containment", serde_json::json!(format!("container {name}, removed at wait")))
            .environment(&command.env)
            .note("the command gets the image's environment plus the spawn's variables, not the caller's")
            .note("the container's name and owner label are new at each spawn");
        for n in notes {
            e = e.note(n);
        }
        Ok(e)
    }
}

/// The engine's limit flags of an argv, by flag name.
fn limits_of(argv: &[OsString]) -> serde_json::Value {
    let mut limits = serde_json::Map::new();
    for a in argv.iter().filter_map(|a| a.to_str()) {
        for flag in [
            "memory",
            "memory-swap",
            "memory-reservation",
            "pids-limit",
            "cpus",
        ] {
            if let Some(v) = a.strip_prefix(&format!("--{flag}=")) {
                limits.insert(flag.into(), serde_json::json!(v));
            }
        }
    }
    serde_json::Value::Object(limits)
}

fn argv_has(argv: &[OsString], flag: &str) -> bool {
    argv.iter().any(|a| a == flag)
}

/// The environment variables that tell an engine CLI where its engine is,
/// kept in each spawn's record for removing the container later.
const ENGINE_ENV: [&str; 12] = [
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "CONTAINER_HOST",
    "CONTAINER_CONNECTION",
    "CONTAINERS_CONF",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "HOME",
    "PATH",
];

/// The spawn's working folder inside the container: absolute, and UTF-8
/// (the engines' API is JSON).
fn container_cwd(command: &Command) -> Result<Option<String>> {
    let Some(dir) = command.attrs.cwd() else {
        return Ok(None);
    };
    let text = dir.to_str().ok_or_else(|| {
        Error::invalid_argument(format!(
            "working folder {dir:?} is not UTF-8; the docker runner cannot pass it to the engine"
        ))
    })?;
    if !dir.is_absolute() {
        return Err(Error::invalid_argument(format!(
            "working folder {text:?}: the docker runner takes a path inside the container, which must be absolute"
        )));
    }
    Ok(Some(text.to_string()))
}

/// The container of one spawn: signalled through the engine, removed after
/// the CLI was reaped whenever it may still exist.
#[derive(Debug)]
struct ContainerGuard {
    cli: Cli,
    name: String,
    /// Set once a signal was sent: the container may outlive the CLI.
    signalled: AtomicBool,
    must_remove: bool,
    /// The container has a memory limit: an exit by SIGKILL may be an OOM
    /// kill, which the engine's record or the kernel's count of them says.
    memory_limited: bool,
    /// The kernel's count of OOM kills when the spawn started.
    oom_kills_before: Option<u64>,
}

/// The kernel's count of OOM kills since boot (`oom_kill` in /proc/vmstat).
fn oom_kills() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/vmstat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

impl SpawnGuard for ContainerGuard {
    fn kill(&self, child: &Child, signal: i32) -> Result<()> {
        if signal == 0 {
            return child.signal_group(0);
        }
        self.signalled.store(true, Ordering::SeqCst);
        if self.cli.kill(&self.name, signal).is_err() {
            // The engine could not signal the container: it is not running
            // yet (or any more), or the engine is gone. Ending the CLI ends
            // the attached session; cleanup removes whatever was created.
            if child.wait_exit(Some(std::time::Duration::ZERO))? {
                return Ok(());
            }
            child.signal_group(libc::SIGKILL)?;
        }
        Ok(())
    }

    fn reaped(&mut self, status: Option<ExitStatus>) {
        // A CLI that did not exit on its own (killed, say) leaves the
        // container running; 125 and up are the engine's own failures
        // (podman, docker), after which a created container may remain.
        let clean_exit = matches!(status, Some(ExitStatus::Exited(code)) if code < 125);
        if !clean_exit {
            self.must_remove = true;
        }
    }

    fn ended(
        &mut self,
        status: ExitStatus,
        _usage: Option<Usage>,
    ) -> (Option<EndReason>, Option<Usage>) {
        let killed = matches!(
            status,
            ExitStatus::Exited(137) | ExitStatus::Signaled(libc::SIGKILL)
        );
        let oom = if self.memory_limited && killed && !self.signalled.load(Ordering::SeqCst) {
            // Engines behind cgroup v2 without the memory events
            // (podman with runc here) record OOMKilled=false; the
            // kernel's count rising during an unsignalled SIGKILL
            // of a memory-limited container says the same thing.
            self.cli.oom_killed(&self.name)
                || matches!((self.oom_kills_before, oom_kills()), (Some(b), Some(n)) if n > b)
        } else {
            false
        };
        (oom.then_some(EndReason::OutOfMemory), None)
    }

    fn measures_usage(&self) -> bool {
        // The CLI's own CPU and memory are not the container's.
        false
    }

    fn cleanup(&mut self) -> Result<()> {
        if self.must_remove || self.signalled.load(Ordering::SeqCst) {
            self.cli.remove(&[&self.name])
        } else {
            Ok(())
        }
    }
}

/// Removes the containers that runners of this library created for owner
/// processes that no longer exist (they died without waiting), on the
/// engine `options_json` selects (the docker runner's options; `image` may
/// be left out). Returns how many were removed.
///
/// Owners are recognised by machine, boot, pid and process start time, so a
/// reused pid does not count as the owner; containers created on another
/// machine sharing the engine are left alone.
pub fn remove_orphans(options_json: Option<&str>) -> Result<u32> {
    let config = Config::parse(options_json, false)?;
    let cli = connect(config.engine, None, None)?;
    let me = Owner::current();
    let orphans: Vec<String> = cli
        .list_owned()?
        .into_iter()
        .filter(|(_, label)| Owner::parse(label).is_some_and(|o| o.is_gone(&me, start_time)))
        .map(|(name, _)| name)
        .collect();
    let names: Vec<&str> = orphans.iter().map(String::as_str).collect();
    cli.remove(&names)?;
    Ok(orphans.len() as u32)
}
