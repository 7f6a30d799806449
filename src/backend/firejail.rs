//! The `firejail` runner: each spawn renders a profile from the options, the
//! params and the host, writes it to a private temporary file, and runs
//! `firejail --quiet --deterministic-exit-code --keep-fd=3 --profile=FILE
//! /bin/sh -c REAPER rr-firejail /abs/program args...` with the caller's
//! pipes as the program's stdio (with a working folder, the shell changes
//! there first, see [`REAPER_IN_FOLDER`]). The spawn returns once the jail
//! is set up (a failed set-up is retried, then reported with firejail's
//! message). The file is removed when the process is reaped.

#[cfg(target_os = "linux")]
mod io_uring;
mod profile;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use once_cell::sync::OnceCell;
use serde_json::json;

use crate::backend::profile_file::{ProfileFile, ProfileOptions};
use crate::backend::{host_shell, resolve_command, Backend};
use crate::enforcement::Enforcement;
use crate::error::{Error, ErrorKind, Result};
use crate::explain::Explanation;
use crate::owner::now_ticks;
use crate::process::Process;
use crate::record::{Line, Record};
use crate::runner::Command;
use crate::spawn::{find_program, pipe_above_stdio, Program};

/// Sets the jail's locked-memory limit to 0 (which keeps io_uring out of
/// reach where the kernel charges its rings to that limit, see `io_uring`;
/// without capabilities the command cannot raise it), tells the runner the
/// jail is set up (a byte on fd 3, which it then closes), runs the program,
/// kills whatever the program left in the jail's pid namespace (`kill -1`
/// spares only the shell itself and the namespace's init) and exits with
/// the program's status. firejail otherwise waits for every process left in
/// the jail, and its `--deterministic-shutdown` sleeps a fixed 100 ms on
/// every exit, tripling the cost of a short command.
const REAPER: &str = "ulimit -l 0 || exit 125; printf x >&3; exec 3>&-; \"$@\"; s=$?; kill -9 -1 2>/dev/null; exit $s";

/// [`REAPER`] for a spawn with a working folder, given as the first
/// argument: after the same limit, the jail's shell changes there, and
/// reports `c` on fd 3 instead when the folder is not reachable inside the
/// jail.
const REAPER_IN_FOLDER: &str = "ulimit -l 0 || exit 125; \
     cd \"$1\" || { printf c >&3; exit 126; }; shift; \
     printf x >&3; exec 3>&-; \"$@\"; s=$?; kill -9 -1 2>/dev/null; exit $s";

/// How many times a jail whose set-up failed is started afresh. firejail
/// 0.9.72 aborts its set-up when another program (a container engine, say)
/// changes the host's mounts at that moment; a new attempt then succeeds.
const SETUP_ATTEMPTS: usize = 3;

/// The shell that runs [`REAPER`] inside the jail.
const REAPER_SHELL: &str = "/bin/sh";

/// Name prefix of the profile files this runner writes in the temp folder.
pub(crate) const PROFILE_PREFIX: &str = "rr-firejail-";

/// Option keys of the `firejail` runner beyond those of both profile
/// runners.
const EXTRA_KEYS: &[&str] = &["allow_unix_sockets"];

#[derive(Debug)]
pub(crate) struct Firejail {
    options: ProfileOptions,
    /// Where firejail is: looked up in PATH by the first check that finds
    /// it (not when the runner is built), then kept.
    firejail: OnceCell<PathBuf>,
    /// Whether the profile must refuse io_uring by seccomp, because the
    /// locked-memory limit does not keep it out of reach on this machine.
    io_uring_seccomp: bool,
}

/// See [`Firejail::prepare`].
struct Prepared {
    cwd: Option<PathBuf>,
    program: PathBuf,
    vars: Vec<(OsString, OsString)>,
    text: String,
}

/// Finds firejail in `path` (a PATH value).
fn find_firejail(path: Option<&OsStr>) -> Result<PathBuf> {
    find_program(OsStr::new("firejail"), path).map_err(|_| {
        Error::requirements(
            "the firejail runner needs the firejail program, which is not in PATH; \
             install it (Debian/Ubuntu: apt-get install firejail; Fedora: dnf install firejail)",
        )
    })
}

impl Firejail {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        let options =
            ProfileOptions::parse("firejail", options_json, EXTRA_KEYS, profile::check_path)?;
        #[cfg(target_os = "linux")]
        let io_uring_seccomp = !io_uring::memlock_limit_stops_io_uring();
        #[cfg(not(target_os = "linux"))]
        let io_uring_seccomp = true;
        Ok(Firejail {
            options,
            firejail: OnceCell::new(),
            io_uring_seccomp,
        })
    }

    fn firejail(&self) -> Result<&Path> {
        self.firejail
            .get_or_try_init(|| find_firejail(std::env::var_os("PATH").as_deref()))
            .map(PathBuf::as_path)
    }

    /// What both a spawn and its explanation start from: the working
    /// folder, the program found on the host, the command's environment
    /// and the profile rendered for them.
    fn prepare(&self, command: &Command) -> Result<Prepared> {
        let (cwd, host) = resolve_command(command, &self.options.env)?;
        let text = self.render(command, &host.vars, &host.path)?;
        Ok(Prepared {
            cwd,
            program: host.path,
            vars: host.vars,
            text,
        })
    }

    fn render(
        &self,
        command: &Command,
        vars: &[(OsString, OsString)],
        program: &Path,
    ) -> Result<String> {
        if let Some(custom) = &self.options.custom_profile {
            return Ok(custom.clone());
        }
        let paths = self
            .options
            .render_paths(&command.params, profile::check_path)?;
        let passwd_home = passwd_home();
        let env_home = vars
            .iter()
            .rev()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.to_str().ok_or_else(|| not_utf8("HOME", v)))
            .transpose()?;
        let caller_home = std::env::var_os("HOME");
        let caller_home = caller_home
            .as_deref()
            .map(|h| h.to_str().ok_or_else(|| not_utf8("the caller's HOME", h)))
            .transpose()?;
        let program = program
            .to_str()
            .ok_or_else(|| not_utf8("the command", program.as_os_str()))?;
        let mounts = host_mounts()?;
        let host = profile::Host {
            passwd_home: passwd_home.as_deref(),
            caller_home,
            env_home,
            program: Some(program),
            mounts: &mounts,
        };
        let settings = profile::Settings {
            allow_networking: self.options.allow_networking,
            allow_user_folders: self.options.allow_user_folders,
            allow_unix_sockets: self.options.allow_unix_sockets,
            io_uring_seccomp: self.io_uring_seccomp,
        };
        profile::render(settings, &paths, &host)
    }
}

fn not_utf8(what: &str, v: &OsStr) -> Error {
    Error::invalid_options(format!(
        "{what} {v:?} is not UTF-8; the firejail runner cannot name it in a profile"
    ))
}

/// The home folder of the passwd entry, which firejail's `${HOME}` means.
fn passwd_home() -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
    user.dir.to_str().map(str::to_string)
}

/// The mount points of this process's mount namespace, which the jail
/// starts from. A point that is not UTF-8 is cut back to its last UTF-8
/// ancestor: making that read-only covers it.
fn host_mounts() -> Result<Vec<String>> {
    let text = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| Error::from_io(ErrorKind::Io, "reading /proc/self/mountinfo", &e))?;
    Ok(text
        .split(|&b| b == b'\n')
        .filter(|line| !is_transient_mount(line))
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(|field| {
            let raw = unescape_mountinfo(field);
            match std::str::from_utf8(&raw) {
                Ok(s) => s.to_string(),
                Err(e) => {
                    let valid = &raw[..e.valid_up_to()];
                    let cut = valid.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    String::from_utf8_lossy(&valid[..cut.max(1)]).into_owned()
                }
            }
        })
        .collect())
}

/// Mounts the profile must not name: namespace files (a container engine
/// creates and removes them under /run/netns at any time, and firejail fails
/// when a mount it was told about vanishes or changes during its set-up), and
/// /proc and /sys, which firejail mounts for the jail itself.
fn is_transient_mount(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let mut fields = text.split(' ');
    let mount_point = fields.nth(4).unwrap_or("");
    let fstype = text
        .split(" - ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next());
    fstype == Some("nsfs")
        || ["/proc", "/sys", "/run/netns"]
            .iter()
            .any(|p| mount_point == *p || mount_point.starts_with(&format!("{p}/")))
}

/// Undoes the kernel's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape_mountinfo(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            let v = field[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

impl Backend for Firejail {
    fn check_requirements(&self) -> Result<()> {
        if !cfg!(target_os = "linux") {
            return Err(Error::requirements(format!(
                "the firejail runner needs Linux; this system is {}",
                std::env::consts::OS
            )));
        }
        let found = find_firejail(std::env::var_os("PATH").as_deref())?;
        let _ = self.firejail.set(found);
        Ok(())
    }

    fn default_shell(&self) -> OsString {
        host_shell(self.options.shell.as_deref())
    }

    fn explain(&self, command: &Command) -> Result<Explanation> {
        self.explanation(command)
    }

    fn env_policy(&self) -> &crate::env::EnvPolicy {
        &self.options.env
    }

    fn spawn(&self, command: &Command) -> Result<Process> {
        let firejail = self.firejail()?;
        let Prepared {
            cwd,
            program,
            vars,
            text,
        } = self.prepare(command)?;
        let record = Record::begin(&[Line::Spawn("firejail")]);
        let file = ProfileFile::write(PROFILE_PREFIX, ".profile", &text)?;
        record.add(Line::Unlink(file.path()));
        let mut p = Program::new(firejail, OsStr::new("firejail"))?;
        p.args(jail_args(
            file.path(),
            cwd.as_deref(),
            &program,
            &command.args,
        ))?
        .env(&vars)?
        .stdio(command.stdio);
        // Out of the caller's session: the jail has no controlling terminal
        // to push input into (TIOCSTI through an inherited terminal or
        // /dev/tty), and an inherited terminal is an ordinary fd to it.
        #[cfg(target_os = "linux")]
        p.new_session();
        // A failure from here on drops `file`, which removes it.
        let mut failure = String::new();
        for _ in 0..SETUP_ATTEMPTS {
            let (ready, ready_in_jail) = pipe_above_stdio()?;
            let from = now_ticks();
            let mut spawned = p.spawn_with_fd3(ready_in_jail.as_fd())?;
            drop(ready_in_jail);
            let report = jail_report(&ready)?;
            if report == Some(b'x') {
                // Killing firejail ends its jail: its sandbox dies with it.
                record.add(Line::Pid {
                    pid: spawned.child.pid(),
                    from,
                    to: now_ticks(),
                });
                let enforced = enforcement(&text, &record, &self.options.env);
                return Ok(Process::new(spawned, Box::new(file))
                    .with_record(record)
                    .with_enforcement(enforced));
            }
            // firejail ended before starting the program; its stderr says why.
            let status = spawned.child.reap()?;
            failure = format!("{status}: {}", tail_of(spawned.stderr.take()));
            if report == Some(b'c') {
                return Err(Error::from_errno(
                    ErrorKind::Spawn,
                    format!(
                        "the working folder {:?} is not reachable inside the jail; the profile \
                         must make it visible ({failure})",
                        cwd.unwrap_or_default()
                    ),
                    nix::errno::Errno::ENOENT,
                ));
            }
        }
        Err(Error::new(
            ErrorKind::Spawn,
            format!("firejail could not set up the sandbox ({SETUP_ATTEMPTS} attempts; last: {failure})"),
        ))
    }
}

/// What a spawn with profile `text` enforces: read from the profile itself
/// (the rendered one, or a custom profile as given), so a report never
/// claims a directive the jail was not given.
fn enforcement(text: &str, record: &Record, env: &crate::env::EnvPolicy) -> Enforcement {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let has = |d: &str| lines.contains(&d);
    let args_of = |d: &str| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(d).and_then(|a| a.strip_prefix(' ')))
            .map(str::to_string)
            .collect()
    };
    let net_none = has("net none");
    let seccomp = lines
        .iter()
        .any(|l| *l == "seccomp" || l.starts_with("seccomp "));
    let protocol = args_of("protocol");
    let mut namespaces = vec!["mount", "pid"];
    if net_none {
        namespaces.push("network");
    }
    env.report(
        Enforcement::new("firejail")
            .layer(
                "filesystem",
                has("read-only /"),
                if has("read-only /") {
                    "firejail profile: the host read-only, listed folders writable, the \
                     blacklisted folders hidden, private /tmp and /dev"
                } else {
                    "as the profile says"
                },
                json!({
                    "read_write": args_of("read-write"),
                    "whitelist": args_of("whitelist"),
                    "blacklist": args_of("blacklist"),
                    "private_tmp": has("private-tmp"),
                    "private_dev": has("private-dev"),
                }),
            )
            .layer(
                "network",
                net_none,
                if net_none {
                    "net none: a network namespace of its own, loopback only"
                } else {
                    "the host's"
                },
                json!({"socket_families": (!protocol.is_empty()).then_some(protocol)}),
            )
            .layer(
                "namespaces",
                true,
                "firejail's",
                json!({ "namespaces": namespaces }),
            )
            .layer(
                "seccomp",
                seccomp,
                if seccomp {
                    "firejail's default filter"
                } else {
                    "none"
                },
                json!({}),
            )
            .layer(
                "capabilities",
                has("caps.drop all"),
                if has("caps.drop all") {
                    "caps.drop all"
                } else {
                    "as the profile says"
                },
                json!({}),
            )
            .layer(
                "no_new_privs",
                has("nonewprivs"),
                if has("nonewprivs") {
                    "nonewprivs"
                } else {
                    "none"
                },
                json!({}),
            )
            .layer(
                "terminal",
                true,
                "own session (setsid): no controlling terminal",
                json!({}),
            )
            .layer(
                "containment",
                true,
                "firejail's PID namespace: its reaper kills what the program leaves, and the \
                 jail ends with firejail",
                json!({}),
            )
            .die_with_caller(
                record.is_recorded(),
                "the caller's watchdog kills firejail, and so its jail, when the caller dies",
            ),
    )
}

/// firejail's arguments for one spawn: the profile file, then the reaper
/// shell running `program args...` (in `cwd` when one is given).
fn jail_args(
    profile: &Path,
    cwd: Option<&Path>,
    program: &Path,
    args: &[OsString],
) -> Vec<OsString> {
    let mut profile_arg = OsString::from("--profile=");
    profile_arg.push(profile);
    // The jail exits with the status of its first process, the reaper,
    // which is the program's own (128+N when a signal ended it).
    let mut v: Vec<OsString> = vec![
        "--quiet".into(),
        "--deterministic-exit-code".into(),
        "--keep-fd=3".into(),
        profile_arg,
        // firejail reads its own options up to the first argument that is
        // not one, this absolute path; without a `--` it runs it directly
        // instead of through the user's shell (`bash -c`).
        REAPER_SHELL.into(),
        "-c".into(),
        if cwd.is_some() {
            REAPER_IN_FOLDER
        } else {
            REAPER
        }
        .into(),
        "rr-firejail".into(),
    ];
    v.extend(cwd.map(|d| d.as_os_str().to_owned()));
    v.push(program.as_os_str().to_owned());
    v.extend(args.iter().cloned());
    v
}

impl Firejail {
    /// What a spawn would run: firejail's argv (the profile file's name is
    /// chosen at spawn time) and the profile rendered as the spawn would.
    fn explanation(&self, command: &Command) -> Result<Explanation> {
        let Prepared {
            cwd,
            program,
            vars,
            text,
        } = self.prepare(command)?;
        let firejail = self
            .firejail()
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from("firejail"));
        let profile = std::env::temp_dir().join(format!("{PROFILE_PREFIX}XXXXXX.profile"));
        let mut argv = vec![firejail.into_os_string()];
        argv.extend(jail_args(&profile, cwd.as_deref(), &program, &command.args));
        let mut e = Explanation::new("firejail")
            .argv(program.as_os_str(), &argv)
            .set(
                "working_folder",
                serde_json::json!(cwd.as_deref().map(|d| crate::explain::text(d.as_os_str()))),
            )
            .set(
                "namespaces",
                serde_json::json!(if text.lines().any(|l| l == "net none") {
                    vec!["mount", "pid", "network"]
                } else {
                    vec!["mount", "pid"]
                }),
            )
            .set(
                "seccomp",
                serde_json::json!(text
                    .lines()
                    .any(|l| l == "seccomp")
                    .then_some("firejail's default filter (the profile's seccomp line)")),
            )
            .set("profile", serde_json::json!(text))
            .set(
                "capabilities",
                serde_json::json!("firejail's defaults (as root: uid 0 with every capability dropped)"),
            )
            .set(
                "network",
                serde_json::json!(if self.options.allow_networking && self.options.custom_profile.is_none() {
                    "the host's"
                } else {
                    "as the profile says (net none: a network namespace of its own, loopback only)"
                }),
            )
            .set(
                "containment",
                serde_json::json!("firejail's PID namespace; the reaper kills what the program leaves (kill -9 -1)"),
            )
            .environment(&vars)
            .note(format!(
                "the profile is written to a private temporary file ({}XXXXXX.profile in {}) and removed when the process is reaped",
                PROFILE_PREFIX,
                std::env::temp_dir().display()
            ));
        if self.firejail().is_err() {
            e = e.note("firejail is not in PATH: a spawn would fail");
        }
        Ok(e)
    }
}

/// Blocks until the jail reports: `x` when the program is about to start,
/// `c` when its working folder is not reachable; None when firejail ended
/// without getting that far.
fn jail_report(ready: &OwnedFd) -> Result<Option<u8>> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(ready, &mut byte) {
            Ok(n) => return Ok((n == 1).then_some(byte[0])),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::from_errno(ErrorKind::Io, "waiting for firejail", e)),
        }
    }
}

/// The last part of what an ended firejail wrote to its stderr pipe.
fn tail_of(stderr: Option<OwnedFd>) -> String {
    let Some(fd) = stderr else {
        return "(its stderr was not captured)".into();
    };
    let mut text = Vec::new();
    let _ = std::fs::File::from(fd)
        .take(64 * 1024)
        .read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    let text = text.trim();
    match text.char_indices().rev().nth(500) {
        Some((i, _)) => format!("...{}", &text[i..]),
        None if text.is_empty() => "(no message)".into(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_firejail_is_a_requirements_error_saying_how_to_get_it() {
        let e = find_firejail(Some(OsStr::new("/nonexistent-rr-path"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Requirements);
        assert!(e.message().contains("firejail program"), "{e}");
        assert!(e.message().contains("apt-get install firejail"), "{e}");
    }

    /// What tests/support/unix-connect.c says when it makes a socket with
    /// io_uring in a jail that refuses io_uring by seccomp or not.
    #[cfg(target_os = "linux")]
    fn io_uring_socket_in_jail(io_uring_seccomp: bool) -> String {
        use crate::spawn::Stdio;
        // Where the jail sees it: not in /tmp, which is private there.
        let base = Path::new("/srv/restricted-runner-tests");
        std::fs::create_dir_all(base).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("rr-fj-unit-")
            .tempdir_in(base)
            .unwrap();
        let helper = dir.path().join("unix-connect");
        let built = std::process::Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&helper)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/unix-connect.c"
            ))
            .output()
            .expect("cc, to build the test helper");
        assert!(built.status.success(), "{built:?}");
        let mut f = Firejail::new(None).unwrap();
        f.io_uring_seccomp = io_uring_seccomp;
        let cmd = Command::new(&helper).args(["uring", "/nonexistent"]).stdio(
            Stdio::Null,
            Stdio::Pipe,
            Stdio::Pipe,
        );
        let mut p = f.spawn(&cmd).expect("the real firejail");
        let (mut out, mut err) = (String::new(), String::new());
        std::fs::File::from(p.take_stdout().unwrap())
            .read_to_string(&mut out)
            .unwrap();
        std::fs::File::from(p.take_stderr().unwrap())
            .read_to_string(&mut err)
            .unwrap();
        let status = p.wait().unwrap();
        assert!(!status.success(), "{status}: {out}{err}");
        out
    }

    /// Both ways of refusing io_uring hold in the real jail: the seccomp
    /// filter (EPERM, before the limit is looked at), and, where the probe
    /// found it enough, the locked-memory limit alone (ENOMEM).
    #[cfg(target_os = "linux")]
    #[test]
    fn io_uring_is_refused_in_the_jail_either_way() {
        assert_eq!(
            io_uring_socket_in_jail(true),
            "socket: Operation not permitted\n"
        );
        if io_uring::memlock_limit_stops_io_uring() {
            assert!(!Firejail::new(None).unwrap().io_uring_seccomp);
            let out = io_uring_socket_in_jail(false);
            assert!(
                out == "socket: Cannot allocate memory\n"
                    || out == "socket: Operation not permitted\n",
                "{out}"
            );
        } else {
            assert!(Firejail::new(None).unwrap().io_uring_seccomp);
        }
    }

    #[test]
    fn rendering_leaves_the_runner_unchanged() {
        let f = Firejail::new(Some(r#"{"allow_write_folders": ["/srv/{{ .d }}"]}"#)).unwrap();
        let render = |d: &str| {
            let mut p = crate::template::Params::new();
            p.insert("d", d);
            f.render(
                &Command::new("true").params(p),
                &[],
                Path::new("/usr/bin/true"),
            )
            .unwrap()
        };
        assert!(render("a").contains("\nread-write /srv/a\n"));
        assert!(render("b").contains("\nread-write /srv/b\n"));
        assert!(render("a").contains("\nread-write /srv/a\n"));
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(br"/mnt/a\040b\134c"), b"/mnt/a b\\c");
        assert_eq!(unescape_mountinfo(br"/x\04"), br"/x\04");
        assert_eq!(unescape_mountinfo(br"/plain"), b"/plain");
    }

    #[test]
    fn host_mounts_include_root() {
        assert!(host_mounts().unwrap().iter().any(|m| m == "/"));
    }

    #[test]
    fn namespace_proc_and_sys_mounts_are_left_to_firejail() {
        let nsfs = b"612 29 0:4 net:[4026532651] /run/netns/netns-1 rw shared:289 - nsfs nsfs rw";
        let proc_sub =
            b"40 22 0:21 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw";
        let home = b"30 1 8:2 / /home rw,relatime shared:2 - ext4 /dev/sda2 rw";
        assert!(is_transient_mount(nsfs));
        assert!(is_transient_mount(proc_sub));
        assert!(!is_transient_mount(home));
    }
}
