//! The `firejail` runner against the real firejail (run as root, as CI does).
//!
//! The test that counts the profile files left behind runs in a child
//! process with a temp folder of its own, where no other test (of this
//! binary, or of another checkout running at the same time) writes one.

mod common;

use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Output, Params, Runner, Stdio};

const PREFIX: &str = "rr-firejail-";

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
    tempfile::Builder::new()
        .prefix("rr-firejail-test-")
        .tempdir_in(host_base())
        .unwrap()
}

/// Where [`host_dir`] makes its folders.
fn host_base() -> &'static Path {
    let base = Path::new("/srv/restricted-runner-tests");
    match std::fs::create_dir_all(base) {
        Ok(()) => base,
        Err(_) => Path::new(env!("CARGO_TARGET_TMPDIR")),
    }
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
    echo_through_cat(&runner());
}

#[test]
fn many_writes_get_replies() {
    many_writes(&runner());
}

#[test]
fn stderr_is_captured() {
    stderr_capture(&runner());
}

#[test]
fn missing_command_is_named() {
    command_not_found(&runner());
}

#[test]
fn env_vars_reach_the_child() {
    env_vars(&runner());
}

#[test]
fn early_exit_gives_epipe() {
    early_exit_epipe(&runner());
}

#[test]
fn sixteen_mib_in_and_out() {
    bulk_through_cat(&runner(), 16 << 20);
}

#[test]
fn wait_timeout_leaves_process_running() {
    wait_timeout(&runner());
}

#[test]
fn run_does_not_hang_on_background_grandchild() {
    run_background_grandchild(&runner());
}

#[test]
fn run_times_out() {
    run_timeout(&runner());
}

/// The shared `run_output_and_codes`, except for one fact of firejail: it
/// reports a command killed by signal N as exit status 128+N.
#[test]
fn run_captures_output_and_codes() {
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
    let tmp = tempfile::Builder::new()
        .prefix("rr-fj-tmpdir-")
        .tempdir()
        .unwrap();
    run_in_child(
        "profile_files_child",
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    assert!(files_with_prefix(tmp.path(), PREFIX).is_empty());
}

#[test]
fn profile_files_child() {
    if !is_child("profile_files_child") {
        return;
    }
    assert_eq!(
        std::env::temp_dir(),
        PathBuf::from(std::env::var_os("TMPDIR").unwrap())
    );
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
    println!("child profile_files_child done");
}

#[test]
fn a_command_named_like_an_option_is_run_as_a_program() {
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
    read_write_folders(host_dir().path());
}

#[test]
fn read_and_write_folders_under_tmp() {
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
    let r = runner_with(&serde_json::json!({"allow_write_folders": ["{{ .root }}/out"]}));
    let mut p = Params::new();
    p.insert("root", "/srv\nread-write");
    let e = r.spawn(&Command::new("true").params(p)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("allow_write_folders"), "{e}");
    assert!(e.message().contains("param \"root\""), "{e}");
    assert!(e.message().contains("control character"), "{e}");
    let mut p = Params::new();
    p.insert("root", "srv");
    let e = r.spawn(&Command::new("true").params(p)).unwrap_err();
    assert!(e.message().contains("relative"), "{e}");
}

/// One runner, two threads, different params: each process gets a profile
/// of its own, and can write only its own folder.
#[test]
fn concurrent_spawns_render_their_own_params() {
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

// ---- escapes that must fail ----

fn runner_json(extra: &str) -> Runner {
    Runner::new("firejail", Some(&format!("{{{extra}}}")))
        .unwrap_or_else(|e| panic!("{extra}: {e}"))
}

/// The variables firejail itself sets in every jail (and the shell that
/// runs the command), whatever the caller's environment.
const FIREJAIL_OWN: &[&str] = &[
    "container",
    "FIREJAIL_QUIET",
    "KDE_FORK_SLAVES",
    "QML_DISABLE_DISK_CACHE",
    "QT_X11_NO_MITSHM",
    "LC_CTYPE",
    "PATH",
    "SHELL",
    "PROMPT_COMMAND",
    "SHLVL",
    "_",
    "PWD",
    "OLDPWD",
];

/// The caller's whole environment (API keys included) reaches the jail by
/// default, as with go-restricted-runner; `inherit_env: false` starts
/// clean and `pass_env` names what passes.
#[test]
fn the_environment_follows_inherit_env_and_pass_env() {
    run_in_child("env_child", CALLER_ENV);
}

#[test]
fn env_child() {
    if !is_child("env_child") {
        return;
    }
    env_policy_cases(runner_json, true, FIREJAIL_OWN);
    // firejail's own PATH, not the caller's.
    let env = environ_of(&runner_json(r#""inherit_env": false"#), &[]);
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    assert_ne!(path, std::env::var("PATH").ok(), "{env:?}");
    println!("child env_child done");
}

#[test]
fn keys_given_twice_are_rejected() {
    // Read as the last one wins, this would turn networking on.
    assert_given_twice_rejected(
        "firejail",
        r#"{"allow_networking": false, "allow_networking": true}"#,
        "allow_networking",
    );
}

/// A param of the length that makes firejail 0.9.72 cut its line right
/// before `payload`, which it then reads as a directive of its own.
fn cut_before(base: &Path, payload: &str) -> String {
    let line_start = "read-only ".len() + base.as_os_str().len() + 1;
    format!("{}{payload}", "a".repeat(8191 - line_start))
}

/// Long params could end a profile line early, and their tails were read
/// as directives: `read-write` on a host folder, `ignore seccomp` and
/// `ignore caps.drop`. Now such a value is refused, naming key and param.
#[test]
fn a_long_param_cannot_add_a_directive() {
    let base = host_dir();
    // Outside /srv, which the whitelisted param turns into a tmpfs, and
    // outside /tmp and /var/tmp, which firejail replaces.
    std::fs::create_dir_all("/opt").unwrap();
    let victim = tempfile::Builder::new()
        .prefix("rr-fj-victim-")
        .tempdir_in("/opt")
        .unwrap();
    let template = |name: &str| format!("{}/{{{{ .{name} }}}}", base.path().display());
    let write = runner_with(&serde_json::json!({ "allow_read_folders": [template("job")] }));
    let mut p = Params::new();
    p.insert(
        "job",
        cut_before(
            base.path(),
            &format!("read-write {}", victim.path().display()),
        ),
    );
    let script = r#"echo x > "$V/escaped" 2>/dev/null && echo WROTE; true"#;
    let env = [(
        OsString::from("V"),
        victim.path().as_os_str().to_os_string(),
    )];
    let result = write.run(
        Some(OsStr::new("/bin/sh")),
        OsStr::new(script),
        &env,
        &p,
        Some(Duration::from_secs(60)),
    );
    let escaped = victim.path().join("escaped").exists();
    match result {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
            assert!(e.message().contains("\"allow_read_folders\""), "{e}");
            assert!(e.message().contains("param \"job\""), "{e}");
            assert!(e.message().contains("bytes"), "{e}");
        }
        Ok(o) => panic!(
            "a long param was accepted (wrote to the host: {escaped}): {}",
            text(&o.stdout)
        ),
    }
    assert!(!escaped);

    let privileges = runner_with(&serde_json::json!({
        "allow_read_folders": [template("a"), template("b")],
    }));
    let mut p = Params::new();
    p.insert("a", cut_before(base.path(), "ignore caps.drop"));
    p.insert("b", cut_before(base.path(), "ignore seccomp"));
    match privileges.run(
        Some(OsStr::new("/bin/sh")),
        OsStr::new("grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status"),
        &[],
        &p,
        Some(Duration::from_secs(60)),
    ) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
            assert!(e.message().contains("param \"a\""), "{e}");
        }
        Ok(o) => panic!("long params were accepted: {}", text(&o.stdout)),
    }

    // A literal value is refused when the runner is built.
    let long = format!("/srv/{}", "a".repeat(8200));
    let e = Runner::new(
        "firejail",
        Some(&serde_json::json!({ "allow_write_files": [long] }).to_string()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("\"allow_write_files\""), "{e}");
}

/// Files that are removed when dropped (planted secrets, symlinks).
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// A folder holding a file `secret` with a unique content, in `parent`.
fn plant_secret(parent: &Path, planted: &mut Planted) -> (PathBuf, String) {
    let dir = tempfile::Builder::new()
        .prefix("rr-fj-secret-")
        .tempdir_in(parent)
        .unwrap()
        .keep();
    planted.0.push(dir.clone());
    let secret = format!("s3cret-{}", dir.display());
    std::fs::write(dir.join("secret"), &secret).unwrap();
    (dir, secret)
}

/// The caller's home (as root: /root), /home and /root are hidden: a
/// secret there cannot be read directly, through a symlink in the write
/// folder (planted before or made in the jail), nor through
/// /proc/self/root. `allow_user_folders` or a listed folder opens them.
#[test]
fn the_callers_home_and_the_home_folders_are_hidden() {
    let mut planted = Planted(Vec::new());
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let mut secrets = Vec::new();
    for parent in [home.as_path(), Path::new("/root"), Path::new("/home")] {
        secrets.push(plant_secret(parent, &mut planted));
    }
    let write = host_dir();
    std::os::unix::fs::symlink(secrets[0].0.join("secret"), write.path().join("planted")).unwrap();
    let r = runner_with(&serde_json::json!({ "allow_write_folders": [write.path()] }));
    let script = r#"for s in $SECRETS; do
            cat "$s" "/proc/self/root$s" 2>/dev/null
            ln -s "$s" "$W/made" && cat "$W/made" 2>/dev/null; rm -f "$W/made"
        done
        cat "$W/planted" 2>/dev/null
        echo end"#;
    let list: Vec<String> = secrets
        .iter()
        .map(|(d, _)| d.join("secret").display().to_string())
        .collect();
    let env = [
        ("SECRETS", list.join(" ")),
        ("W", write.path().display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = sh_run(&r, script, &env);
    assert_eq!(text(&o.stdout), "end\n", "stderr: {}", text(&o.stderr));

    // Opened on purpose: all of them, or one listed folder.
    let all = runner_with(&serde_json::json!({
        "allow_write_folders": [write.path()],
        "allow_user_folders": true,
    }));
    let o = sh_run(&all, r#"cat "$W/planted""#, &env);
    assert_eq!(text(&o.stdout), secrets[0].1, "stderr: {}", text(&o.stderr));
    let one = runner_with(&serde_json::json!({ "allow_read_folders": [secrets[0].0] }));
    let o = sh_run(
        &one,
        r#"for s in $SECRETS; do cat "$s" 2>/dev/null; done"#,
        &env,
    );
    assert_eq!(text(&o.stdout), secrets[0].1, "stderr: {}", text(&o.stderr));
}

/// The test helper tests/support/NAME.c, built where the jail can run it,
/// once per version of its source (the name holds the source's hash), so
/// that nothing is left behind per run.
fn c_helper(name: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(format!("{name}.c"));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(&src).unwrap().hash(&mut hasher);
    let dir = host_base().join("helpers");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(format!("{name}-{:016x}", hasher.finish()));
    if !bin.exists() {
        // Built aside and renamed, so a concurrent test never runs half a file.
        let partial = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempfile_in(&dir)
            .unwrap()
            .into_temp_path();
        build_c_helper(name, &partial);
        partial.persist(&bin).unwrap();
    }
    bin
}

/// tests/support/unix-connect.c: tries to connect to a unix socket by
/// every route.
fn unix_connect() -> PathBuf {
    c_helper("unix-connect")
}

/// The podman API socket tests/support/setup-env.sh starts.
fn engine_socket() -> PathBuf {
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    let path = PathBuf::from(sock.trim_start_matches("unix://"));
    assert!(
        path.exists(),
        "{} is missing: run tests/support/setup-env.sh",
        path.display()
    );
    path
}

/// A read-only host and `net none` still let the jail connect to host unix
/// sockets (a container engine's API socket gives full control of the
/// host). Every route is tried: socket(2), the 32-bit socketcall entry,
/// and io_uring; sockets in /run, in /tmp, and the engine's.
#[test]
fn no_host_unix_socket_is_reachable() {
    let helper = unix_connect();
    let run_dir = tempfile::Builder::new()
        .prefix("rr-fj-sock-")
        .tempdir_in("/run")
        .unwrap();
    let tmp_dir = tempfile::Builder::new()
        .prefix("rr-fj-sock-")
        .tempdir_in("/tmp")
        .unwrap();
    let listeners: Vec<(PathBuf, std::os::unix::net::UnixListener)> =
        [run_dir.path(), tmp_dir.path()]
            .iter()
            .map(|d| {
                let p = d.join("s.sock");
                let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
                l.set_nonblocking(true).unwrap();
                (p, l)
            })
            .collect();
    let mut sockets: Vec<PathBuf> = listeners.iter().map(|(p, _)| p.clone()).collect();
    sockets.push(engine_socket());
    // /tmp listed, so that its sockets are there to try.
    let r = runner_with(&serde_json::json!({ "allow_read_folders": ["/tmp"] }));
    for route in ["socket", "int80", "uring"] {
        for sock in &sockets {
            let cmd = Command::new(&helper).arg(route).arg(sock);
            let Pipes {
                stdin,
                stdout,
                stderr,
                process,
            } = spawn(&r, cmd);
            drop(stdin);
            let (mut out, mut err) = (String::new(), String::new());
            { stdout }.read_to_string(&mut out).unwrap();
            { stderr }.read_to_string(&mut err).unwrap();
            let status = process.wait().unwrap();
            assert!(
                !out.contains("connected") && !status.success(),
                "{route} reached {}: {out}{err}",
                sock.display()
            );
        }
    }
    for (p, l) in &listeners {
        assert_eq!(
            l.accept().map(|_| ()).unwrap_err().kind(),
            IoKind::WouldBlock,
            "{} got a connection",
            p.display()
        );
    }

    // With the option, the same helper does connect: the routes above were
    // really tried.
    let allowed = runner_with(&serde_json::json!({
        "allow_read_folders": ["/tmp"],
        "allow_unix_sockets": true,
    }));
    for route in ["socket", "int80"] {
        for (p, l) in &listeners {
            let o = allowed
                .run(
                    Some(OsStr::new("/bin/sh")),
                    OsStr::new(&format!("{} {route} {}", helper.display(), p.display())),
                    &[],
                    &Params::new(),
                    Some(Duration::from_secs(60)),
                )
                .unwrap();
            assert_eq!(
                text(&o.stdout),
                "connected\n",
                "{route} {}: {}",
                p.display(),
                text(&o.stderr)
            );
            l.accept().expect("the jailed command's connection");
        }
    }
}

/// A caller in a terminal (a real pty, its controlling terminal) runs a
/// jailed command that pushes input into the terminal with TIOCSTI: the
/// caller must read nothing. The exec runner, which isolates nothing, shows
/// that the injection works where nothing stops it.
#[test]
fn the_jailed_command_cannot_push_input_into_the_callers_terminal() {
    let report = run_in_child_on_a_terminal("tiocsti_child");
    assert!(
        report.contains("exec: the caller read \"INJECTED\\nINJECTED\\n\""),
        "the injection should work without a jail: {report}"
    );
    assert!(
        report.contains("firejail: the caller read nothing"),
        "the jail pushed input into the caller's terminal: {report}"
    );
}

#[test]
fn tiocsti_child() {
    if !is_child("tiocsti_child") {
        return;
    }
    let probe = c_helper("tiocsti");
    let tty = controlling_terminal_name();
    for (name, r) in [
        ("exec", Runner::new("exec", None).unwrap()),
        ("firejail", runner()),
    ] {
        let o = r
            .run(
                Some(OsStr::new("/bin/sh")),
                OsStr::new(&format!("{} {tty}", probe.display())),
                &[],
                &Params::new(),
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        println!(
            "{name}: {}: {}{}",
            o.status,
            text(&o.stdout).replace('\n', "; "),
            text(&o.stderr)
        );
        match terminal_input() {
            Some(input) => println!("{name}: the caller read {input:?}"),
            None => println!("{name}: the caller read nothing"),
        }
    }
    println!("child tiocsti_child done");
}

/// The jailed command has no capability, no_new_privs, the seccomp filter,
/// and no io_uring (which would bypass the filter).
#[test]
fn the_jail_has_no_capabilities_and_no_way_around_seccomp() {
    let o = sh_run(
        &runner(),
        "grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status",
        &[],
    );
    assert_eq!(
        text(&o.stdout),
        "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n",
        "stderr: {}",
        text(&o.stderr)
    );
    // io_uring is out of reach: refused by the seccomp filter, or for lack
    // of lockable memory where the kernel charges its rings to that limit
    // (which the command cannot raise).
    for r in [runner(), runner_json(r#""allow_unix_sockets": true"#)] {
        let o = sh_run(
            &r,
            &format!(
                "ulimit -l; ulimit -H -l; ulimit -l 64 2>/dev/null && echo RAISED; {} uring /nonexistent",
                unix_connect().display()
            ),
            &[],
        );
        let out = text(&o.stdout);
        assert!(
            out == "0\n0\nsocket: Operation not permitted\n"
                || out == "0\n0\nsocket: Cannot allocate memory\n",
            "{out}"
        );
    }
    // The same with a working folder, which the jail's shell enters first.
    let dir = host_dir();
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(
        &runner(),
        sh(&format!(
            "pwd; ulimit -l; {} uring /nonexistent",
            unix_connect().display()
        ))
        .cwd(dir.path()),
    );
    drop(stdin);
    let out = String::from_utf8(read_to_end(stdout)).unwrap();
    let err = String::from_utf8_lossy(&read_to_end(stderr)).into_owned();
    assert!(!process.wait().unwrap().success());
    let here = format!("{}\n0\n", dir.path().display());
    assert!(
        out == format!("{here}socket: Operation not permitted\n")
            || out == format!("{here}socket: Cannot allocate memory\n"),
        "{out} {err}"
    );
}

/// What the documentation says stays open: the system folders are
/// readable, root-only files too for a root caller, and socketpair(2)
/// works without allow_unix_sockets.
#[test]
fn system_folders_stay_readable_and_socketpairs_work() {
    let o = sh_run(
        &runner(),
        r#"cat /etc/passwd >/dev/null && echo etc
        cat /etc/shadow >/dev/null 2>&1 && echo shadow
        "$HELPER" pair"#,
        &[("HELPER", unix_connect().to_str().unwrap())],
    );
    let root = nix::unistd::geteuid().is_root();
    let want = format!("etc\n{}socketpair\n", if root { "shadow\n" } else { "" });
    assert_eq!(text(&o.stdout), want, "stderr: {}", text(&o.stderr));
}

/// The report of what a spawn enforced says what the jail really has: each
/// layer it claims is checked inside the jail, and a layer the options turn
/// off is reported off.
#[test]
fn the_enforcement_report_matches_the_jail() {
    let (report, out) = report_and_output(
        &runner(),
        &format!("{STATUS_OF_SELF}; echo ---; tail -n +3 /proc/net/dev | cut -d: -f1"),
    );
    assert_enforced_but(&report, &["landlock", "limits", "environment"]);
    let (status, net) = out.split_once("---\n").unwrap();
    assert_confined(status);
    // net none: the jail's only interface is its loopback.
    let interfaces: Vec<&str> = net.lines().map(str::trim).collect();
    assert_eq!(interfaces, ["lo"], "{out}");
    assert_eq!(
        report["layers"]["network"]["socket_families"],
        serde_json::json!(["inet,inet6,netlink"]),
        "{report}"
    );

    let open = runner_with(&serde_json::json!({"allow_networking": true}));
    let p = open
        .spawn(&Command::new("/bin/true").stdio(Stdio::Null, Stdio::Null, Stdio::Null))
        .unwrap();
    let report = p.enforcement().unwrap().to_json();
    p.wait().unwrap();
    assert_eq!(report["layers"]["network"]["enforced"], false, "{report}");
    assert_eq!(report["layers"]["seccomp"]["enforced"], true, "{report}");
}
