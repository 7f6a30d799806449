//! The `landrun` runner (alias `landlock`): a sandbox built in the child
//! between clone and exec, with no helper program of the host. One module
//! per layer, each preparing everything before the clone so that the
//! children only make system calls:
//!
//! - `rules`: the options and the pure Landlock rule plan (golden-tested);
//!   `ruleset` turns the plan into a kernel ruleset.
//! - `namespaces`: user, mount, PID, network, IPC, UTS and cgroup
//!   namespaces, and the mount view holding only what the policy names.
//! - `seccomp`: the system-call baseline.
//! - `privileges`: every capability dropped, for root too.
//! - `limits`: resource limits (and a pids cgroup where root needs one).
//! - `launch`: the clone choreography; `init`: the sandbox's PID 1.
//!
//! The calling process is never restricted nor forked. Users'
//! documentation: docs/runner-landrun.md.

mod init;
mod launch;
mod limits;
mod namespaces;
mod netns_pool;
mod privileges;
mod rules;
mod ruleset;
mod seccomp;

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use landlock::{AccessFs, AccessNet, BitFlags, Scope, ABI};
use nix::errno::Errno;
use serde_json::json;

use crate::attrs::program_in;
use crate::backend::{host_program, host_shell, Backend};
use crate::cgroup::{self, Leaf};
use crate::child::{Child, ExitStatus, Usage};
use crate::enforcement::Enforcement;
use crate::error::{Error, ErrorKind, Result};
use crate::explain::Explanation;
use crate::owner::now_ticks;
use crate::process::{EndReason, Process, SpawnGuard};
use crate::record::{Line, Record};
use crate::runner::Command;
use crate::template::Params;
use launch::{Confinement, Mounts};
use namespaces::{IdMaps, Namespaces};
use rules::{PathRule, Plan, Settings};

#[derive(Debug)]
pub(crate) struct Landrun {
    /// Shared with the reports of the processes it starts.
    settings: Arc<Settings>,
    /// The kernel's Landlock ABI, or why there is none.
    abi: std::result::Result<ABI, Errno>,
    /// Whether this process may make namespaces without a user namespace.
    privileged: bool,
    /// The seccomp filters with a network namespace, and without one
    /// (then UDP, raw and packet sockets are denied too when networking is
    /// off).
    filters: seccomp::Filters,
    filters_no_netns: seccomp::Filters,
}

/// Results of trying to make each set of namespaces, once per process.
static PROBES: Mutex<Vec<(libc::c_int, std::result::Result<(), Errno>)>> = Mutex::new(Vec::new());

/// Makes (and drops) a child in `ns`, to learn whether this system allows
/// it: user namespaces may be disabled (Docker's default seccomp profile,
/// Ubuntu's AppArmor restriction, a sysctl) or the kernel too old.
fn probe(ns: Namespaces) -> std::result::Result<(), Errno> {
    let flags = ns.clone_flags();
    if let Some((_, r)) = PROBES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(f, _)| *f == flags)
    {
        return *r;
    }
    extern "C" fn exit_at_once(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) }
    }
    let mut stack = vec![0u8; 16 * 1024];
    // SAFETY: the child only calls _exit on its own stack; CLONE_VFORK keeps
    // the stack alive until then.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len()) as usize & !15;
        libc::clone(
            exit_at_once,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD | flags,
            std::ptr::null_mut(),
        )
    };
    let result = if pid < 0 {
        Err(Errno::last())
    } else {
        let mut status = 0;
        // SAFETY: reaps our own child.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && Errno::last() == Errno::EINTR {}
        Ok(())
    };
    PROBES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((flags, result));
    result
}

impl Landrun {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        let settings = Settings::parse(options_json)?;
        let filters = seccomp::build(seccomp::Extra {
            deny_udp_and_raw: !settings.allow_networking && !settings.network_isolated(),
        })?;
        let filters_no_netns = seccomp::build(seccomp::Extra {
            deny_udp_and_raw: !settings.allow_networking,
        })?;
        let privileged = privileges::has_capability(privileges::CAP_SYS_ADMIN);
        if privileged {
            // Spawns may keep network namespaces (see `netns_pool`): the
            // pool's fds are made with the runner, not by a spawn.
            netns_pool::POOL.prepare();
        }
        Ok(Landrun {
            settings: Arc::new(settings),
            abi: ruleset::detect_abi(),
            privileged,
            filters,
            filters_no_netns,
        })
    }

    /// The ABI rules are planned for: none when Landlock is missing (only
    /// reachable with `best_effort`, see `check_requirements`).
    fn effective_abi(&self) -> ABI {
        self.abi.unwrap_or(ABI::Unsupported)
    }

    /// The namespaces a spawn asks for.
    fn wanted(&self) -> Namespaces {
        Namespaces {
            user: !self.privileged,
            mount: true,
            pid: true,
            network: self.settings.network_isolated(),
            ipc: true,
            uts: true,
            cgroup: true,
        }
    }

    /// The namespaces this system allows, or why none can be made.
    fn namespaces(&self) -> std::result::Result<Namespaces, Error> {
        let wanted = self.wanted();
        match probe(wanted) {
            Ok(()) => Ok(wanted),
            Err(e) => Err(namespace_error(wanted, e)),
        }
    }
}

fn namespace_error(ns: Namespaces, e: Errno) -> Error {
    let why = if ns.user {
        "a user namespace is needed for them and this system refuses one \
         (user namespaces disabled by a seccomp profile, an AppArmor restriction or a sysctl)"
    } else {
        "this system refuses them"
    };
    Error::from_errno(
        ErrorKind::Requirements,
        format!(
            "the sandbox's {} namespaces cannot be created: {why}; \
             set best_effort to run with Landlock, seccomp and rlimits only",
            ns.names().join(", ")
        ),
        e,
    )
}

impl Backend for Landrun {
    fn check_requirements(&self) -> Result<()> {
        let s = &self.settings;
        let needs_fs = !s.unrestricted_filesystem;
        let needs_tcp = s.restricts_tcp() && !s.network_isolated();
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
                Ok(abi) if needs_tcp && abi < ABI::V6 => {
                    return Err(Error::requirements(format!(
                        "with TCP ports listed the sandbox keeps the host's network namespace, and \
                         cutting abstract unix sockets off then needs Landlock ABI 6 (Linux 6.12); \
                         this kernel has {abi:?}; list no port (a network namespace is used), \
                         or set allow_networking or best_effort"
                    )))
                }
                _ => {}
            }
            self.namespaces()?;
            if s.limits.processes.is_some() && self.privileged && cgroup::find("pids").is_none() {
                return Err(Error::requirements(
                    "max_processes for a privileged caller needs a pids cgroup (the kernel does not \
                     apply RLIMIT_NPROC to root), and no pids controller is mounted or delegated here; \
                     set best_effort to run without the limit",
                ));
            }
        }
        // Made once per process, now rather than at the first spawn.
        crate::helper::helper_fd()?;
        if s.best_effort {
            let _ = crate::helper::caller_pidfd();
        } else {
            crate::helper::caller_pidfd()?;
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

    fn explain(&self, command: &Command) -> Result<Explanation> {
        self.explanation(command)
    }

    fn env_policy(&self) -> &crate::env::EnvPolicy {
        &self.settings.env
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        let cwd = command.attrs.host_cwd()?;
        let name = program_in(&command.program, cwd.as_deref());
        let program = host_program(
            &name,
            &command.args,
            &self.settings.env,
            &command.env,
            command.stdio,
        )?;
        let best_effort = self.settings.best_effort;
        let (namespaces, missing_ns) = match self.namespaces() {
            Ok(ns) => (ns, None),
            Err(e) if best_effort => (Namespaces::NONE, Some(e.message().to_string())),
            Err(e) => return Err(e),
        };
        let plan_for = |ns: Namespaces| {
            rules::plan(
                &self.settings,
                &command.params,
                self.effective_abi(),
                ns.network,
            )
        };
        let plan = plan_for(namespaces)?;
        let start = |plan: &Plan, ns| self.start(&program, plan, ns, cwd.as_deref());
        match start(&plan, namespaces) {
            Ok((process, view)) => {
                Ok(self.attach_report(process, plan, namespaces, view, missing_ns))
            }
            Err(failure)
                if best_effort
                    && namespaces != Namespaces::NONE
                    && failure.stage.map_or(true, |s| s.is_namespace_layer()) =>
            {
                let why = failure.error.message().to_string();
                let plan = plan_for(Namespaces::NONE)?;
                let (process, view) = start(&plan, Namespaces::NONE).map_err(|f| f.error)?;
                Ok(self.attach_report(process, plan, Namespaces::NONE, view, Some(why)))
            }
            Err(failure) => Err(failure.error),
        }
    }
}

/// The guard of a landrun spawn: signals through the init (when there is a
/// PID namespace), and the pids cgroup removed after the reap.
#[derive(Debug)]
struct Guard {
    init: bool,
    pids: Option<Leaf>,
    /// `max_cpu_seconds`, to tell its SIGKILL from another.
    cpu_limit: Option<u64>,
    /// The sandbox's network namespace, and the pipe its init says on
    /// whether it was left empty, to keep it for a later spawn.
    netns: Option<(netns_pool::Netns, OwnedFd)>,
}

impl SpawnGuard for Guard {
    fn kill(&self, child: &Child, signal: i32) -> Result<()> {
        if self.init {
            init::InitGuard.kill(child, signal)
        } else {
            child.signal_group(signal)
        }
    }

    fn reaped(&mut self, status: Option<ExitStatus>) {
        if status.is_none() {
            // The init may still run: its verdict cannot be waited for.
            self.netns = None;
        }
    }

    fn ended(
        &mut self,
        status: ExitStatus,
        usage: Option<Usage>,
    ) -> (Option<EndReason>, Option<Usage>) {
        // Past the soft limit the kernel sends SIGXCPU (seen as such), past
        // the hard one, a second later, SIGKILL.
        let at_limit = match (self.cpu_limit, usage) {
            (Some(limit), Some(u)) => (u.user + u.system).as_secs_f64() >= limit as f64 - 0.05,
            _ => false,
        };
        let reason = (status == ExitStatus::Signaled(libc::SIGKILL) && at_limit)
            .then_some(EndReason::CpuLimit);
        (reason, None)
    }

    fn cleanup(&mut self) -> Result<()> {
        if let Some((netns, report)) = self.netns.take() {
            netns_pool::POOL.give_back(netns, &report);
        }
        match self.pids.take() {
            Some(leaf) => leaf.remove(std::time::Duration::from_secs(2)),
            None => Ok(()),
        }
    }
}

/// What the view showed, for the report.
type ViewReport = Option<Vec<(String, String)>>;

impl Landrun {
    fn start(
        &self,
        program: &crate::spawn::Program,
        plan: &Plan,
        ns: Namespaces,
        cwd: Option<&std::path::Path>,
    ) -> std::result::Result<(Process, ViewReport), launch::Failure> {
        let s = &self.settings;
        let best_effort = s.best_effort;
        let with_view = ns.mount && !s.unrestricted_filesystem;
        // The ruleset now, its rules and the view while the kernel makes
        // the namespaces (see `launch::spawn`).
        let (ruleset, rules) = ruleset::begin(plan)?.unzip();
        let mut planned: Option<namespaces::View> = None;
        let prepare = || -> std::result::Result<Option<namespaces::Compiled>, launch::Failure> {
            let view = if with_view {
                let v =
                    namespaces::plan_view(&plan.paths, &namespaces::Host, best_effort, ns.user)?;
                let staging = namespaces::staging_folder(&namespaces::Host)?;
                let compiled = v.compile(&staging)?;
                planned = Some(v);
                Some(compiled)
            } else {
                None
            };
            if let Some(rules) = rules {
                let later = |p: &std::path::Path| with_view && namespaces::inside_view(p);
                rules.add(plan, best_effort, later)?;
            }
            Ok(view)
        };
        let id_maps = ns.user.then(IdMaps::current);
        let init_fds = if ns.pid {
            Some((
                std::os::fd::AsRawFd::as_raw_fd(&crate::helper::helper_fd()?),
                crate::helper::caller_pidfd()?,
            ))
        } else {
            None
        };
        // Root is exempt from RLIMIT_NPROC: a pids cgroup bounds the tree.
        let pids = match (s.limits.processes, ns.user) {
            (Some(max), false) => match cgroup::find("pids") {
                Some(h) => {
                    let leaf = Leaf::create(&h, "max_processes")?;
                    leaf.write("pids.max", &(max + u64::from(ns.pid)).to_string())?;
                    Some(leaf)
                }
                None if best_effort => None,
                None => {
                    return Err(Error::requirements(
                        "max_processes for a privileged caller needs a pids cgroup, and none is available here",
                    )
                    .into())
                }
            },
            _ => None,
        };
        let pids_fd: Option<OwnedFd> = pids.as_ref().map(|l| l.procs_fd()).transpose()?;
        // A working folder asked for must be there; the caller's own is
        // entered when the sandbox has it, else the command starts in /.
        let cwd = match cwd {
            Some(dir) => Some((
                CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
                    Error::invalid_argument(format!("working folder {dir:?} holds a NUL byte"))
                })?,
                true,
            )),
            None => std::env::current_dir().ok().and_then(|d| {
                CString::new(d.as_os_str().as_bytes())
                    .ok()
                    .map(|c| (c, false))
            }),
        };
        let mounts = match (with_view, ns.mount) {
            (true, _) => Mounts::View,
            (false, true) => Mounts::ProcOnly,
            (false, false) => Mounts::Host,
        };
        let privileges = privileges::prepare()?;
        let limits = limits::prepare(s.limits, ns.user && ns.pid)?;
        let mut lines = vec![Line::Spawn("landrun")];
        if let Some(leaf) = &pids {
            lines.push(Line::Cgroup(&leaf.dir));
        }
        let record = Record::begin(&lines);
        // An empty network namespace of an earlier sandbox of this process
        // is joined rather than a new one made (see `netns_pool`): with an
        // init to vouch for it, and owned by the caller (no user namespace).
        let pool_netns = ns.pid && ns.network && !ns.user;
        let idle_netns = if pool_netns {
            netns_pool::POOL.take()
        } else {
            None
        };
        let from = now_ticks();
        let started = launch::spawn(
            program,
            Confinement {
                namespaces: ns,
                id_maps: id_maps.as_ref(),
                mounts,
                ruleset: ruleset.as_ref(),
                seccomp: Some(if ns.network {
                    &self.filters
                } else {
                    &self.filters_no_netns
                }),
                limits,
                privileges,
                pids_cgroup: pids_fd.as_ref(),
                cwd,
                netns: idle_netns.as_ref().map(netns_pool::Netns::fd),
                report_netns: pool_netns,
            },
            init_fds,
            prepare,
        )?;
        record.add(Line::Pid {
            pid: started.spawned.child.pid(),
            from,
            to: now_ticks(),
        });
        let report = planned.map(|v| {
            v.binds
                .iter()
                .map(|b| (namespaces::display(&b.path), mount_mode(b.attrs)))
                .collect()
        });
        let netns = match started.netns_report {
            Some(report) => idle_netns
                .or_else(|| netns_pool::Netns::of_child(started.spawned.child.pid()))
                .map(|netns| (netns, report)),
            None => None,
        };
        let guard = Guard {
            init: ns.pid,
            pids,
            cpu_limit: s.limits.cpu_seconds,
            netns,
        };
        let process = Process::new(started.spawned, Box::new(guard)).with_record(record);
        Ok((process, report))
    }

    /// Attaches the report of what the spawn enforced, built when it is
    /// first asked for: most callers never ask, and building it took about
    /// 80 us of each spawn in the caller.
    fn attach_report(
        &self,
        process: Process,
        plan: Plan,
        ns: Namespaces,
        view: ViewReport,
        missing_ns: Option<String>,
    ) -> Process {
        let reporter = self.reporter();
        process.with_enforcement_from(move || reporter.report(&plan, ns, view, missing_ns))
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            settings: Arc::clone(&self.settings),
            abi: self.abi,
            privileged: self.privileged,
        }
    }
}

/// What a landrun report needs of its runner.
#[derive(Debug)]
struct Reporter {
    settings: Arc<Settings>,
    abi: std::result::Result<ABI, Errno>,
    privileged: bool,
}

impl Reporter {
    fn report(
        &self,
        plan: &Plan,
        ns: Namespaces,
        view: ViewReport,
        missing_ns: Option<String>,
    ) -> Enforcement {
        let s = &self.settings;
        let mut e = Enforcement::new("landrun").best_effort(s.best_effort);
        let landlock_on = !plan.is_empty() && self.abi.is_ok();
        e = e.layer(
            "landlock",
            landlock_on,
            if landlock_on {
                "landlock_restrict_self"
            } else {
                "none"
            },
            self.landlock_json(plan),
        );
        if let Err(errno) = self.abi {
            if !s.unrestricted_filesystem || s.restricts_tcp() {
                e = e.missing(
                    "landlock",
                    format!("not available: {}", std::io::Error::from(errno)),
                );
            }
        }
        let fs_method = match (
            &view,
            s.unrestricted_filesystem,
            landlock_on && !plan.handled_fs.is_empty(),
        ) {
            (Some(_), _, true) => "mount namespace view and Landlock",
            (Some(_), _, false) => "mount namespace view",
            (None, true, _) => "unrestricted",
            (None, false, true) => "Landlock",
            (None, false, false) => "none",
        };
        e = e.layer(
            "filesystem",
            fs_method != "unrestricted" && fs_method != "none",
            fs_method,
            json!({"mounts": view.as_ref().map(|v| v.iter().map(|(p, m)| json!({"path": p, "mode": m})).collect::<Vec<_>>())}),
        );
        let net_method = if s.allow_networking {
            "unrestricted".to_string()
        } else if ns.network {
            "network namespace (loopback only)".to_string()
        } else if landlock_on && !plan.handled_net.is_empty() {
            "Landlock TCP rules; seccomp denies UDP, raw and packet sockets".to_string()
        } else {
            "none".to_string()
        };
        e = e.layer(
            "network",
            !s.allow_networking && net_method != "none",
            net_method,
            json!({"allowed_bind_tcp": s.bind_tcp, "allowed_connect_tcp": s.connect_tcp}),
        );
        e = e.layer(
            "namespaces",
            ns != Namespaces::NONE,
            if ns == Namespaces::NONE {
                "none"
            } else {
                "clone"
            },
            json!({"namespaces": ns.names()}),
        );
        if let Some(why) = missing_ns {
            e = e.missing("namespaces", why);
        }
        e = e.layer(
            "seccomp",
            true,
            "baseline filter (EPERM), clone3 ENOSYS",
            json!({"denied": seccomp::denied_names(), "udp_and_raw_denied": !s.allow_networking && !ns.network}),
        );
        e = e.layer(
            "capabilities",
            true,
            "all sets emptied (effective, permitted, inheritable, ambient, bounding), securebits locked",
            json!({}),
        );
        e = e.layer(
            "no_new_privs",
            true,
            "prctl(PR_SET_NO_NEW_PRIVS)",
            json!({}),
        );
        e = e.layer(
            "terminal",
            true,
            "own session (setsid): no controlling terminal; TIOCSTI denied by seccomp",
            json!({}),
        );
        e = e.layer(
            "limits",
            s.limits != rules::Limits::default(),
            "setrlimit",
            self.limits_json(ns),
        );
        let (containment, dies) = if ns.pid {
            (
                "PID namespace: its init ends every process when the command exits",
                "the sandbox's init polls the caller's pidfd",
            )
        } else {
            ("process group", "none")
        };
        e = e.layer("containment", true, containment, json!({}));
        e = e.layer("die_with_caller", ns.pid, dies, json!({}));
        e = s.env.report(e);
        e
    }
}

impl Reporter {
    /// The Landlock part of a plan, for the report and the explanation.
    fn landlock_json(&self, plan: &Plan) -> serde_json::Value {
        json!({
            "abi": self.abi.ok().map(|a| a as i32),
            "filesystem_rights": fs_names(plan.handled_fs),
            "network_rights": net_names(plan.handled_net),
            "scopes": scope_names(plan.scopes),
            "paths": plan.paths.iter().map(|r| json!({
                "path": r.path.display().to_string(),
                "grant": r.grant.origin(),
                "rights": fs_names(r.access),
            })).collect::<Vec<_>>(),
            "tcp_ports": plan.ports.iter().map(|(p, a)| json!({"port": p, "rights": net_names(*a)})).collect::<Vec<_>>(),
        })
    }

    /// The limits and how each is applied with namespaces `ns`.
    fn limits_json(&self, ns: Namespaces) -> serde_json::Value {
        let l = self.settings.limits;
        let nproc_method = if ns.user {
            "RLIMIT_NPROC, counted in the sandbox's user namespace"
        } else if self.privileged {
            "pids cgroup"
        } else {
            "RLIMIT_NPROC (all processes of the user)"
        };
        json!({
            "max_memory_bytes": l.memory_bytes.map(|v| json!({"value": v, "method": "RLIMIT_AS"})),
            "max_processes": l.processes.map(|v| json!({"value": v, "method": nproc_method})),
            "max_open_files": l.open_files.map(|v| json!({"value": v, "method": "RLIMIT_NOFILE"})),
            "max_cpu_seconds": l.cpu_seconds.map(|v| json!({"value": v, "method": "RLIMIT_CPU"})),
        })
    }
}

impl Landrun {
    /// What a spawn would build: the namespaces this system allows, the
    /// Landlock plan, the mount view, the seccomp baseline and the limits,
    /// planned by the code the spawn uses.
    fn explanation(&self, command: &Command) -> Result<Explanation> {
        let s = &self.settings;
        let (cwd, host) = crate::backend::resolve_command(command, &self.settings.env)?;
        let mut notes = Vec::new();
        let ns = match self.namespaces() {
            Ok(ns) => ns,
            Err(e) if s.best_effort => {
                notes.push(format!("best effort, without namespaces: {}", e.message()));
                Namespaces::NONE
            }
            // The requirements check below names it.
            Err(_) => self.wanted(),
        };
        if let Err(e) = self.check_requirements() {
            notes.push(format!("a spawn would fail: {}", e.message()));
        }
        let plan = rules::plan(s, &command.params, self.effective_abi(), ns.network)?;
        let mounts = if ns.mount && !s.unrestricted_filesystem {
            let view =
                namespaces::plan_view(&plan.paths, &namespaces::Host, s.best_effort, ns.user)?;
            notes.push(
                "the view is a new root holding only the mounts listed, with the sandbox's own /proc and a minimal /dev"
                    .into(),
            );
            view.binds
                .iter()
                .map(|b| json!({"path": namespaces::display(&b.path), "mode": mount_mode(b.attrs)}))
                .collect()
        } else {
            Vec::new()
        };
        let network = if s.allow_networking {
            "the host's"
        } else if ns.network {
            "a network namespace of its own (loopback only)"
        } else {
            "the host's namespace; Landlock TCP rules, seccomp denies UDP, raw and packet sockets"
        };
        let mut argv = vec![command.program.clone()];
        argv.extend(command.args.iter().cloned());
        let mut e = Explanation::new("landrun")
            .argv(host.path.as_os_str(), &argv)
            .set(
                "working_folder",
                json!(cwd.as_deref().map(|d| crate::explain::text(d.as_os_str()))),
            )
            .set(
                "landlock",
                if self.abi.is_ok() && !plan.is_empty() {
                    self.reporter().landlock_json(&plan)
                } else {
                    serde_json::Value::Null
                },
            )
            .set("namespaces", json!(ns.names()))
            .set("mounts", json!(mounts))
            .set(
                "seccomp",
                json!({
                    "action": "EPERM (clone3: ENOSYS)",
                    "denied": seccomp::denied_names(),
                    "udp_and_raw_denied": !s.allow_networking && !ns.network,
                }),
            )
            .set(
                "capabilities",
                json!("none: every set emptied, securebits locked, no_new_privs"),
            )
            .set("network", json!(network))
            .set("limits", self.reporter().limits_json(ns))
            .set(
                "containment",
                json!(if ns.pid {
                    "a PID namespace whose init ends every process when the command exits, and when the caller dies"
                } else {
                    "its process group"
                }),
            )
            .environment(&host.vars);
        if let Err(errno) = self.abi {
            notes.push(format!(
                "Landlock is not available: {}",
                std::io::Error::from(errno)
            ));
        }
        for n in notes {
            e = e.note(n);
        }
        Ok(e)
    }
}

fn mount_mode(attrs: u64) -> String {
    let mut parts = vec![if attrs & namespaces::ATTR_RDONLY != 0 {
        "ro"
    } else {
        "rw"
    }];
    for (bit, name) in [
        (namespaces::ATTR_NOSUID, "nosuid"),
        (namespaces::ATTR_NODEV, "nodev"),
        (namespaces::ATTR_NOEXEC, "noexec"),
    ] {
        if attrs & bit != 0 {
            parts.push(name);
        }
    }
    parts.join(",")
}

macro_rules! flag_names {
    ($($name:ident: $t:ty),*) => {$(
        fn $name(flags: BitFlags<$t>) -> Vec<String> {
            flags.iter().map(|f| format!("{f:?}")).collect()
        }
    )*};
}
flag_names!(fs_names: AccessFs, net_names: AccessNet, scope_names: Scope);
