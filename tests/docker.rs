//! The `docker` runner against a real engine, through both CLIs: podman,
//! and the docker CLI talking to podman's Docker-compatible API socket
//! (`$RR_DOCKER_SOCK`, default unix:///tmp/rr-podman.sock, as
//! tests/support/setup-env.sh starts it). Every container uses the local
//! image `$RR_TEST_IMAGE` (default localhost/rr-test:latest) with
//! `pull: never`: no test ever makes an engine reach for a registry.

mod common;

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Params, Runner, Stdio};

const OWNER_LABEL: &str = "io.restricted-runner.owner";

fn image() -> String {
    std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into())
}

/// Points the docker CLI at podman's API socket. The runner's CLI inherits
/// this process's environment, as it would a host program's.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let sock =
            std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
        // Set once, before any test of this binary spawns anything.
        std::env::set_var("DOCKER_HOST", sock);
    });
}

/// A label value unique to one test, to find its containers afterwards.
fn case_id(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The options of a test runner; an `"image"` in `extra` replaces the test
/// image (a key may be given only once).
fn options(engine: &str, extra: &str) -> String {
    let image = if extra.contains(r#""image":"#) {
        String::new()
    } else {
        format!(r#""image": "{}", "#, image())
    };
    format!(
        r#"{{{image}"engine": "{engine}", "pull": "never"{}{extra}}}"#,
        if extra.is_empty() { "" } else { ", " }
    )
}

fn try_runner(engine: &str, extra: &str) -> restricted_runner::Result<Runner> {
    setup();
    Runner::new("docker", Some(&options(engine, extra)))
}

fn runner_with(engine: &str, extra: &str) -> Runner {
    try_runner(engine, extra).unwrap_or_else(|e| {
        panic!(
            "no {engine} runner ({e}); the engine, the socket and the test image come from \
             tests/support/setup-env.sh"
        )
    })
}

fn runner(engine: &str) -> Runner {
    runner_with(engine, "")
}

/// A runner whose containers carry the extra label `rr-case=<case>`.
fn tagged_runner(engine: &str, case: &str, extra: &str) -> Runner {
    let opts = format!(r#""docker_run_opts": "--label rr-case={case}""#);
    let extra = if extra.is_empty() {
        opts
    } else {
        format!("{opts}, {extra}")
    };
    runner_with(engine, &extra)
}

/// Runs the podman CLI (which sees every container of the engine).
fn podman(args: &[&str]) -> String {
    let out = std::process::Command::new("podman")
        .args(args)
        .output()
        .expect("podman CLI");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a `podman tag` or `podman rmi` of a name of the test image, one at
/// a time in this process. podman 4.3 rewrites an image's whole name list
/// on each: two at once on the same image (this test's docker and podman
/// cases) can lose one's new name, for good.
fn retag(args: &[&str]) -> String {
    static NAMES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    podman(args)
}

/// Containers (running or not) labelled `rr-case=<case>`.
fn containers_of(case: &str) -> Vec<String> {
    podman(&[
        "ps",
        "--all",
        "--filter",
        &format!("label=rr-case={case}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn assert_no_container(case: &str) {
    let left = containers_of(case);
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// Waits until a container of `case` runs.
fn wait_running(case: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let running = podman(&[
            "ps",
            "--filter",
            &format!("label=rr-case={case}"),
            "--filter",
            "status=running",
            "--format",
            "{{.Names}}",
        ]);
        if !running.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no running container for {case}");
}

fn run_in(r: &Runner, script: &str) -> restricted_runner::Output {
    run(r, script)
}

fn stdout_of(r: &Runner, script: &str) -> String {
    let o = run_in(r, script);
    assert_eq!(
        o.status,
        ExitStatus::Exited(0),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// One test per engine CLI for each case below.
macro_rules! both_engines {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn docker() {
                super::$case("docker");
            }
            #[test]
            fn podman() {
                super::$case("podman");
            }
        }
    )*};
}

both_engines!(
    echo_cat,
    many_writes_cat,
    stderr_and_exit_code,
    env_reaches_container,
    early_exit,
    bulk_64_mib,
    wait_timeout_works,
    run_output,
    run_background,
    run_times_out_and_leaves_nothing,
    kill_stops_the_container,
    sigkill_through_engine,
    killed_cli_leaves_nothing,
    normal_and_failing_exit_leave_nothing,
    dropped_process_leaves_nothing,
    image_removed_after_start,
    networking_off_has_only_loopback,
    only_spawn_env_user_and_workdir,
    mounts_and_read_only,
    limits_apply,
    prepare_command_runs_first,
    run_stays_in_the_container,
    orphans_are_removed,
    shared_between_threads,
    a_param_cannot_mount_a_folder_outside_the_template,
    a_setuid_binary_gains_nothing,
    ordinary_images_work_without_new_privileges,
    host_sockets_are_not_in_the_container,
    the_enforcement_report_matches_the_container,
);

fn echo_cat(engine: &str) {
    echo_through_cat(&runner(engine));
}

fn many_writes_cat(engine: &str) {
    many_writes(&runner(engine));
}

fn stderr_and_exit_code(engine: &str) {
    stderr_capture(&runner(engine));
}

fn env_reaches_container(engine: &str) {
    env_vars(&runner(engine));
}

fn early_exit(engine: &str) {
    if engine == "podman" {
        return early_exit_epipe(&runner(engine));
    }
    // The docker CLI on podman's API exits 1 ("connection reset by peer")
    // instead of the container's code when the container ends while stdin
    // still holds unread data; the caller still gets EPIPE, and no hang.
    let (status, err) = early_exit_epipe_status(&runner(engine));
    match status {
        ExitStatus::Exited(0) => {}
        ExitStatus::Exited(1) => assert!(err.contains("connection reset"), "{err}"),
        other => panic!("{other:?}: {err}"),
    }
}

fn bulk_64_mib(engine: &str) {
    bulk_through_cat(&runner(engine), 64 << 20);
}

fn wait_timeout_works(engine: &str) {
    wait_timeout(&runner(engine));
}

/// The shared Run cases, except that a signal death is reported the way
/// the engines report it: exit code 128 + signal.
fn run_output(engine: &str) {
    let r = runner(engine);
    let o = run_in(&r, "echo hello; echo oops >&2");
    assert_eq!(
        (o.stdout.as_slice(), o.stderr.as_slice()),
        (&b"hello\n"[..], &b"oops\n"[..])
    );
    assert_eq!(o.status, ExitStatus::Exited(0));
    assert_eq!(run_in(&r, "exit 42").status, ExitStatus::Exited(42));
    let o = run_in(&r, "echo a | tr a b; for i in 1 2 3; do printf $i; done");
    assert_eq!(o.stdout, b"b\n123");
    assert_eq!(run_in(&r, "kill -9 $$").status, ExitStatus::Exited(137));
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
    // A multi-line script with a loop arrives intact.
    let script = "n=0\nwhile [ $n -lt 3 ]; do\n  n=$((n+1))\n  echo \"line $n\"\ndone\n";
    assert_eq!(stdout_of(&r, script), "line 1\nline 2\nline 3\n");
}

fn run_background(engine: &str) {
    run_background_grandchild(&runner(engine));
}

fn run_times_out_and_leaves_nothing(engine: &str) {
    let case = case_id("timeout");
    run_timeout(&tagged_runner(engine, &case, ""));
    assert_no_container(&case);
}

fn kill_stops_the_container(engine: &str) {
    let case = case_id("kill");
    let r = tagged_runner(engine, &case, "");
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(
        &r,
        sh("trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"),
    );
    assert_eq!(read_line(&mut stdout), "ready");
    process.kill(libc::SIGTERM).unwrap();
    // The signal reached the command inside the container, not only the CLI.
    assert_eq!(read_line(&mut stdout), "got TERM");
    assert_eq!(process.wait().unwrap(), ExitStatus::Exited(7));
    assert_no_container(&case);
    drop((stdin, stderr));
}

fn sigkill_through_engine(engine: &str) {
    let case = case_id("sigkill");
    let r = tagged_runner(engine, &case, "");
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&r, sh("echo ready; exec sleep 100"));
    assert_eq!(read_line(&mut stdout), "ready");
    let t = Instant::now();
    process.kill(libc::SIGKILL).unwrap();
    let status = process.wait().unwrap();
    assert!(
        matches!(
            status,
            ExitStatus::Exited(137) | ExitStatus::Signaled(libc::SIGKILL)
        ),
        "{status:?}"
    );
    // No graceful-stop wait (podman's is 10 s).
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "kill+wait took {:?}",
        t.elapsed()
    );
    assert_no_container(&case);
    drop((stdin, stderr));
}

fn killed_cli_leaves_nothing(engine: &str) {
    let case = case_id("cli-killed");
    let r = tagged_runner(engine, &case, "");
    let mut p = r.spawn(&Command::new("sleep").arg("100")).unwrap();
    wait_running(&case);
    // The CLI dies; the container it attached to keeps running under the engine.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(p.pid(), libc::SIGKILL) }, 0);
    let status = p.wait_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(status, Some(ExitStatus::Signaled(libc::SIGKILL)));
    assert_no_container(&case);
}

fn normal_and_failing_exit_leave_nothing(engine: &str) {
    let case = case_id("exits");
    let r = tagged_runner(engine, &case, "");
    for (cmd, code) in [("true", 0), ("false", 1), ("rr-no-such-command", -1)] {
        let mut p = r
            .spawn(&Command::new(cmd).stdio(Stdio::Null, Stdio::Null, Stdio::Pipe))
            .unwrap();
        let mut err = String::new();
        std::fs::File::from(p.take_stderr().unwrap())
            .read_to_string(&mut err)
            .unwrap();
        let status = p.wait().unwrap();
        if code >= 0 {
            assert_eq!(status, ExitStatus::Exited(code), "{cmd}: {err}");
        } else {
            // The container's init reports a command it cannot start.
            assert!(!status.success(), "{cmd}: {status:?}");
            assert!(
                err.contains("No such file or directory") || err.contains("not found"),
                "{err}"
            );
        }
        assert_no_container(&case);
    }
    assert_eq!(run_in(&r, "exit 3").status, ExitStatus::Exited(3));
    assert_no_container(&case);
}

fn dropped_process_leaves_nothing(engine: &str) {
    let case = case_id("drop");
    let r = tagged_runner(engine, &case, "");
    let p = r.spawn(&Command::new("sleep").arg("100")).unwrap();
    wait_running(&case);
    let pid = p.pid();
    drop(p);
    assert!(!pid_alive(pid));
    assert_no_container(&case);
}

/// The image is checked when the runner is built; one removed later makes
/// the engine fail the start (exit code 125), and either way nothing is left.
fn image_removed_after_start(engine: &str) {
    let case = case_id("rmi");
    let tag = format!("localhost/rr-gone-{case}:latest");
    let e = try_runner(engine, &format!(r#""image": "{tag}""#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
    assert!(
        e.message().contains(&tag) && e.message().contains("never"),
        "{e}"
    );

    retag(&["tag", &image(), &tag]);
    // The engine may answer a moment later than the tag command returns,
    // while other tests' podman commands hold its store: wait for it, up
    // to 10 s, as the spawn below needs the runner.
    let extra = format!(r#""image": "{tag}", "docker_run_opts": "--label rr-case={case}""#);
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        match try_runner(engine, &extra) {
            Ok(r) => break r,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => break runner_with(engine, &extra),
        }
    };
    retag(&["rmi", &tag]);
    let mut p = r
        .spawn(&Command::new("true").stdio(Stdio::Null, Stdio::Null, Stdio::Pipe))
        .unwrap();
    let mut err = String::new();
    std::fs::File::from(p.take_stderr().unwrap())
        .read_to_string(&mut err)
        .unwrap();
    let status = p.wait().unwrap();
    // podman's Docker-compatible API sometimes still resolves a name that
    // was untagged a moment before (the image itself stays, under the test
    // image's tag) and runs it; when the engine does fail, it says why.
    if status != ExitStatus::Exited(0) {
        assert_eq!(status, ExitStatus::Exited(125), "{err}");
        assert!(err.contains("image"), "{err}");
    }
    assert_no_container(&case);
}

fn networking_off_has_only_loopback(engine: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = runner_with(engine, r#""allow_networking": false"#);
    assert_eq!(stdout_of(&r, "ls /sys/class/net"), "lo\n");
    let o = run_in(
        &r,
        &format!("echo hi | nc -w 2 127.0.0.1 {port} && echo connected"),
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("connected"),
        "{o:?}"
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the host listener was reached");
}

fn only_spawn_env_user_and_workdir(engine: &str) {
    let r = runner_with(engine, r#""user": "nobody", "workdir": "/tmp""#);
    let env = [(OsString::from("RR_GIVEN"), OsString::from("yes"))];
    let o = r
        .run(
            None,
            OsStr::new("id -u; pwd; echo ${RR_GIVEN:-unset} ${DOCKER_HOST:-unset}; env | grep -c ^CARGO || true"),
            &env,
            &Params::new(),
            None,
        )
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "65534\n/tmp\nyes unset\n0\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn mounts_and_read_only(engine: &str) {
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("secret.txt"), "read me").unwrap();
    let r = runner_with(
        engine,
        r#""mounts": ["{{ .ro }}:/data:ro", "{{ .rw }}:/out"], "workdir": "/{{ .wd }}", "read_only": true"#,
    );
    let mut params = Params::new();
    params.insert("ro", ro.path().to_str().unwrap());
    params.insert("rw", rw.path().to_str().unwrap());
    params.insert("wd", "out");
    let script = "cat /data/secret.txt; echo; \
                  if echo x > /data/new 2>/dev/null; then echo ro-writable; fi; \
                  if touch /rootfs-file 2>/dev/null; then echo root-writable; fi; \
                  echo made > made.txt && pwd";
    let o = r
        .run(
            None,
            OsStr::new(script),
            &[],
            &params,
            Some(Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "read me\n/out\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!ro.path().join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.path().join("made.txt")).unwrap(),
        "made\n"
    );

    // A param that names no existing host folder is an error, not a new folder.
    params.insert("ro", "/nonexistent-rr-mount-source");
    let e = r
        .run(None, OsStr::new("true"), &[], &params, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    assert!(!std::path::Path::new("/nonexistent-rr-mount-source").exists());
    // A missing param names itself.
    let e = r
        .run(None, OsStr::new("true"), &[], &Params::new(), None)
        .unwrap_err();
    assert!(e.message().contains("\"ro\""), "{e}");
}

fn limits_apply(engine: &str) {
    let r = runner_with(engine, r#""memory": "64m", "pids_limit": 8, "cpus": 0.5"#);
    let limits = stdout_of(
        &r,
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
         cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
    );
    assert_eq!(limits, "67108864\n8\n");
    // Forking past the pids limit fails inside the container.
    let o = run_in(
        &r,
        "i=0; while [ $i -lt 12 ]; do sleep 5 & i=$((i+1)); done; echo spawned",
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("can't fork"),
        "{o:?}"
    );
}

fn prepare_command_runs_first(engine: &str) {
    let r = runner_with(engine, r#""prepare_command": "export PREP=done\ncd /tmp""#);
    assert_eq!(stdout_of(&r, "echo $PREP; pwd"), "done\n/tmp\n");
    // Applied on the pipes path too.
    let Pipes {
        stdin,
        stdout,
        stderr,
        process,
    } = spawn(&r, Command::new("pwd"));
    drop((stdin, stderr));
    let mut s = String::new();
    let mut stdout = stdout;
    stdout.read_to_string(&mut s).unwrap();
    assert_eq!(s, "/tmp\n");
    assert!(process.wait().unwrap().success());
    // A failing prepare_command stops the command.
    let r = runner_with(engine, r#""prepare_command": "exit 9""#);
    let o = run_in(&r, "echo ran");
    assert_eq!(
        (o.status, o.stdout.as_slice()),
        (ExitStatus::Exited(9), &b""[..])
    );
}

/// Option values and commands reach the engine as argv elements: nothing
/// is ever run by a shell on the host.
fn run_stays_in_the_container(engine: &str) {
    let marker = std::env::temp_dir().join(format!("rr-injected-{}", case_id("inj")));
    let m = marker.display();
    let e = try_runner(engine, &format!(r#""image": "alpine; touch {m}""#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    let r = runner(engine);
    let o = run_in(&r, &format!("touch {m}; echo $?"));
    assert_eq!(o.stdout, b"0\n");
    let o = run_in(&r, &format!("echo '$(touch {m})' \"; touch {m}\""));
    assert!(o.status.success());
    assert!(!marker.exists(), "a command ran on the host");
    // The hostname is the container's, not the host's.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(stdout_of(&r, "hostname"), host);
}

fn orphans_are_removed(engine: &str) {
    setup();
    let case = case_id("orphan");
    let (machine, boot) = (
        std::fs::read_to_string("/etc/machine-id")
            .unwrap()
            .trim()
            .to_string(),
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap()
            .trim()
            .to_string(),
    );
    // An owner that died: a pid that cannot exist (above pid_max).
    let dead = format!("{machine}:{boot}:2147483647:1");
    // A live owner: this test process with its real start time.
    let live = live_owner_label(&machine, &boot);
    let start = |label: &str, name: &str| {
        podman(&[
            "run",
            "-d",
            "--pull=never",
            "--name",
            name,
            "--label",
            &format!("{OWNER_LABEL}={label}"),
            "--label",
            &format!("rr-case={case}"),
            &image(),
            "sleep",
            "100",
        ]);
    };
    let (dead_name, live_name) = (format!("{case}-dead"), format!("{case}-live"));
    start(&dead, &dead_name);
    start(&live, &live_name);

    let json = CString::new(format!(r#"{{"engine": "{engine}"}}"#)).unwrap();
    let mut removed = 0u32;
    let mut err = std::ptr::null_mut();
    // SAFETY: valid C string and out pointers.
    let rc = unsafe {
        restricted_runner::ffi::rr_docker_remove_orphans(json.as_ptr(), &mut removed, &mut err)
    };
    if !err.is_null() {
        // SAFETY: the error object the call returned.
        let msg = unsafe { CStr::from_ptr(restricted_runner::ffi::rr_error_message(err)) };
        panic!("rr_docker_remove_orphans: {msg:?}");
    }
    assert_eq!(rc as u32, 0);
    assert!(removed >= 1, "removed {removed}");
    assert_eq!(containers_of(&case), std::slice::from_ref(&live_name));
    podman(&["rm", "--force", "--time=0", &live_name]);
    // Bad options are named.
    let e = restricted_runner::docker::remove_orphans(Some(r#"{"engine": "lxd"}"#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
}

fn live_owner_label(machine: &str, boot: &str) -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_string();
    format!("{machine}:{boot}:{}:{start}", std::process::id())
}

fn shared_between_threads(engine: &str) {
    let r = std::sync::Arc::new(runner(engine));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || {
                let o = run(&r, &format!("echo {i}"));
                assert_eq!(o.stdout, format!("{i}\n").into_bytes());
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn auto_picks_docker_when_its_engine_answers() {
    let r = runner("auto");
    let mut p = r
        .spawn(
            &Command::new("sleep")
                .arg("0.2")
                .stdio(Stdio::Null, Stdio::Null, Stdio::Null),
        )
        .unwrap();
    // Right after a vfork-style spawn the kernel may not have filled in the
    // new program's arguments yet: /proc shows an empty cmdline for a moment.
    let mut cmdline = Vec::new();
    for _ in 0..200 {
        cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid())).unwrap();
        if !cmdline.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap();
    assert_eq!(
        String::from_utf8_lossy(argv0),
        "docker",
        "cmdline {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(p.wait_timeout(Duration::from_secs(60)).unwrap().is_some());
}

#[test]
fn default_shell_is_the_containers() {
    assert_eq!(runner("podman").default_shell(), "/bin/sh");
}

#[test]
fn bad_options_are_invalid_options() {
    setup();
    for extra in [
        r#""docker_run_opts": "--label 'unbalanced""#,
        r#""docker_run_opts": "--detach""#,
        r#""mounts": ["/no-container-part"]"#,
        r#""pull": "sometimes""#,
        r#""shell": "/bin/bash""#,
    ] {
        let e = try_runner("podman", extra).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{extra}: {e}");
    }
    let e = Runner::new("docker", Some(r#"{"engine": "podman"}"#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("\"image\""), "{e}");
}

/// Requirement failures need another environment (no CLI in PATH, an engine
/// that does not answer), so they run in a child copy of this test binary.
#[test]
fn missing_cli_and_silent_engine_are_requirements_errors() {
    let exe = std::env::current_exe().unwrap();
    for (what, key, value) in [
        ("no-cli", "PATH", "/nonexistent"),
        ("no-engine", "DOCKER_HOST", "unix:///nonexistent/rr.sock"),
    ] {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "requirements_child", "--nocapture"])
            .env("RR_REQUIREMENTS_CHILD", what)
            .env(key, value)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("checked requirements"),
            "{what}"
        );
    }
}

#[test]
fn requirements_child() {
    let Ok(what) = std::env::var("RR_REQUIREMENTS_CHILD") else {
        return;
    };
    let engines: &[&str] = if what == "no-cli" {
        &["docker", "podman", "auto"]
    } else {
        &["docker"]
    };
    for engine in engines {
        let e = Runner::new("docker", Some(&options(engine, ""))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
        let want = if what == "no-cli" {
            "CLI is not installed"
        } else {
            "does not answer"
        };
        assert!(e.message().contains(want), "{engine}: {e}");
        // Built unchecked, the same runner fails its check and every spawn
        // with the same error, and its options are still read strictly.
        let r = Runner::new_unchecked("docker", Some(&options(engine, ""))).unwrap();
        for e in [
            r.check().unwrap_err(),
            r.spawn(&Command::new("true")).unwrap_err(),
            r.run(None, OsStr::new("true"), &[], &Params::new(), None)
                .unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
            assert!(e.message().contains(want), "{engine}: {e}");
        }
        let e =
            Runner::new_unchecked("docker", Some(&options(engine, r#""imag": "x""#))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    }
    if what == "no-engine" {
        // auto falls back to podman, which answers.
        Runner::new("docker", Some(&options("auto", ""))).unwrap();
    }
    println!("checked requirements");
}

/// An unchecked runner asks the engine nothing until it is checked or
/// spawns: a missing image (with `pull: never`) is reported then, and a
/// runner whose requirements are met spawns without an explicit check.
#[test]
fn unchecked_runner_probes_the_engine_at_check_and_first_spawn() {
    setup();
    let missing =
        r#"{"image": "localhost/rr-no-such-image:latest", "engine": "podman", "pull": "never"}"#;
    let e = Runner::new("docker", Some(missing)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
    let r = Runner::new_unchecked("docker", Some(missing)).unwrap();
    for e in [
        r.check().unwrap_err(),
        r.spawn(&Command::new("true")).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Requirements, "{e}");
        assert!(e.message().contains("rr-no-such-image"), "{e}");
    }
    for engine in ["podman", "docker"] {
        let r = Runner::new_unchecked("docker", Some(&options(engine, ""))).unwrap();
        let out = r
            .run(
                None,
                OsStr::new("echo unchecked"),
                &[],
                &Params::new(),
                None,
            )
            .unwrap();
        assert_eq!(out.stdout, b"unchecked\n", "{engine}");
        r.check().unwrap();
    }
}

#[test]
fn write_after_exit_is_epipe_not_a_hang() {
    let r = runner("podman");
    let mut p = r.spawn(&Command::new("true")).unwrap();
    let mut stdin = std::fs::File::from(p.take_stdin().unwrap());
    assert!(p.wait().unwrap().success());
    assert_eq!(
        stdin.write(b"x").unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
}

// ---- escapes that must fail ----

/// `{{ .job }}` = `../../x` mounted a host folder outside the template's;
/// now any param with a `..` segment is refused, naming key and param.
fn a_param_cannot_mount_a_folder_outside_the_template(engine: &str) {
    let case = case_id("dotdot");
    let base = tempfile::tempdir().unwrap();
    let jobs = base.path().join("jobs");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(jobs.join("42")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "s3cret").unwrap();
    let r = tagged_runner(
        engine,
        &case,
        &format!(r#""mounts": ["{}/{{{{ .job }}}}:/job:ro"]"#, jobs.display()),
    );
    let mut p = Params::new();
    p.insert("job", "42");
    let o = r
        .run(None, OsStr::new("ls /job && echo ok"), &[], &p, None)
        .unwrap();
    assert_eq!(o.stdout, b"ok\n", "{}", String::from_utf8_lossy(&o.stderr));
    for job in ["../outside", "42/../../outside", ".."] {
        p.insert("job", job);
        match r.run(None, OsStr::new("cat /job/secret"), &[], &p, None) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{job}: {e}");
                assert!(e.message().contains("\"mounts\""), "{e}");
                assert!(e.message().contains("param \"job\""), "{e}");
            }
            Ok(o) => panic!(
                "{job:?} was mounted: {}",
                String::from_utf8_lossy(&o.stdout)
            ),
        }
    }
    assert_no_container(&case);
}

/// The test image plus the probes: a setuid-root copy of
/// tests/support/suid-probe.c and tests/support/tiocsti.c. Its tag names
/// the probes' sources, so it is built once per version of them.
fn probe_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            use std::hash::{Hash, Hasher};
            use std::os::unix::fs::PermissionsExt;
            let support = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support");
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for probe in ["suid-probe.c", "tiocsti.c"] {
                std::fs::read(support.join(probe))
                    .unwrap()
                    .hash(&mut hasher);
            }
            let tag = format!("localhost/rr-test-probes:{:016x}", hasher.finish());
            let exists = std::process::Command::new("podman")
                .args(["image", "exists", &tag])
                .status()
                .expect("podman CLI");
            if exists.success() {
                return tag;
            }
            let root = tempfile::tempdir().unwrap();
            let bin = root.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(root.path().join("etc")).unwrap();
            std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
            for applet in ["sh", "cat", "id", "grep", "ls"] {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
            }
            build_c_helper("tiocsti", &bin.join("tiocsti"));
            let probe = bin.join("suid-probe");
            build_c_helper("suid-probe", &probe);
            std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o4755)).unwrap();
            std::fs::write(
                root.path().join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
            )
            .unwrap();
            let tar = root.path().with_extension("tar");
            let out = std::process::Command::new("tar")
                .arg("-C")
                .arg(root.path())
                .arg("-cf")
                .arg(&tar)
                .arg(".")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            podman(&[
                "import",
                "--change",
                "ENV PATH=/bin",
                tar.to_str().unwrap(),
                &tag,
            ]);
            std::fs::remove_file(&tar).unwrap();
            tag
        })
        .clone()
}

/// As an unprivileged user in the container, a setuid-root binary gave
/// euid 0 and a capability set. By default the container has
/// no-new-privileges; `no_new_privileges: false` brings the old behaviour
/// back (which shows that the probe does detect it).
fn a_setuid_binary_gains_nothing(engine: &str) {
    let image = probe_image();
    let r = runner_with(engine, &format!(r#""image": "{image}", "user": "nobody""#));
    assert_eq!(
        stdout_of(&r, "suid-probe"),
        "euid=65534\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n"
    );
    let open = runner_with(
        engine,
        &format!(r#""image": "{image}", "user": "nobody", "no_new_privileges": false"#),
    );
    let out = stdout_of(&open, "suid-probe");
    assert!(out.starts_with("euid=0\n"), "{out}");
    assert!(!out.contains("CapEff:\t0000000000000000"), "{out}");
}

/// no-new-privileges by default leaves an ordinary image working: its
/// shell, as root and as another user, pipes, files, processes.
fn ordinary_images_work_without_new_privileges(engine: &str) {
    for user in ["", r#""user": "nobody""#] {
        let r = runner_with(engine, user);
        let out = stdout_of(
            &r,
            "cd /tmp && echo hi > f && cat f | tr a-z A-Z && (sleep 0 & wait) && \
             id -u && grep NoNewPrivs /proc/self/status",
        );
        let uid = if user.is_empty() { "0" } else { "65534" };
        assert_eq!(out, format!("HI\n{uid}\nNoNewPrivs:\t1\n"), "{user}");
    }
}

#[test]
fn relative_and_dot_dot_paths_are_refused_when_built() {
    for (extra, key) in [
        (r#""workdir": "app""#, "workdir"),
        (r#""workdir": "/app/../etc""#, "workdir"),
        (r#""mounts": ["/srv/../etc:/data"]"#, "mounts"),
        (r#""mounts": ["/srv:/data/../etc"]"#, "mounts"),
    ] {
        let e = try_runner("podman", extra).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{extra}: {e}");
        assert!(e.message().contains(key), "{extra}: {e}");
    }
    // Normalised, not refused.
    let r = runner_with("podman", r#""workdir": "//tmp/./""#);
    assert_eq!(stdout_of(&r, "pwd"), "/tmp\n");
    // "" is unset, as go-restricted-runner's configs write it: the image's own.
    let image_own = stdout_of(&runner("podman"), "pwd");
    let r = runner_with("podman", r#""workdir": """#);
    assert_eq!(stdout_of(&r, "pwd"), image_own);
}

#[test]
fn keys_given_twice_are_rejected() {
    setup();
    assert_given_twice_rejected(
        "docker",
        &options("podman", r#""read_only": true, "read_only": false"#),
        "read_only",
    );
}

/// What the container environment holds whatever the options (the image's
/// and the engine's own).
const CONTAINER_OWN: &[&str] = &["PATH", "TERM", "container", "HOME", "HOSTNAME"];

/// A container gets the spawn's env and what `pass_env` names, never the
/// rest of the caller's environment; the passed values are not in the
/// CLI's argv, where any local user could read them.
#[test]
fn the_environment_is_the_spawns_and_pass_env() {
    run_in_child("env_child", CALLER_ENV);
}

#[test]
fn env_child() {
    if !is_child("env_child") {
        return;
    }
    setup();
    for engine in ["podman", "docker"] {
        env_policy_cases(|extra| runner_with(engine, extra), false, CONTAINER_OWN);
        let r = runner_with(engine, r#""pass_env": ["RR_LEAK_*"]"#);
        let Pipes {
            stdin,
            mut stdout,
            stderr,
            process,
        } = spawn(&r, sh("echo $RR_LEAK_API_KEY; cat"));
        assert_eq!(read_line(&mut stdout), "s3cret-api-key");
        let argv = std::fs::read(format!("/proc/{}/cmdline", process.pid())).unwrap();
        let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
        assert!(argv.contains("--env=RR_LEAK_API_KEY "), "{argv}");
        assert!(!argv.contains("s3cret"), "{argv}");
        drop((stdin, stderr));
        assert!(process.wait().unwrap().success());
    }
    println!("child env_child done");
}

/// A caller in a terminal runs a container whose command pushes input into
/// a terminal with TIOCSTI: the container has no way to the caller's
/// terminal. The same probe run by the exec runner shows it does inject
/// where nothing stops it.
#[test]
fn the_container_cannot_push_input_into_the_callers_terminal() {
    // Built here, so that the child finds it.
    probe_image();
    let report = run_in_child_on_a_terminal("tiocsti_child");
    assert!(
        report.contains("exec: the caller read \"INJECTED\\nINJECTED\\n\""),
        "the injection should work without a container: {report}"
    );
    for engine in ["podman", "docker"] {
        assert!(
            report.contains(&format!("{engine}: the caller read nothing")),
            "the {engine} container pushed input into the caller's terminal: {report}"
        );
    }
}

#[test]
fn tiocsti_child() {
    if !is_child("tiocsti_child") {
        return;
    }
    setup();
    let tty = controlling_terminal_name();
    let dir = tempfile::tempdir().unwrap();
    let host_probe = dir.path().join("tiocsti");
    build_c_helper("tiocsti", &host_probe);
    let image = probe_image();
    let runners = [
        (
            "exec",
            Runner::new("exec", None).unwrap(),
            host_probe.display().to_string(),
        ),
        (
            "podman",
            runner_with("podman", &format!(r#""image": "{image}""#)),
            "tiocsti".into(),
        ),
        (
            "docker",
            runner_with("docker", &format!(r#""image": "{image}""#)),
            "tiocsti".into(),
        ),
    ];
    for (name, r, probe) in runners {
        let o = r
            .run(
                Some(OsStr::new("/bin/sh")),
                OsStr::new(&format!("{probe} {tty}")),
                &[],
                &Params::new(),
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        println!(
            "{name}: {}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout).replace('\n', "; "),
            String::from_utf8_lossy(&o.stderr)
        );
        match terminal_input() {
            Some(input) => println!("{name}: the caller read {input:?}"),
            None => println!("{name}: the caller read nothing"),
        }
    }
    println!("child tiocsti_child done");
}

/// The host's unix sockets (the engine's API socket among them) are not in
/// the container unless a mount puts them there.
fn host_sockets_are_not_in_the_container(engine: &str) {
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    let sock = sock.trim_start_matches("unix://").to_string();
    assert!(std::path::Path::new(&sock).exists(), "{sock}");
    let r = runner(engine);
    let o = run_in(&r, &format!("ls {sock} 2>&1"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("{sock}: No such file or directory")),
        "{out}"
    );
    let listing = stdout_of(&r, "ls -a /tmp /run");
    assert!(!listing.contains(".sock"), "{listing}");
}

/// The report of what a spawn enforced says what the container really has:
/// each layer it claims is checked inside, and the ones the options leave
/// to the engine are reported so.
fn the_enforcement_report_matches_the_container(engine: &str) {
    let r = runner_with(
        engine,
        r#""allow_networking": false, "cap_drop": ["ALL"], "pids_limit": 32"#,
    );
    let (report, out) = report_and_output(&r, &format!("{STATUS_OF_SELF}; ls /sys/class/net"));
    assert_enforced_but(&report, &["landlock", "environment"]);
    assert_confined(&out);
    assert!(out.ends_with("lo\n") && !out.contains("eth"), "{out}");
    assert_eq!(report["layers"]["limits"]["pids-limit"], "32", "{report}");

    // Without cap_drop the engine's default set stays, and the report says so.
    let r = runner(engine);
    let p = r
        .spawn(&Command::new("true").stdio(Stdio::Null, Stdio::Null, Stdio::Null))
        .unwrap();
    let report = p.enforcement().unwrap().to_json();
    p.wait().unwrap();
    assert_eq!(
        report["layers"]["capabilities"]["enforced"], false,
        "{report}"
    );
}
