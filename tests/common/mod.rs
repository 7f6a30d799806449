//! The pipe cases every runner must pass, written once and called by each
//! backend's test file with a real runner of that kind.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use restricted_runner::{Command, ErrorKind, ExitStatus, Params, Process, Runner};

pub struct Pipes {
    pub stdin: File,
    pub stdout: File,
    pub stderr: File,
    pub process: Process,
}

pub fn spawn(r: &Runner, cmd: Command) -> Pipes {
    let mut process = r
        .spawn(&cmd)
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.program()));
    Pipes {
        stdin: File::from(process.take_stdin().expect("stdin pipe")),
        stdout: File::from(process.take_stdout().expect("stdout pipe")),
        stderr: File::from(process.take_stderr().expect("stderr pipe")),
        process,
    }
}

pub fn sh(script: &str) -> Command {
    Command::new("sh").arg("-c").arg(script)
}

/// Runs `sh -c script`, asserting it succeeds, and returns the spawn's
/// enforcement report (as JSON) and what the script printed.
pub fn report_and_output(r: &Runner, script: &str) -> (serde_json::Value, String) {
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, sh(script));
    drop(stdin);
    let report = process.enforcement().expect("a report").to_json();
    let out = String::from_utf8_lossy(&read_to_end(stdout)).into_owned();
    let err = String::from_utf8_lossy(&read_to_end(stderr)).into_owned();
    assert_eq!(
        process.wait().unwrap(),
        ExitStatus::Exited(0),
        "{script}: {out}{err}"
    );
    (report, out)
}

/// Asserts that the report says every layer is enforced but those of
/// `except`.
pub fn assert_enforced_but(report: &serde_json::Value, except: &[&str]) {
    for l in restricted_runner::LAYERS
        .iter()
        .filter(|l| !except.contains(l))
    {
        assert_eq!(
            report["layers"][l]["enforced"], true,
            "{l} not reported enforced: {report}"
        );
    }
}

/// The status lines a sandbox's claims are checked against.
pub const STATUS_OF_SELF: &str = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status";

/// Asserts that `status` (from [`STATUS_OF_SELF`]) shows no capability,
/// no_new_privs and a seccomp filter.
pub fn assert_confined(status: &str) {
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
}

/// Asserts that `kind`'s runner refuses `json`, which gives `key` twice,
/// naming the key (read as the last one wins, a repeated key could undo
/// an earlier restriction).
pub fn assert_given_twice_rejected(kind: &str, json: &str, key: &str) {
    let e = Runner::new(kind, Some(json)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    assert!(
        e.message().contains(&format!("\"{key}\" is given twice")),
        "{e}"
    );
}

/// Reads `f` to its end.
pub fn read_to_end(mut f: File) -> Vec<u8> {
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// Reads one line, byte by byte (the pipe is shared with nobody else).
pub fn read_line(f: &mut File) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b).unwrap() {
            0 => break,
            _ if b[0] == b'\n' => break,
            _ => line.push(b[0]),
        }
    }
    String::from_utf8(line).unwrap()
}

pub fn echo_through_cat(r: &Runner) {
    let Pipes {
        mut stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, Command::new("cat"));
    stdin.write_all(b"hello through cat\n").unwrap();
    drop(stdin);
    assert_eq!(read_to_end(stdout), b"hello through cat\n");
    assert_eq!(read_to_end(stderr), b"");
    assert_eq!(process.wait().unwrap(), ExitStatus::Exited(0));
}

/// Writes lines one at a time and reads each reply before the next write:
/// the interactive use this library exists for.
pub fn many_writes(r: &Runner) {
    let Pipes {
        mut stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(r, Command::new("cat"));
    for i in 0..200 {
        writeln!(stdin, "line {i}").unwrap();
        assert_eq!(read_line(&mut stdout), format!("line {i}"));
    }
    drop(stdin);
    assert_eq!(read_to_end(stdout), b"");
    drop(stderr);
    assert!(process.wait().unwrap().success());
}

pub fn stderr_capture(r: &Runner) {
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, sh("echo out; echo err >&2; exit 3"));
    drop(stdin);
    assert_eq!(read_to_end(stdout), b"out\n");
    assert_eq!(read_to_end(stderr), b"err\n");
    assert_eq!(process.wait().unwrap(), ExitStatus::Exited(3));
}

/// Kills `sh -c 'sleep 100 & sleep 100'` and checks the background
/// grandchild (a host pid) is gone too.
pub fn kill_tree(r: &Runner) {
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(r, sh("sleep 100 & echo $!; sleep 100"));
    let grandchild: i32 = read_line(&mut stdout)
        .trim()
        .parse()
        .expect("grandchild pid");
    assert!(
        pid_alive(grandchild),
        "grandchild should run before the kill"
    );
    process.kill(libc::SIGTERM).unwrap();
    let status = process.wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(libc::SIGTERM));
    assert!(
        wait_gone(grandchild, Duration::from_secs(5)),
        "grandchild {grandchild} survived the kill"
    );
    drop((stdin, stderr));
}

pub fn command_not_found(r: &Runner) {
    let e = r
        .spawn(&Command::new("rr-no-such-command-xyz"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    assert!(e.message().contains("rr-no-such-command-xyz"), "{e}");
}

pub fn env_vars(r: &Runner) {
    let cmd = sh("printf '%s|%s' \"$RR_A\" \"$RR_B\"")
        .env("RR_A", "one")
        .env("RR_B", "x")
        .env("RR_B", "two=2");
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, cmd);
    drop((stdin, stderr));
    assert_eq!(read_to_end(stdout), b"one|two=2");
    assert!(process.wait().unwrap().success());
}

/// The child exits at once while the caller keeps writing: the caller gets
/// EPIPE (Rust ignores SIGPIPE), never a crash or a hang.
pub fn early_exit_epipe(r: &Runner) {
    let (status, stderr) = early_exit_epipe_status(r);
    assert!(status.success(), "{status}: {stderr}");
}

/// The EPIPE part of [`early_exit_epipe`]; returns how the process ended
/// and its stderr, for runners whose wrapper reports the end its own way.
pub fn early_exit_epipe_status(r: &Runner) -> (ExitStatus, String) {
    let Pipes {
        mut stdin,
        stdout,
        mut stderr,
        process,
    } = spawn(r, Command::new("true"));
    let chunk = vec![b'x'; 64 * 1024];
    let mut got_epipe = false;
    for _ in 0..1000 {
        match stdin.write(&chunk) {
            Ok(_) => thread::sleep(Duration::from_millis(1)),
            Err(e) if e.kind() == IoKind::BrokenPipe => {
                got_epipe = true;
                break;
            }
            Err(e) => panic!("unexpected write error {e}"),
        }
    }
    assert!(
        got_epipe,
        "writing to an exited child never failed with EPIPE"
    );
    drop((stdin, stdout));
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    (process.wait().unwrap(), err)
}

/// `size` bytes in and out at the same time, through cat.
pub fn bulk_through_cat(r: &Runner, size: usize) {
    let Pipes {
        mut stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, Command::new("cat"));
    let writer = thread::spawn(move || {
        let mut block = vec![0u8; 1 << 16];
        let mut sent = 0usize;
        while sent < size {
            let n = block.len().min(size - sent);
            for (i, b) in block[..n].iter_mut().enumerate() {
                *b = ((sent + i) % 251) as u8;
            }
            stdin.write_all(&block[..n]).unwrap();
            sent += n;
        }
    });
    let mut stdout = stdout;
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, ((got + i) % 251) as u8, "byte {} corrupted", got + i);
        }
        got += n;
    }
    writer.join().unwrap();
    assert_eq!(got, size);
    drop(stderr);
    assert!(process.wait().unwrap().success());
}

pub fn wait_timeout(r: &Runner) {
    let Pipes {
        stdin,
        stdout,
        stderr,
        mut process,
    } = spawn(r, Command::new("sleep").arg("0.5"));
    let t = Instant::now();
    assert_eq!(
        process.wait_timeout(Duration::from_millis(50)).unwrap(),
        None
    );
    assert!(t.elapsed() >= Duration::from_millis(50));
    let status = process.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(status, Some(ExitStatus::Exited(0)));
    // Finished: further waits return the same status at once.
    assert_eq!(
        process.wait_timeout(Duration::ZERO).unwrap(),
        Some(ExitStatus::Exited(0))
    );
    drop((stdin, stdout, stderr));
}

pub fn run(r: &Runner, command: &str) -> restricted_runner::Output {
    r.run(
        None,
        OsStr::new(command),
        &[],
        &Params::new(),
        Some(Duration::from_secs(60)),
    )
    .unwrap_or_else(|e| panic!("run {command:?}: {e}"))
}

pub fn run_output_and_codes(r: &Runner) {
    let o = run(r, "echo hello; echo oops >&2");
    assert_eq!(o.stdout, b"hello\n");
    assert_eq!(o.stderr, b"oops\n");
    assert_eq!(o.status, ExitStatus::Exited(0));
    let o = run(r, "exit 42");
    assert_eq!(o.status, ExitStatus::Exited(42));
    let o = run(r, "echo a | tr a b; for i in 1 2 3; do printf $i; done");
    assert_eq!(o.stdout, b"b\n123");
    let o = run(r, "kill -9 $$");
    assert_eq!(o.status, ExitStatus::Signaled(libc::SIGKILL));
    let env = [(OsString::from("RR_RUN_VAR"), OsString::from("v a l"))];
    let o = r
        .run(
            None,
            OsStr::new("printf %s \"$RR_RUN_VAR\""),
            &env,
            &Params::new(),
            None,
        )
        .unwrap();
    assert_eq!(o.stdout, b"v a l");
}

/// `sh -c 'sleep 600 &'` returns at once, though the grandchild holds the
/// output pipes.
pub fn run_background_grandchild(r: &Runner) {
    let t = Instant::now();
    let o = run(r, "sleep 600 & echo started");
    assert_eq!(o.stdout, b"started\n");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "run waited for the background grandchild"
    );
}

pub fn run_timeout(r: &Runner) {
    let t = Instant::now();
    let e = r
        .run(
            None,
            OsStr::new("sleep 100"),
            &[],
            &Params::new(),
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(t.elapsed() < Duration::from_secs(20));
}

pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // Field 3 is the state; a zombie is as good as gone.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Host pids of live processes whose command line contains `needle`, with
/// `\0` standing for the separator between arguments.
pub fn host_pids_with_cmdline(needle: &str) -> Vec<i32> {
    let needle = needle.replace("\\0", "\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .filter(|pid| pid_alive(*pid))
        .collect()
}

/// [`host_pids_with_cmdline`], waiting up to 5 s for at least `n` to show.
pub fn wait_for_pids(needle: &str, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = host_pids_with_cmdline(needle);
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

pub fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    !pid_alive(pid)
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Zombie children of this process.
pub fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
            let state = fields.next();
            let ppid = fields.next();
            state == Some("Z") && ppid == Some(me.as_str())
        })
        .count()
}

/// Files in `dir` whose names start with `prefix`.
pub fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// `run_cancelable`: closing the other end of the cancel pipe stops a long
/// command at once; an untouched pipe changes nothing.
pub fn run_cancel(r: &Runner) {
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let out = r
        .run_cancelable(
            None,
            OsStr::new("echo fine"),
            &[],
            &Params::new(),
            None,
            Some(read_end.as_fd()),
        )
        .unwrap();
    assert_eq!(out.stdout, b"fine\n");

    let closer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        drop(write_end);
    });
    let t = Instant::now();
    let e = r
        .run_cancelable(
            None,
            OsStr::new("sleep 100"),
            &[],
            &Params::new(),
            None,
            Some(read_end.as_fd()),
        )
        .unwrap_err();
    closer.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
    assert!(t.elapsed() < Duration::from_secs(20));
}

/// The value of `name` (as `"SigBlk:"`) in a /proc/PID/status text.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
        .to_string()
}

/// Asserts that `seen`, PID 1's command line then its status as `cat`
/// printed them (NULs as spaces), is the sandbox's init without a
/// capability: never the sandbox process before its exec.
/// What a program that read `/proc/1/cmdline` and `/proc/1/status` saw:
/// nothing, since the sandbox's /proc shows no process the command may not
/// trace (neither the sandbox process, which shares the caller's memory
/// until it execs the init, nor the init).
pub fn assert_pid_1_is_hidden(seen: &str, what: &str) {
    assert!(seen.trim().is_empty(), "{what}: PID 1 was seen: {seen}");
}

/// The `Name`, capability and `NoNewPrivs` fields of the init of a running
/// sandbox, `pid` in the caller's PID namespace: all empty and set, once
/// the init is in place (its signal handlers set, which it does right after
/// dropping its capabilities: the command may start before).
pub fn assert_init_holds_nothing(pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status_field(&status, "SigCgt:") != "0000000000000000" {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the init never set up: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("rr-init\0init\0"), "{cmdline:?}");
    for field in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(
            status_field(&status, field),
            "0000000000000000",
            "{field} {status}"
        );
    }
    assert_eq!(status_field(&status, "NoNewPrivs:"), "1", "{status}");
}

/// The process group field of a /proc/PID/stat line.
pub fn stat_pgrp(stat: &str) -> i32 {
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(2))
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no process group in {stat:?}"))
}

/// Whether SIGPIPE is ignored according to a /proc/PID/status text.
pub fn sigpipe_ignored(status: &str) -> bool {
    let ignored = u64::from_str_radix(&status_field(status, "SigIgn:"), 16).unwrap();
    ignored & (1 << (libc::SIGPIPE - 1)) != 0
}

/// The fd numbers an `ls -l /proc/self/fd` listing shows, leaving out the
/// one `ls` holds on the folder it lists.
pub fn listed_fds(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter(|l| l.contains(" -> ") && !l.contains("/proc/"))
        .filter_map(|l| l.split(" -> ").next()?.split_whitespace().last())
        .collect()
}

/// The environment of a command `r` starts, with `env` as the spawn's own
/// entries: `cat` prints its own /proc/self/environ.
pub fn environ_of(r: &Runner, env: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut cmd = Command::new("cat").arg("/proc/self/environ");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(r, cmd);
    drop(stdin);
    // The spawn's report says whether the caller's environment was kept out.
    let report = process
        .enforcement()
        .expect("an enforcement report")
        .to_json();
    let layer = &report["layers"]["environment"];
    let out = read_to_end(stdout);
    let err = read_to_end(stderr);
    let status = process.wait().unwrap();
    assert!(
        status.success(),
        "{status}: {}",
        String::from_utf8_lossy(&err)
    );
    let env: Vec<(String, String)> = out
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8_lossy(e);
            let (k, v) = e.split_once('=').unwrap_or((&e, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let leaked = env.iter().any(|(_, v)| v.contains("s3cret"));
    if std::env::var_os("RR_LEAK_API_KEY").is_some() {
        assert_eq!(layer["enforced"], !leaked, "{layer} with {env:?}");
    }
    env
}

/// Runs the test `name` of this test binary in a child process whose
/// environment also holds `vars`, and checks that it passed. The child
/// test finds itself named in `RR_CHILD_TEST` (see [`is_child`]).
pub fn run_in_child(name: &str, vars: &[(&str, &str)]) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("RR_CHILD_TEST", name)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} failed in the child:\n{text}");
    assert!(
        text.contains(&format!("child {name} done")),
        "{name} did not run in the child:\n{text}"
    );
}

/// True in the child process [`run_in_child`] started for the test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var("RR_CHILD_TEST").as_deref() == Ok(name)
}

/// The caller's environment in the env tests: a secret that must not
/// reach a command unless passed, and three variables to pass by name or
/// by prefix.
pub const CALLER_ENV: &[(&str, &str)] = &[
    ("RR_LEAK_API_KEY", "s3cret-api-key"),
    ("RR_PASS_ONE", "one"),
    ("RR_PASS_TWO", "two words"),
    ("RR_NAMED", "named"),
];

/// The `inherit_env`/`pass_env` cases every runner must pass, run in a
/// child whose environment holds [`CALLER_ENV`]. `runner(extra)` builds the
/// runner under test with `extra` options (a JSON object's members, or "").
/// `inherits` says whether the runner passes the caller's environment by
/// default; `own` lists variables the sandbox itself sets, which may appear
/// whatever the policy.
pub fn env_policy_cases(runner: impl Fn(&str) -> Runner, inherits: bool, own: &[&str]) {
    for (k, v) in CALLER_ENV {
        assert_eq!(
            std::env::var(k).as_deref(),
            Ok(*v),
            "the child's own environment"
        );
    }
    let names = |env: &[(String, String)]| -> Vec<String> {
        let mut n: Vec<String> = env
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !own.contains(&k.as_str()))
            .collect();
        n.sort();
        n
    };
    let value = |env: &[(String, String)], k: &str| -> Option<String> {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let leaks = |env: &[(String, String)]| env.iter().any(|(_, v)| v.contains("s3cret"));

    // By default.
    let env = environ_of(&runner(""), &[("RR_SPAWN", "mine")]);
    assert_eq!(value(&env, "RR_SPAWN").as_deref(), Some("mine"));
    assert_eq!(leaks(&env), inherits, "{env:?}");
    if !inherits {
        assert_eq!(names(&env), ["RR_SPAWN"], "{env:?}");
    }

    // Nothing inherited: only the spawn's own entries.
    let r = runner(r#""inherit_env": false"#);
    let env = environ_of(&r, &[("RR_SPAWN", "mine")]);
    assert_eq!(names(&env), ["RR_SPAWN"], "{env:?}");

    // Named and prefixed variables, the spawn's entries on top.
    let r = runner(r#""inherit_env": false, "pass_env": ["RR_PASS_*", "RR_NAMED", "RR_UNSET"]"#);
    let env = environ_of(&r, &[("RR_SPAWN", "mine"), ("RR_PASS_ONE", "override")]);
    assert_eq!(
        names(&env),
        ["RR_NAMED", "RR_PASS_ONE", "RR_PASS_TWO", "RR_SPAWN"],
        "{env:?}"
    );
    assert_eq!(value(&env, "RR_PASS_ONE").as_deref(), Some("override"));
    assert_eq!(value(&env, "RR_PASS_TWO").as_deref(), Some("two words"));
    assert_eq!(value(&env, "RR_NAMED").as_deref(), Some("named"));
    assert!(!leaks(&env), "{env:?}");
}

/// Builds the test helper tests/support/NAME.c as the static program `out`
/// (static, so that it also runs in a container image without a libc).
pub fn build_c_helper(name: &str, out: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(format!("{name}.c"));
    let built = std::process::Command::new("cc")
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(&src)
        .output()
        .expect("cc, to build a test helper");
    assert!(
        built.status.success(),
        "building {}: {}",
        src.display(),
        String::from_utf8_lossy(&built.stderr)
    );
}

/// A pseudo-terminal pair (master, slave), both close-on-exec.
pub fn pty() -> (File, std::os::fd::OwnedFd) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two fds; the NULL arguments are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            // (mutable on macOS, const on Linux)
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    for fd in [master, slave] {
        // SAFETY: F_SETFD on our new fds.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: both are new fds that nothing else owns.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs the test `name` of this test binary in a child process that has a
/// terminal of its own (a new pty as its stdin and controlling terminal),
/// as a host program started from a shell has; returns what the child
/// printed, after checking that it passed.
pub fn run_in_child_on_a_terminal(name: &str) -> String {
    use std::os::unix::process::CommandExt;
    let (master, slave) = pty();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("RR_CHILD_TEST", name)
        .stdin(std::process::Stdio::from(slave));
    // SAFETY: async-signal-safe calls only, between fork and exec.
    unsafe {
        child.pre_exec(|| {
            // A session of its own, with the pty (its stdin) as its terminal.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = child.output().unwrap();
    drop(master);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(report.contains(&format!("child {name} done")), "{report}");
    report
}

/// The name of the controlling terminal, which is stdin in
/// [`run_in_child_on_a_terminal`]'s child.
pub fn controlling_terminal_name() -> String {
    // SAFETY: ttyname on fd 0; the string is copied at once.
    let name = unsafe { libc::ttyname(0) };
    assert!(!name.is_null(), "stdin is not a terminal");
    // SAFETY: a NUL-terminated string from ttyname.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// All the caller reads from its terminal (stdin) until it stays quiet
/// for half a second.
pub fn terminal_input() -> Option<String> {
    let mut input = String::new();
    loop {
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 500) } <= 0 {
            break;
        }
        let mut buf = [0u8; 256];
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        input.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
    }
    (!input.is_empty()).then_some(input)
}

/// Where cgroup v2 is mounted, if it is.
pub fn cgroup2_mount() -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find(|l| l.contains(" - cgroup2 "))
        .and_then(|l| l.split(' ').nth(4))
        .map(str::to_string)
}
