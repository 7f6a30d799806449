//! Spawn attributes against every real runner of this machine: the working
//! folder (`Command::cwd`, `rr_spawn_attrs_set_cwd`) and the exit fd.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Runner, Stdio};

/// Runs `command` with stdin closed and returns (status, stdout, stderr).
fn output(r: &Runner, command: Command) -> (ExitStatus, String, String) {
    let mut p = r
        .spawn(&command.stdio(Stdio::Null, Stdio::Pipe, Stdio::Pipe))
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let mut out = String::new();
    let mut err = String::new();
    std::fs::File::from(p.take_stdout().unwrap())
        .read_to_string(&mut out)
        .unwrap();
    std::fs::File::from(p.take_stderr().unwrap())
        .read_to_string(&mut err)
        .unwrap();
    (p.wait().unwrap(), out, err)
}

/// A fresh folder every runner sees as on the host (firejail replaces /tmp).
fn host_dir() -> tempfile::TempDir {
    let base = Path::new("/srv/restricted-runner-tests");
    let base = match std::fs::create_dir_all(base) {
        Ok(()) => base,
        Err(_) => Path::new(env!("CARGO_TARGET_TMPDIR")),
    };
    tempfile::Builder::new()
        .prefix("rr-attrs-test-")
        .tempdir_in(base)
        .unwrap()
}

fn landrun(extra: serde_json::Value) -> Runner {
    let mut options = serde_json::json!({
        "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
        "allow_read_folders": ["/etc"],
    });
    for (k, v) in extra.as_object().unwrap() {
        options[k] = v.clone();
    }
    Runner::new("landrun", Some(&options.to_string())).expect("landrun runner")
}

/// Held shared by the tests that spawn under firejail, exclusively by the
/// one that counts profile files left behind.
static PROFILES: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn firejail(options: serde_json::Value) -> Runner {
    Runner::new("firejail", Some(&options.to_string())).unwrap_or_else(|e| {
        panic!("the firejail runner is unavailable ({e}): run tests/support/setup-env.sh")
    })
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The cases every host runner passes: absolute and relative folders, a
/// relative program taken from the folder, a missing folder as an error.
fn host_cases(r: &Runner, dir: &Path) {
    let (status, out, err) = output(r, sh("pwd -P; echo made > here.txt").cwd(dir));
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out.trim(), canonical(dir));
    assert_eq!(
        std::fs::read_to_string(dir.join("here.txt")).unwrap(),
        "made\n"
    );

    let tool = dir.join("tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho from the folder tool\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (status, out, err) = output(r, Command::new("./tool.sh").cwd(dir));
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out, "from the folder tool\n");

    let missing = dir.join("no-such-folder");
    let e = r.spawn(&sh("true").cwd(&missing)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    assert!(e.message().contains("no-such-folder"), "{e}");
    let e = r.spawn(&sh("true").cwd(&tool)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{e}");
}

#[test]
fn exec_starts_in_the_folder() {
    let r = Runner::new("exec", None).unwrap();
    let dir = host_dir();
    host_cases(&r, dir.path());
    // Relative to the caller's current folder (the crate root under cargo).
    let here = std::env::current_dir().unwrap();
    let (_, out, _) = output(&r, sh("pwd -P").cwd("src"));
    assert_eq!(out.trim(), canonical(&here.join("src")));
}

#[test]
fn landrun_starts_in_an_allowed_folder() {
    let dir = host_dir();
    let r = landrun(serde_json::json!({ "allow_write_exec_folders": [dir.path()] }));
    host_cases(&r, dir.path());
}

/// Starting in a folder the rules do not name grants nothing there: either
/// the spawn fails naming the folder, or the command cannot read in it.
#[test]
fn landrun_folder_outside_the_rules_grants_nothing() {
    let secret = host_dir();
    std::fs::write(secret.path().join("secret.txt"), "s3cret").unwrap();
    let r = landrun(serde_json::json!({}));
    let cmd = sh("cat secret.txt; ls .; echo x > planted.txt")
        .cwd(secret.path())
        .stdio(Stdio::Null, Stdio::Pipe, Stdio::Pipe);
    match r.spawn(&cmd) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
            assert!(
                e.message().contains(&*secret.path().to_string_lossy()),
                "{e}"
            );
        }
        Ok(mut p) => {
            let mut out = String::new();
            std::fs::File::from(p.take_stdout().unwrap())
                .read_to_string(&mut out)
                .unwrap();
            p.wait().unwrap();
            assert!(!out.contains("s3cret"), "read the secret: {out}");
            assert!(!out.contains("secret.txt"), "listed the folder: {out}");
        }
    }
    assert!(!secret.path().join("planted.txt").exists());
}

#[test]
fn firejail_starts_in_a_visible_folder() {
    let _shared = PROFILES.read().unwrap_or_else(|p| p.into_inner());
    let dir = host_dir();
    let r = firejail(serde_json::json!({ "allow_write_folders": [dir.path()] }));
    host_cases(&r, dir.path());
}

/// A folder the profile hides is an error naming it, never a silent start
/// somewhere else (firejail alone would fall back to the home folder).
#[test]
fn firejail_folder_hidden_by_the_profile_is_an_error() {
    let _exclusive = PROFILES.write().unwrap_or_else(|p| p.into_inner());
    let visible = host_dir();
    let hidden = host_dir();
    let r = firejail(serde_json::json!({ "allow_read_folders": [visible.path()] }));
    let before = files_with_prefix(&std::env::temp_dir(), "rr-firejail-");
    let e = r.spawn(&sh("pwd").cwd(hidden.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    assert!(
        e.message().contains(&*hidden.path().to_string_lossy()),
        "{e}"
    );
    // Its profile file is gone with it.
    let after = files_with_prefix(&std::env::temp_dir(), "rr-firejail-");
    assert!(after.iter().all(|f| before.contains(f)), "{after:?}");
}

fn docker_runner(extra: &str) -> Option<Runner> {
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    let image =
        std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into());
    let options = format!(
        r#"{{"image": "{image}", "engine": "podman", "pull": "never", "allow_networking": false{extra}}}"#
    );
    match Runner::new("docker", Some(&options)) {
        Ok(r) => Some(r),
        Err(e) if std::env::var_os("RR_REQUIRE_ALL_RUNNERS").is_none() => {
            eprintln!("skipped: no container engine ({e}); DOCKER_HOST would be {sock}");
            None
        }
        Err(e) => panic!("the docker runner is unavailable: {e}"),
    }
}

#[test]
fn docker_folder_is_inside_the_container_and_overrides_workdir() {
    let Some(r) = docker_runner(r#", "workdir": "/root""#) else {
        return;
    };
    let (status, out, err) = output(&r, sh("pwd"));
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out.trim(), "/root");
    let (status, out, err) = output(&r, sh("pwd").cwd("/tmp"));
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out.trim(), "/tmp");
    // A folder the container lacks: the engine fails the command, naming it.
    let (status, _, err) = output(&r, sh("pwd").cwd("/rr-not-in-the-image"));
    assert_eq!(status, ExitStatus::Exited(126), "{err}");
    assert!(err.contains("/rr-not-in-the-image"), "{err}");
    let e = r.spawn(&sh("pwd").cwd("tmp")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("\"tmp\""), "{e}");
}

/// The exit fd becomes readable when the process exits, and not before.
#[test]
fn exit_fd_is_readable_once_the_process_exited() {
    let poll = |fd: i32, ms: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    };
    let _shared = PROFILES.read().unwrap_or_else(|p| p.into_inner());
    let dir = host_dir();
    let runners = [
        Runner::new("exec", None).unwrap(),
        landrun(serde_json::json!({})),
        firejail(serde_json::json!({ "allow_read_folders": [dir.path()] })),
    ];
    for r in &runners {
        let mut p = r
            .spawn(
                &Command::new("sleep")
                    .arg("0.3")
                    .stdio(Stdio::Null, Stdio::Null, Stdio::Null),
            )
            .unwrap();
        let fd = p.exit_fd().unwrap().as_raw_fd();
        assert!(!poll(fd, 0), "{:?}: readable while running", r.kind());
        assert!(poll(fd, 30_000), "{:?}: not readable after exit", r.kind());
        assert_eq!(
            p.wait_timeout(Duration::ZERO).unwrap(),
            Some(ExitStatus::Exited(0))
        );
        let e = p.exit_fd().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
}
