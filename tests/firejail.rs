//! The `firejail` runner against the real firejail (run as root, as CI does).
//!
//! Every spawning test holds a shared lock; the test that counts profile
//! files left in the temp folder holds it exclusively, so no other test's
//! profile can be in flight while it counts.

mod common;

use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Output, Params, Runner, Stdio};

const PREFIX: &str = "rr-firejail-";

static PROFILES: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    PROFILES.read().unwrap_or_else(|p| p.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    PROFILES.write().unwrap_or_else(|p| p.into_inner())
}

fn runner_with(options: &serde_json::Value) -> Runner {
    Runner::new("firejail", Some(&options.to_string())).unwrap_or_else(|e| {
        panic!(
            "the firejail runner is unavailable ({e}); these tests need the real firejail: \
             run tests/support/setup-env.sh or apt-get install firejail"
        )
    })
}

fn runner() -> Runner {
    runner_with(&serde_json::json!({}))
}

/// A fresh folder the jail sees as on the host: not under /tmp nor
/// /var/tmp, which firejail replaces with private ones, so not under the
/// target folder when the checkout itself lives under /tmp (as CI's may).
/// /srv needs root, as these tests do; elsewhere the target folder.
fn host_dir() -> tempfile::TempDir {
    let base = std::path::Path::new("/srv/restricted-runner-tests");
    let base = match std::fs::create_dir_all(base) {
        Ok(()) => base,
        Err(_) => std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
    };
    tempfile::Builder::new()
        .prefix("rr-firejail-test-")
        .tempdir_in(base)
        .unwrap()
}

fn sh_run(r: &Runner, script: &str, env: &[(&str, &str)]) -> Output {
    let env: Vec<(OsString, OsString)> = env
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    r.run(
        Some(OsStr::new("/bin/sh")),
        OsStr::new(script),
        &env,
        &Params::new(),
        Some(Duration::from_secs(60)),
    )
    .unwrap_or_else(|e| panic!("run {script:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The profile file a running firejail was given. Right after the spawn the
/// kernel may not have set up the new argv yet, so this asks again briefly.
fn profile_of(pid: i32) -> PathBuf {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if let Some(p) = cmdline
            .split(|&b| b == 0)
            .find_map(|a| a.strip_prefix(b"--profile="))
        {
            return PathBuf::from(String::from_utf8_lossy(p).into_owned());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no --profile= in {:?}",
            String::from_utf8_lossy(&cmdline)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn profile_files() -> usize {
    files_with_prefix(&std::env::temp_dir(), PREFIX).len()
}

// ---- the shared pipe cases ----

#[test]
fn echo_through_cat_works() {
    let _g = shared();
    echo_through_cat(&runner());
}

#[test]
fn many_writes_get_replies() {
    let _g = shared();
    many_writes(&runner());
}

#[test]
fn stderr_is_captured() {
    let _g = shared();
    stderr_capture(&runner());
}

#[test]
fn missing_command_is_named() {
    let _g = shared();
    command_not_found(&runner());
}

#[test]
fn env_vars_reach_the_child() {
    let _g = shared();
    env_vars(&runner());
}

#[test]
fn early_exit_gives_epipe() {
    let _g = shared();
    early_exit_epipe(&runner());
}

#[test]
fn sixteen_mib_in_and_out() {
    let _g = shared();
    bulk_through_cat(&runner(), 16 << 20);
}

#[test]
fn wait_timeout_leaves_process_running() {
    let _g = shared();
    wait_timeout(&runner());
}

#[test]
fn run_does_not_hang_on_background_grandchild() {
    let _g = shared();
    run_background_grandchild(&runner());
}

#[test]
fn run_times_out() {
    let _g = shared();
    run_timeout(&runner());
}

/// The shared `run_output_and_codes`, except for one fact of firejail: it
/// reports a command killed by signal N as exit status 128+N.
#[test]
fn run_captures_output_and_codes() {
    let _g = shared();
    let r = runner();
    let o = run(&r, "echo hello; echo oops >&2");
    assert_eq!(
        (o.stdout.as_slice(), o.stderr.as_slice()),
        (&b"hello\n"[..], &b"oops\n"[..])
    );
    assert_eq!(o.status, ExitStatus::Exited(0));
    assert_eq!(run(&r, "exit 42").status, ExitStatus::Exited(42));
    let o = run(&r, "echo a | tr a b; for i in 1 2 3; do printf $i; done");
    assert_eq!(o.stdout, b"b\n123");
    let o = run(&r, "kill -9 $$");
    assert_eq!(o.status, ExitStatus::Exited(128 + libc::SIGKILL));
    let o = sh_run(&r, "printf %s \"$RR_RUN_VAR\"", &[("RR_RUN_VAR", "v a l")]);
    assert_eq!(o.stdout, b"v a l");
}

/// The host pid of the process whose pid in its namespace is `ns_pid` and
/// whose process group is `pgid`.
fn host_pid(ns_pid: i32, pgid: i32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(e.path().join("status")).ok()?;
        let nspid = status.lines().find(|l| l.starts_with("NSpid:"))?;
        let last: i32 = nspid.split_whitespace().last()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let group: i32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()?;
        (last == ns_pid && group == pgid && pid != ns_pid).then_some(pid)
    })
}

/// The shared `kill_tree`, with the grandchild's pid translated out of the
/// jail's pid namespace, and firejail's 128+N status for a killed command.
#[test]
fn kill_reaches_grandchildren() {
    let _g = shared();
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&runner(), sh("sleep 100 & echo $!; sleep 100"));
    let ns_pid: i32 = read_line(&mut stdout)
        .trim()
        .parse()
        .expect("grandchild pid");
    let grandchild = host_pid(ns_pid, process.pid()).expect("the grandchild on the host");
    assert!(pid_alive(grandchild));
    let profile = profile_of(process.pid());
    assert!(profile.exists());
    process.kill(libc::SIGTERM).unwrap();
    assert_eq!(
        process.wait().unwrap(),
        ExitStatus::Exited(128 + libc::SIGTERM)
    );
    assert!(
        wait_gone(grandchild, Duration::from_secs(5)),
        "grandchild {grandchild} survived the kill"
    );
    assert!(!profile.exists(), "{} left behind", profile.display());
    drop((stdin, stderr));
}

// ---- what firejail adds ----

#[test]
fn requirements_are_checked() {
    Runner::check_requirements("firejail", None).expect("firejail is installed");
    let e = Runner::new("sandbox-exec", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Requirements);
    assert!(e.message().contains("needs macOS"), "{e}");
}

#[test]
fn no_banner_reaches_stdout_or_stderr() {
    let _g = shared();
    let dir = host_dir();
    for r in [
        runner(),
        runner_with(&serde_json::json!({
            "allow_networking": true,
            "allow_read_folders": [dir.path()],
            "allow_write_folders": ["/tmp"],
        })),
    ] {
        let o = run(&r, "true");
        assert_eq!(
            (text(&o.stdout), text(&o.stderr)),
            (String::new(), String::new())
        );
        assert!(o.status.success());
    }
}

#[test]
fn profile_file_is_private_and_removed_after_wait() {
    let _g = shared();
    let mut p = runner().spawn(&Command::new("sleep").arg("0.3")).unwrap();
    let profile = profile_of(p.pid());
    let name = profile.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(PREFIX), "{name}");
    assert_eq!(profile.parent().unwrap(), std::env::temp_dir());
    let meta = std::fs::metadata(&profile).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let content = std::fs::read_to_string(&profile).unwrap();
    assert!(
        content.contains("\nnet none\n") && content.contains("\nread-only /\n"),
        "{content}"
    );
    drop(p.take_stdin());
    assert!(p.wait().unwrap().success());
    assert!(!profile.exists());
}

/// Every path a spawn can take leaves no profile file behind.
#[test]
fn no_profile_file_is_left_on_any_path() {
    let _g = exclusive();
    let before = profile_files();
    let r = runner_with(&serde_json::json!({"allow_read_folders": ["/srv/{{ .dir }}"]}));
    let params = |v: &str| {
        let mut p = Params::new();
        p.insert("dir", v);
        p
    };
    let null = |c: Command| {
        c.params(params("x"))
            .stdio(Stdio::Null, Stdio::Null, Stdio::Null)
    };

    // Normal exit.
    assert!(r
        .spawn(&null(Command::new("true")))
        .unwrap()
        .wait()
        .unwrap()
        .success());
    assert_eq!(profile_files(), before, "after a normal exit");
    // Kill.
    let p = r.spawn(&null(Command::new("sleep").arg("100"))).unwrap();
    p.kill(libc::SIGKILL).unwrap();
    p.wait().unwrap();
    assert_eq!(profile_files(), before, "after a kill");
    // Dropped without a wait.
    drop(r.spawn(&null(Command::new("sleep").arg("100"))).unwrap());
    assert_eq!(profile_files(), before, "after a drop");
    // Timeout.
    let e = r
        .run(
            None,
            OsStr::new("sleep 100"),
            &[],
            &params("x"),
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(profile_files(), before, "after a timeout");
    // A spawn that fails after the profile was written (an argument with a NUL).
    let e = r
        .spawn(&null(Command::new("echo").arg("a\0b")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(profile_files(), before, "after a failed spawn");
    // Bad input before anything is written.
    let e = r
        .spawn(&null(Command::new("rr-no-such-command-xyz")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound);
    let e = r.spawn(&Command::new("true")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    let e = r
        .spawn(&null(Command::new("true")).params(params("a,b")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert_eq!(profile_files(), before, "after bad input");
    // A jail whose set-up fails: a clear spawn error with firejail's own
    // message, no process and no profile left.
    let bad = runner_with(&serde_json::json!({"custom_profile": "rr-bogus-directive\n"}));
    let e = bad.spawn(&Command::new("true")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
    assert!(e.message().contains("could not set up the sandbox"), "{e}");
    assert!(
        e.message().contains("is invalid"),
        "firejail's message is missing: {e}"
    );
    assert_eq!(profile_files(), before, "after a failed jail set-up");
}

#[test]
fn a_command_named_like_an_option_is_run_as_a_program() {
    let _g = shared();
    let dir = host_dir();
    let prog = dir.path().join("--version");
    std::fs::write(&prog, "#!/bin/sh\necho i am the program $1\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let cmd = Command::new("--version").arg("x").env("PATH", &path);
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(&runner(), cmd);
    drop(stdin);
    let (mut out, mut err) = (String::new(), String::new());
    { stdout }.read_to_string(&mut out).unwrap();
    { stderr }.read_to_string(&mut err).unwrap();
    assert!(process.wait().unwrap().success(), "{err}");
    assert_eq!(out, "i am the program x\n");
}

#[test]
fn a_program_in_tmp_stays_visible_when_a_tmp_folder_is_whitelisted() {
    let _g = shared();
    let progdir = tempfile::Builder::new()
        .prefix("rr-fj-bin")
        .tempdir_in("/tmp")
        .unwrap();
    let work = tempfile::Builder::new()
        .prefix("rr-fj-work")
        .tempdir_in("/tmp")
        .unwrap();
    let prog = progdir.path().join("tool");
    std::fs::write(
        &prog,
        "#!/bin/sh\necho tool ran > \"$1/out\"; cat \"$1/out\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = runner_with(&serde_json::json!({"allow_write_folders": [work.path()]}));
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(&r, Command::new(&prog).arg(work.path()));
    drop(stdin);
    let (mut out, mut err) = (String::new(), String::new());
    { stdout }.read_to_string(&mut out).unwrap();
    { stderr }.read_to_string(&mut err).unwrap();
    assert!(process.wait().unwrap().success(), "stderr: {err}");
    assert_eq!(out, "tool ran\n");
    assert_eq!(
        std::fs::read_to_string(work.path().join("out")).unwrap(),
        "tool ran\n"
    );
}

fn connect_script(port: u16) -> String {
    format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected")
}

#[test]
fn networking_off_cannot_reach_a_host_listener() {
    let _g = shared();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = runner()
        .run(
            Some(OsStr::new("/bin/bash")),
            OsStr::new(&connect_script(port)),
            &[],
            &Params::new(),
            Some(Duration::from_secs(30)),
        )
        .unwrap();
    assert!(!o.status.success(), "connected: {}", text(&o.stdout));
    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), IoKind::WouldBlock);
}

#[test]
fn networking_on_reaches_a_host_listener() {
    let _g = shared();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = runner_with(&serde_json::json!({"allow_networking": true}));
    let o = r
        .run(
            Some(OsStr::new("/bin/bash")),
            OsStr::new(&connect_script(port)),
            &[],
            &Params::new(),
            Some(Duration::from_secs(30)),
        )
        .unwrap();
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert_eq!(o.stdout, b"connected\n");
    listener.set_nonblocking(true).unwrap();
    listener.accept().expect("the jailed command's connection");
}

fn read_write_folders(base: &Path) {
    let read = base.join("read");
    let write = base.join("write");
    std::fs::create_dir_all(&read).unwrap();
    std::fs::create_dir_all(&write).unwrap();
    std::fs::write(read.join("data"), "readable\n").unwrap();
    let r = runner_with(&serde_json::json!({
        "allow_read_folders": [read],
        "allow_write_folders": [write],
    }));
    let script = r#"cat "$R/data"
        if echo x > "$R/new" 2>/dev/null; then echo WROTE-READ; fi
        if echo x >> "$R/data" 2>/dev/null; then echo APPENDED-READ; fi
        echo written > "$W/out" && echo wrote-write"#;
    let o = sh_run(
        &r,
        script,
        &[
            ("R", read.to_str().unwrap()),
            ("W", write.to_str().unwrap()),
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "readable\nwrote-write\n",
        "stderr: {}",
        text(&o.stderr)
    );
    assert!(!read.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(read.join("data")).unwrap(),
        "readable\n"
    );
    assert_eq!(
        std::fs::read_to_string(write.join("out")).unwrap(),
        "written\n"
    );
}

#[test]
fn read_folder_is_read_only_and_write_folder_writable() {
    let _g = shared();
    read_write_folders(host_dir().path());
}

#[test]
fn read_and_write_folders_under_tmp() {
    let _g = shared();
    read_write_folders(
        tempfile::Builder::new()
            .prefix("rr-fj-rw")
            .tempdir_in("/tmp")
            .unwrap()
            .path(),
    );
}

#[test]
fn read_and_write_files() {
    let _g = shared();
    let dir = host_dir();
    let rfile = dir.path().join("r.txt");
    let wfile = dir.path().join("w.txt");
    std::fs::write(&rfile, "r\n").unwrap();
    std::fs::write(&wfile, "").unwrap();
    let r = runner_with(&serde_json::json!({
        "allow_read_files": [rfile],
        "allow_write_files": [wfile],
    }));
    let o = sh_run(
        &r,
        r#"cat "$R"; echo x >> "$R" 2>/dev/null && echo WROTE-READ; echo w > "$W" && echo ok"#,
        &[
            ("R", rfile.to_str().unwrap()),
            ("W", wfile.to_str().unwrap()),
        ],
    );
    assert_eq!(text(&o.stdout), "r\nok\n", "stderr: {}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&rfile).unwrap(), "r\n");
    assert_eq!(std::fs::read_to_string(&wfile).unwrap(), "w\n");
}

#[test]
fn a_host_folder_in_no_list_is_not_writable() {
    let _g = shared();
    let dir = host_dir();
    let target = dir.path().join("victim");
    let o = sh_run(
        &runner(),
        r#"echo x > "$T" 2>/dev/null && echo WROTE; mkdir "$T.d" 2>/dev/null && echo MADE; id -u"#,
        &[("T", target.to_str().unwrap())],
    );
    assert_eq!(text(&o.stdout), "0\n", "stderr: {}", text(&o.stderr));
    assert!(!target.exists() && !dir.path().join("victim.d").exists());
}

/// Tries to create a file at every mount point the jail sees; any file that
/// shows up on the host is an escape (private tmpfs mounts don't).
#[test]
fn no_host_mount_is_writable() {
    let _g = shared();
    let token = format!("rr-probe-{}-{}", std::process::id(), rand_suffix());
    let script = r#"for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
            case "$m" in *\\*) continue;; esac
            f="${m%/}/$TOKEN"
            if (echo x > "$f") 2>/dev/null; then echo "$f"; fi
        done"#;
    let o = sh_run(&runner(), script, &[("TOKEN", &token)]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let written = text(&o.stdout);
    let escaped: Vec<&str> = written.lines().filter(|f| Path::new(f).exists()).collect();
    for f in &escaped {
        let _ = std::fs::remove_file(f);
    }
    assert!(
        escaped.is_empty(),
        "the jail wrote to host mounts: {escaped:?}"
    );
    // The probe did reach private mounts, so it can tell writable from not.
    assert!(written.lines().any(|f| f.starts_with("/tmp/")), "{written}");
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

#[test]
fn user_folders_are_hidden_unless_allowed() {
    let _g = shared();
    let home = host_dir();
    let docs = home.path().join("Documents");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("secret"), "s3cret\n").unwrap();
    let h = home.path().to_str().unwrap();
    let script = r#"cat "$HOME/Documents/secret""#;
    let o = sh_run(&runner(), script, &[("HOME", h)]);
    assert!(!o.status.success());
    assert!(!text(&o.stdout).contains("s3cret"));
    let allowed = runner_with(&serde_json::json!({"allow_user_folders": true}));
    let o = sh_run(&allowed, script, &[("HOME", h)]);
    assert_eq!(text(&o.stdout), "s3cret\n", "stderr: {}", text(&o.stderr));
}

#[test]
fn custom_profile_is_used_verbatim() {
    let _g = shared();
    let dir = host_dir();
    // Unlike the generated profile, this one leaves the host writable.
    let r = runner_with(&serde_json::json!({"custom_profile": "net none\nseccomp\n"}));
    let f = dir.path().join("custom");
    let o = sh_run(
        &r,
        r#"echo x > "$F" && echo ok"#,
        &[("F", f.to_str().unwrap())],
    );
    assert_eq!(text(&o.stdout), "ok\n", "stderr: {}", text(&o.stderr));
    assert!(f.exists());
}

#[test]
fn bad_paths_are_rejected_naming_option_and_path() {
    for (key, path) in [
        ("allow_write_folders", "/srv/a,b"),
        ("allow_read_folders", "relative/dir"),
        ("allow_read_files", "/etc/x\nread-write /"),
        ("allow_write_files", "/a/../etc"),
        ("allow_read_folders", "/srv/${HOME}"),
    ] {
        let e = Runner::new(
            "firejail",
            Some(&serde_json::json!({ key: [path] }).to_string()),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{path:?}");
        assert!(e.message().contains(key), "{e}");
        assert!(e.message().contains(&format!("{path:?}")), "{e}");
    }
    let _g = shared();
    let r = runner_with(&serde_json::json!({"allow_write_folders": ["{{ .root }}/out"]}));
    let mut p = Params::new();
    p.insert("root", "/srv\nread-write");
    let e = r.spawn(&Command::new("true").params(p)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("allow_write_folders"), "{e}");
    assert!(e.message().contains("\"/srv\\nread-write/out\""), "{e}");
    let mut p = Params::new();
    p.insert("root", "srv");
    let e = r.spawn(&Command::new("true").params(p)).unwrap_err();
    assert!(e.message().contains("relative"), "{e}");
}

/// One runner, two threads, different params: each process gets a profile
/// of its own, and can write only its own folder.
#[test]
fn concurrent_spawns_render_their_own_params() {
    let _g = shared();
    let base = host_dir();
    let r = Arc::new(runner_with(&serde_json::json!({
        "allow_write_folders": [format!("{}/{{{{ .who }}}}", base.path().display())],
    })));
    let names = ["ann", "bob"];
    for n in names {
        std::fs::create_dir_all(base.path().join(n)).unwrap();
    }
    let handles: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, &me)| {
            let r = r.clone();
            let base = base.path().to_path_buf();
            let other = names[1 - i];
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let mut p = Params::new();
                    p.insert("who", me);
                    let cmd = sh(r#"echo "$ME" > "$B/$ME/f" && echo ok; echo x > "$B/$OTHER/$ME" 2>/dev/null && echo CROSSED; cat"#)
                        .env("ME", me)
                        .env("OTHER", other)
                        .env("B", base.to_str().unwrap())
                        .params(p);
                    let Pipes {
                        stdin,
                        mut stdout,
                        stderr,
                        process,
                    } = spawn(&r, cmd);
                    let profile = std::fs::read_to_string(profile_of(process.pid())).unwrap();
                    let mine = format!("\nread-write {}/{me}\n", base.display());
                    let theirs = format!("{}/{other}", base.display());
                    assert!(profile.contains(&mine), "{profile}");
                    assert!(!profile.contains(&theirs), "{profile}");
                    drop(stdin);
                    let mut out = String::new();
                    stdout.read_to_string(&mut out).unwrap();
                    drop(stderr);
                    assert!(process.wait().unwrap().success());
                    assert_eq!(out, "ok\n");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(base.path().join(n).join("f")).unwrap(),
            format!("{n}\n")
        );
        assert!(!base.path().join(names[1 - i]).join(n).exists());
    }
}

#[test]
fn stdin_written_after_spawn_reaches_the_jailed_command() {
    let _g = shared();
    let Pipes {
        mut stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&runner(), Command::new("cat"));
    stdin.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut stdout), "ping");
    drop((stdin, stderr));
    assert!(process.wait().unwrap().success());
}
