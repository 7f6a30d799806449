//! Per-stream stdio (`Stdio::Fd`, `Stdio::Stdout`, `Stdio::Inherit`)
//! against every real runner of this machine: the child really holds the
//! caller's fd (it reads and writes files the test opened and that have no
//! path the sandbox could open), stderr follows stdout, the child gets fds
//! 0 to 2 and nothing else, a pty stays a terminal, and the caller's
//! controlling terminal neither stops the child (job control) nor lets a
//! sandboxed one push input into it (TIOCSTI, through the inherited fd or
//! /dev/tty). Bad stdio is an error naming the stream that leaves nothing
//! behind.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Runner, Stdio};

/// Held shared by the tests that spawn under firejail, exclusively by the
/// one that counts profile files left behind.
static PROFILES: RwLock<()> = RwLock::new(());

const IMAGE_LABEL: &str = "rr-stdio-case";

/// The runners under test, by the names the tests use.
fn runner(name: &str) -> Runner {
    let options = match name {
        "exec" => None,
        // /proc for the fd listing; nothing else of the host's files.
        "landrun" => Some(serde_json::json!({
            "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
            "allow_read_folders": ["/etc", "/proc"],
        })),
        "firejail" => Some(serde_json::json!({})),
        "podman" | "docker" => {
            let sock = std::env::var("RR_DOCKER_SOCK")
                .unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
            // Set before any docker spawn of this binary; every test sets
            // the same value.
            std::env::set_var("DOCKER_HOST", sock);
            let image = std::env::var("RR_TEST_IMAGE")
                .unwrap_or_else(|_| "localhost/rr-test:latest".into());
            // No network: an engine's network namespaces are mounts under
            // /run/netns, which reach a firejail starting meanwhile (in
            // another test) and make it abort ("invalid read-only mount").
            Some(serde_json::json!({
                "image": image,
                "engine": name,
                "pull": "never",
                "allow_networking": false,
                "docker_run_opts": format!("--label {IMAGE_LABEL}={}", std::process::id()),
            }))
        }
        other => panic!("no runner {other}"),
    };
    let kind = match name {
        "podman" => "docker",
        other => other,
    };
    Runner::new(kind, options.map(|o| o.to_string()).as_deref()).unwrap_or_else(|e| {
        panic!("the {name} runner is unavailable ({e}): run tests/support/setup-env.sh")
    })
}

/// The docker runner's CLI relays the streams: the command in the
/// container sees pipes, never the caller's fds.
fn relayed(name: &str) -> bool {
    matches!(name, "podman" | "docker")
}

/// A file with no name in any folder (an unlinked temp file): only its fd
/// reaches it.
fn nameless_file(content: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(content).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f
}

fn contents(f: &mut File) -> String {
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut s).unwrap();
    s
}

fn finish(p: restricted_runner::Process, what: &str) {
    let status = p.wait().unwrap();
    assert!(status.success(), "{what}: {status}");
}

/// The child reads stdin from the caller's file and writes stdout and
/// stderr into the caller's files; nothing is handed back.
fn fds_are_the_callers(name: &str) {
    let r = runner(name);
    let input = nameless_file(b"line one\nline two\n");
    let mut out = nameless_file(b"");
    let mut err = nameless_file(b"");
    let mut p = r
        .spawn(&sh("cat; echo to-stderr >&2").stdio(
            Stdio::Fd(input.as_raw_fd()),
            Stdio::Fd(out.as_raw_fd()),
            Stdio::Fd(err.as_raw_fd()),
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(p.take_stdin().is_none() && p.take_stdout().is_none() && p.take_stderr().is_none());
    finish(p, name);
    assert_eq!(contents(&mut out), "line one\nline two\n", "{name}");
    assert_eq!(contents(&mut err), "to-stderr\n", "{name}");
}

/// `Stdio::Stdout` sends stderr wherever stdout goes: its pipe, or its fd.
fn stderr_follows_stdout(name: &str) {
    let r = runner(name);
    let script = "echo one; echo two >&2; echo three";
    let lines = |text: &str| {
        let mut l: Vec<String> = text.lines().map(str::to_string).collect();
        if relayed(name) {
            // The CLI relays the two streams separately.
            l.sort();
        }
        l
    };
    let want = if relayed(name) {
        vec!["one", "three", "two"]
    } else {
        vec!["one", "two", "three"]
    };
    let mut p = r
        .spawn(&sh(script).stdio(Stdio::Null, Stdio::Pipe, Stdio::Stdout))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(p.take_stderr().is_none(), "{name}: stderr handed back");
    let mut text = String::new();
    File::from(p.take_stdout().unwrap())
        .read_to_string(&mut text)
        .unwrap();
    finish(p, name);
    assert_eq!(lines(&text), want, "{name}: {text:?}");

    let mut out = nameless_file(b"");
    let p = r
        .spawn(&sh(script).stdio(Stdio::Null, Stdio::Fd(out.as_raw_fd()), Stdio::Stdout))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    finish(p, name);
    let text = contents(&mut out);
    assert_eq!(lines(&text), want, "{name}: {text:?}");
}

/// Given the caller's fds, the child still has exactly 0, 1 and 2: neither
/// the originals nor an inheritable fd of the caller's come along.
fn only_fds_0_to_2(name: &str) {
    let r = runner(name);
    let input = nameless_file(b"");
    let mut out = nameless_file(b"");
    // An inheritable copy at a free number of 200 or more.
    // SAFETY: F_DUPFD returns a new fd, owned below.
    let stray = unsafe { OwnedFd::from_raw_fd(libc::fcntl(input.as_raw_fd(), libc::F_DUPFD, 200)) };
    let p = r
        .spawn(&Command::new("ls").args(["-l", "/proc/self/fd"]).stdio(
            Stdio::Fd(input.as_raw_fd()),
            Stdio::Fd(out.as_raw_fd()),
            Stdio::Stdout,
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    finish(p, name);
    let listing = contents(&mut out);
    assert_eq!(listed_fds(&listing), ["0", "1", "2"], "{name}:\n{listing}");
    drop(stray);
}

/// Reads the pty master until `done` shows in what came, the slave side is
/// gone (EIO), or `within` passes; returns what came.
fn read_pty_until(master: &mut File, done: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(done) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if n <= 0 {
            continue;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A pty given as the three streams stays a terminal for the command
/// (under docker the CLI relays it: the data flows, the command sees pipes).
fn pty_stays_a_terminal(name: &str) {
    let r = runner(name);
    let (mut master, slave) = pty();
    let fd = slave.as_raw_fd();
    let script =
        "if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo is-a-tty; else echo not-a-tty; fi; \
                  read line; echo \"read:$line\"";
    let p = r
        .spawn(&sh(script).stdio(Stdio::Fd(fd), Stdio::Fd(fd), Stdio::Fd(fd)))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    drop(slave);
    master.write_all(b"typed\n").unwrap();
    let got = read_pty_until(&mut master, "read:typed", Duration::from_secs(60));
    finish(p, name);
    let want = if relayed(name) {
        "not-a-tty"
    } else {
        "is-a-tty"
    };
    assert!(got.contains(want), "{name}: {got:?}");
    assert!(got.contains("read:typed"), "{name}: {got:?}");
}

/// What the command run by the helper does with the terminal it inherits:
/// reads it (SIGTTIN would stop a child of the terminal's session outside
/// its foreground group), sets its modes (SIGTTOU), then tries to push
/// input into it through the inherited fd and through /dev/tty.
const TERMINAL_PROBE: &str = r##"
import fcntl, os, sys, termios
print("tty" if all(os.isatty(i) for i in range(3)) else "no-tty", flush=True)
print("read:" + sys.stdin.readline().strip(), flush=True)
termios.tcsetattr(0, termios.TCSANOW, termios.tcgetattr(0))
print("modes set", flush=True)
for name in ("stdin", "/dev/tty"):
    try:
        fd = 0 if name == "stdin" else os.open("/dev/tty", os.O_RDWR)
        fcntl.ioctl(fd, termios.TIOCSTI, b"#")
        print(name, "INJECTED", flush=True)
    except OSError as e:
        print(name, "denied", e.errno, flush=True)
"##;

/// Tries to push input into the controlling terminal through /dev/tty.
const DEV_TTY_PROBE: &str = r##"
import fcntl, os, termios
try:
    fcntl.ioctl(os.open("/dev/tty", os.O_RDWR), termios.TIOCSTI, b"#")
    print("/dev/tty INJECTED", flush=True)
except OSError as e:
    print("/dev/tty denied", e.errno, flush=True)
"##;

/// Runs this test binary's `helper` test in a child whose stdio is `stdio`
/// (and, with `controlling`, a session of its own whose controlling
/// terminal is that pty), with `RR_STDIO_HELPER=<mode>:<runner>`.
fn start_helper(
    mode: &str,
    name: &str,
    stdio: [std::process::Stdio; 3],
    controlling: bool,
) -> std::process::Child {
    let [stdin, stdout, stderr] = stdio;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "helper", "--nocapture", "--test-threads=1", "-q"])
        .env("RR_STDIO_HELPER", format!("{mode}:{name}"))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr);
    if controlling {
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap()
}

/// The helper's side: runs the probe under the runner with the three
/// streams inherited, then says how it ended.
#[test]
fn helper() {
    let Ok(what) = std::env::var("RR_STDIO_HELPER") else {
        return;
    };
    let (mode, name) = what.split_once(':').unwrap();
    let r = runner(name);
    let cmd = match (mode, relayed(name)) {
        ("terminal", false) => Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(TERMINAL_PROBE),
        ("terminal", true) => {
            sh("[ -t 0 ] && echo tty || echo no-tty; read line; echo \"read:$line\"")
        }
        ("dev-tty", _) => {
            // No stream is the terminal: only /dev/tty could reach it.
            let mut p = r
                .spawn(
                    &Command::new("/usr/bin/python3")
                        .arg("-c")
                        .arg(DEV_TTY_PROBE)
                        .stdio(Stdio::Null, Stdio::Pipe, Stdio::Stdout),
                )
                .unwrap();
            let mut said = String::new();
            File::from(p.take_stdout().unwrap())
                .read_to_string(&mut said)
                .unwrap();
            print!("{said}");
            eprintln!("helper done: {}.", p.wait().unwrap());
            return;
        }
        (mode, _) => {
            if mode == "inherit-cloexec" {
                // The caller's streams marked close-on-exec: the command
                // still gets them, as an inherited stream is meant to.
                for fd in 0..3 {
                    // SAFETY: F_SETFD on this process's own open fds.
                    assert_eq!(
                        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                        0
                    );
                }
            }
            sh("cat; echo to-stderr >&2")
        }
    };
    let p = r
        .spawn(&cmd.stdio(Stdio::Inherit, Stdio::Inherit, Stdio::Inherit))
        .unwrap();
    let status = p.wait().unwrap();
    eprintln!("helper done: {status}.");
}

/// `Stdio::Inherit` gives the child the caller's own fds 0, 1 and 2
/// (files here, through a helper process whose stdio they are), also when
/// the caller marked them close-on-exec.
fn inherit_is_the_callers(name: &str) {
    for mode in ["inherit", "inherit-cloexec"] {
        inherit_is_the_callers_in(name, mode);
    }
}

fn inherit_is_the_callers_in(name: &str, mode: &str) {
    let what = format!("{name} ({mode})");
    let input = nameless_file(b"inherited input\n");
    let mut out = nameless_file(b"");
    let mut err = nameless_file(b"");
    let mut helper = start_helper(
        mode,
        name,
        [
            input.try_clone().unwrap().into(),
            out.try_clone().unwrap().into(),
            err.try_clone().unwrap().into(),
        ],
        false,
    );
    assert!(helper.wait().unwrap().success(), "{what}");
    let (out, err) = (contents(&mut out), contents(&mut err));
    assert!(out.contains("inherited input\n"), "{what}: {out:?}");
    assert!(err.contains("to-stderr\n"), "{what}: {err:?}");
    assert!(
        err.contains("helper done: exit status 0."),
        "{what}: {err:?}"
    );
}

/// The caller's controlling terminal, inherited: the command reads it and
/// sets its modes without being stopped, and a sandboxed command cannot
/// push input into it.
fn controlling_terminal(name: &str) {
    let (mut master, slave) = pty();
    let fds: Vec<std::process::Stdio> = (0..3).map(|_| slave.try_clone().unwrap().into()).collect();
    let [a, b, c]: [std::process::Stdio; 3] = fds.try_into().unwrap();
    let mut helper = start_helper("terminal", name, [a, b, c], true);
    drop(slave);
    master.write_all(b"typed\n").unwrap();
    let got = read_pty_until(&mut master, ".\r\n", Duration::from_secs(60));
    if !got.contains("helper done") {
        let _ = helper.kill();
    }
    let status = helper.wait().unwrap();
    assert!(
        got.contains("helper done: exit status 0."),
        "{name}: {got:?}"
    );
    assert!(status.success(), "{name}: {got:?}");
    assert!(got.contains("read:typed"), "{name}: {got:?}");
    if relayed(name) {
        assert!(got.contains("no-tty"), "{name}: {got:?}");
        return;
    }
    assert!(
        got.contains("tty\r\n") && got.contains("modes set"),
        "{name}: {got:?}"
    );
    if name != "exec" {
        // exec isolates nothing (as root the command may TIOCSTI any
        // terminal); the sandboxes have no controlling terminal and no
        // capability that would allow it.
        assert!(got.contains("stdin denied"), "{name}: {got:?}");
        assert!(got.contains("/dev/tty denied"), "{name}: {got:?}");
        assert!(!got.contains("INJECTED"), "{name}: {got:?}");
    }
}

/// With the caller's controlling terminal in none of its streams, a
/// sandboxed command still cannot reach it through /dev/tty.
fn dev_tty_is_out_of_reach(name: &str) {
    let (mut master, slave) = pty();
    let fds: Vec<std::process::Stdio> = (0..3).map(|_| slave.try_clone().unwrap().into()).collect();
    let [a, b, c]: [std::process::Stdio; 3] = fds.try_into().unwrap();
    let mut helper = start_helper("dev-tty", name, [a, b, c], true);
    drop(slave);
    let got = read_pty_until(&mut master, ".\r\n", Duration::from_secs(60));
    if !got.contains("helper done") {
        let _ = helper.kill();
    }
    helper.wait().unwrap();
    assert!(
        got.contains("helper done: exit status 0."),
        "{name}: {got:?}"
    );
    assert!(got.contains("/dev/tty denied"), "{name}: {got:?}");
    assert!(!got.contains("INJECTED"), "{name}: {got:?}");
}

#[test]
fn dev_tty_is_out_of_reach_under_firejail() {
    let _shared = PROFILES.read().unwrap_or_else(|p| p.into_inner());
    dev_tty_is_out_of_reach("firejail");
}

#[test]
fn dev_tty_is_out_of_reach_under_landrun() {
    dev_tty_is_out_of_reach("landrun");
}

/// The number of this process's fds open on the file `f`.
fn fds_on(f: &File) -> usize {
    let st = nix::sys::stat::fstat(f).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| {
            use std::os::unix::fs::MetadataExt;
            m.dev() == st.st_dev as u64 && m.ino() == st.st_ino as u64
        })
        .count()
}

fn podman_containers_with_label(value: &str) -> String {
    let out = std::process::Command::new("podman")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("label={IMAGE_LABEL}={value}"))
        .output()
        .expect("podman CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Bad stdio fails the spawn with an error naming the stream, and leaves
/// no fd, profile file or container behind.
fn bad_stdio_leaves_nothing(name: &str) {
    let r = runner(name);
    let (a, b) = (
        tempfile::NamedTempFile::new().unwrap(),
        tempfile::NamedTempFile::new().unwrap(),
    );
    let write_only = std::fs::OpenOptions::new()
        .write(true)
        .open(a.path())
        .unwrap();
    let read_only = File::open(b.path()).unwrap();
    // Above `ulimit -n`: never open.
    let closed: RawFd = 1_000_000;
    let cases: [([Stdio; 3], &str); 5] = [
        (
            [Stdio::Fd(write_only.as_raw_fd()), Stdio::Pipe, Stdio::Pipe],
            "stdin: fd",
        ),
        (
            [Stdio::Pipe, Stdio::Fd(read_only.as_raw_fd()), Stdio::Pipe],
            "stdout: fd",
        ),
        (
            [Stdio::Pipe, Stdio::Pipe, Stdio::Fd(closed)],
            "is not an open file descriptor",
        ),
        (
            [Stdio::Pipe, Stdio::Stdout, Stdio::Pipe],
            "stdout: Stdio::Stdout",
        ),
        ([Stdio::Pipe, Stdio::Pipe, Stdio::Fd(-3)], "stderr: fd -3"),
    ];
    let profiles = || files_with_prefix(&std::env::temp_dir(), "rr-firejail-").len();
    let profiles_before = profiles();
    let fds_before = (fds_on(&write_only), fds_on(&read_only));
    for (stdio, want) in cases {
        let [a, b, c] = stdio;
        let e = r
            .spawn(&Command::new("true").stdio(a, b, c))
            .err()
            .unwrap_or_else(|| panic!("{name}: {stdio:?} spawned"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}: {e}");
        assert!(e.message().contains(want), "{name}: {stdio:?}: {e}");
    }
    assert_eq!(
        (fds_on(&write_only), fds_on(&read_only)),
        fds_before,
        "{name}: a copy of a caller's fd is left"
    );
    if name == "firejail" {
        assert_eq!(profiles(), profiles_before, "{name}: profile files left");
    }
    if relayed(name) {
        assert_eq!(
            podman_containers_with_label(&std::process::id().to_string()),
            "",
            "{name}: containers left"
        );
    }
}

macro_rules! every_runner {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use super::*;

                #[test]
                fn exec() {
                    $case("exec");
                }

                #[test]
                fn landrun() {
                    $case("landrun");
                }

                #[test]
                fn firejail() {
                    // Exclusive for the case that counts profile files.
                    let _lock = if stringify!($case) == "bad_stdio_leaves_nothing" {
                        Err(PROFILES.write().unwrap_or_else(|p| p.into_inner()))
                    } else {
                        Ok(PROFILES.read().unwrap_or_else(|p| p.into_inner()))
                    };
                    $case("firejail");
                }

                #[test]
                fn podman() {
                    $case("podman");
                }

                #[test]
                fn docker() {
                    $case("docker");
                }
            }
        )*
    };
}

every_runner!(
    fds_are_the_callers,
    stderr_follows_stdout,
    only_fds_0_to_2,
    pty_stays_a_terminal,
    inherit_is_the_callers,
    controlling_terminal,
    bad_stdio_leaves_nothing,
);

/// A pty that is not the caller's controlling terminal changes nothing
/// about the command's session: it stays in the caller's, in a process
/// group of its own, as without a terminal.
#[test]
fn another_terminal_keeps_the_command_in_the_callers_session() {
    let r = runner("exec");
    let (mut master, slave) = pty();
    let fd = slave.as_raw_fd();
    let probe = "import os; print('sid', os.getsid(0), 'pgid', os.getpgid(0), 'end')";
    let p = r
        .spawn(&Command::new("/usr/bin/python3").args(["-c", probe]).stdio(
            Stdio::Null,
            Stdio::Fd(fd),
            Stdio::Stdout,
        ))
        .unwrap();
    drop(slave);
    let pid = p.pid();
    let got = read_pty_until(&mut master, "end", Duration::from_secs(30));
    assert_eq!(p.wait().unwrap(), ExitStatus::Exited(0));
    // SAFETY: getsid(0) has no memory effects.
    let mine = unsafe { libc::getsid(0) };
    assert!(
        got.contains(&format!("sid {mine} pgid {pid} end")),
        "{got:?}"
    );
}
