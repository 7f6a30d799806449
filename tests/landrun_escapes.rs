//! The escapes a careful attacker tries from inside a landrun sandbox, each
//! tried for real against the kernel, as root (the caller of CI and of most
//! containers) in-process, and as an unprivileged user through the
//! `restricted-runner` binary run under `setpriv`; then the fallback where
//! user namespaces are refused, forced the way it happens in the wild (a
//! seccomp filter refusing CLONE_NEWUSER, as Docker's default profile has).
//!
//! The policy is the careful user's: read+exec on the system folders, read
//! on /etc, one write folder, networking off, a secret elsewhere.

#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use restricted_runner::{ExitStatus, Output, Params, Runner};
use serde_json::{json, Value};

const NOBODY: u32 = 65534;

/// A folder tree for one test: a read folder with a file, a write folder,
/// and a secret outside both, all owned by `owner`.
struct Scene {
    _root: tempfile::TempDir,
    read: PathBuf,
    write: PathBuf,
    secret: PathBuf,
}

impl Scene {
    fn new(owner: u32) -> Scene {
        let root = tempfile::Builder::new()
            .prefix("rr-escape-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (read, write, secret) = (
            root.path().join("read"),
            root.path().join("write"),
            root.path().join("secret"),
        );
        std::fs::create_dir(&read).unwrap();
        std::fs::create_dir(&write).unwrap();
        std::fs::write(read.join("file"), "readable").unwrap();
        std::fs::copy("/usr/bin/true", read.join("mytrue")).unwrap();
        std::fs::write(write.join("mine"), "writable").unwrap();
        std::fs::write(&secret, "s3cret").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        for p in [
            root.path().to_path_buf(),
            read.clone(),
            read.join("file"),
            write.clone(),
            write.join("mine"),
            secret.clone(),
        ] {
            std::os::unix::fs::chown(&p, Some(owner), Some(owner)).unwrap();
        }
        Scene {
            _root: root,
            read,
            write,
            secret,
        }
    }

    fn policy(&self, extra: Value) -> Value {
        let mut o = json!({
            "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
            "allow_read_folders": ["/etc", "/proc", self.read.to_str().unwrap()],
            "allow_write_folders": [self.write.to_str().unwrap()],
        });
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `script` with /bin/sh in a landrun sandbox of `policy`, as root in
/// this process, or as `user` through the command-line tool.
fn attempt(policy: &Value, script: &str, user: Option<u32>) -> Output {
    match user {
        None => Runner::new("landrun", Some(&policy.to_string()))
            .unwrap_or_else(|e| panic!("landrun runner: {e}"))
            .run(
                Some(OsStr::new("/bin/sh")),
                OsStr::new(script),
                &[],
                &Params::new(),
                Some(Duration::from_secs(60)),
            )
            .unwrap_or_else(|e| panic!("run {script:?}: {e}")),
        Some(uid) => {
            let o = cli(policy, &["/bin/sh", "-c", script], Some(uid), None, &[]);
            Output {
                stdout: o.stdout,
                stderr: o.stderr,
                status: match o.status.code() {
                    Some(c) if c >= 128 => ExitStatus::Signaled(c - 128),
                    Some(c) => ExitStatus::Exited(c),
                    None => ExitStatus::Signaled(-1),
                },
            }
        }
    }
}

/// A copy of the command-line tool any user can run (the checkout may sit
/// in a folder only root can enter).
fn tool() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("rr-escape-tool-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let to = dir.join("restricted-runner");
        // Copied by another process: a copy written from this one could be
        // held open for writing by another test thread's fork until its
        // exec, and the kernel refuses to run a file open for writing.
        let copied = std::process::Command::new("cp")
            .arg(env!("CARGO_BIN_EXE_restricted-runner"))
            .arg(&to)
            .status()
            .unwrap();
        assert!(copied.success());
        to
    })
}

/// Namespaces the tool's process is refused (with EPERM), as a seccomp
/// filter in it does.
#[derive(Clone, Copy)]
enum Refused {
    /// New user namespaces through clone and unshare, as Docker's default
    /// profile does.
    UserNamespaces,
    /// New network namespaces through unshare only: the spawn's probe (a
    /// clone) passes, and the command's process fails to make its own.
    NetworkUnshare,
}

/// The filter of `refused`; clone3 gets ENOSYS (so the C library falls back
/// to clone, whose flags a filter sees).
fn refusing(refused: Refused) -> (seccompiler::BpfProgram, seccompiler::BpfProgram) {
    use seccompiler::*;
    let (flag, calls) = match refused {
        Refused::UserNamespaces => (
            libc::CLONE_NEWUSER as u64,
            vec![libc::SYS_clone, libc::SYS_unshare],
        ),
        Refused::NetworkUnshare => (libc::CLONE_NEWNET as u64, vec![libc::SYS_unshare]),
    };
    let cond = || {
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )
        .unwrap()
    };
    let arch = std::env::consts::ARCH.try_into().unwrap();
    let deny = SeccompFilter::new(
        calls
            .into_iter()
            .map(|nr| (nr, vec![SeccompRule::new(vec![cond()]).unwrap()]))
            .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .unwrap();
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .unwrap();
    (deny.try_into().unwrap(), clone3.try_into().unwrap())
}

/// Runs the tool: `run --runner landrun --options POLICY [flags] -- argv`,
/// as `user` (via setpriv), optionally refused some namespaces.
fn cli(
    policy: &Value,
    argv: &[&str],
    user: Option<u32>,
    refused: Option<Refused>,
    flags: &[&str],
) -> std::process::Output {
    let mut cmd = cli_command(policy, argv, user, flags);
    if let Some(refused) = refused {
        let (deny, clone3) = refusing(refused);
        // SAFETY: between fork and exec only installs two prepared filters.
        unsafe {
            cmd.pre_exec(move || {
                for f in [&deny, &clone3] {
                    seccompiler::apply_filter(f)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
                Ok(())
            });
        }
    }
    cmd.output().expect("running restricted-runner")
}

/// The command [`cli`] runs, stdin from /dev/null.
fn cli_command(
    policy: &Value,
    argv: &[&str],
    user: Option<u32>,
    flags: &[&str],
) -> std::process::Command {
    let mut cmd = match user {
        Some(uid) => {
            let mut c = std::process::Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg(tool());
            c
        }
        None => std::process::Command::new(tool()),
    };
    cmd.args(["run", "--runner", "landrun", "--options"])
        .arg(policy.to_string())
        .args(flags)
        .arg("--")
        .args(argv)
        .current_dir("/")
        .stdin(std::process::Stdio::null());
    cmd
}

fn assert_escape_fails(o: &Output, what: &str) {
    assert!(
        !text(&o.stdout).contains("ESCAPED"),
        "{what}: the escape worked: stdout {:?} stderr {:?}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn python(code: &str) -> String {
    format!("/usr/bin/python3 -c '{}'", code.replace('\'', "'\\''"))
}

// Host unix sockets, abstract sockets and the container engine's API.

fn unix_sockets(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let in_tmp = tempfile::Builder::new()
        .prefix("rr-escape-sock-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(in_tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let tmp_sock = in_tmp.path().join("s");
    let run_sock = PathBuf::from(format!(
        "/run/rr-escape-{}-{}.sock",
        std::process::id(),
        user.unwrap_or(0)
    ));
    let _ = std::fs::remove_file(&run_sock);
    let listeners: Vec<UnixListener> = [&tmp_sock, &run_sock]
        .iter()
        .map(|p| UnixListener::bind(p).unwrap())
        .collect();
    for p in [&tmp_sock, &run_sock] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let abstract_name = format!(
        "rr-escape-abstract-{}-{}",
        std::process::id(),
        user.unwrap_or(0)
    );
    let abstract_listener = {
        use std::os::linux::net::SocketAddrExt;
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap();
        UnixListener::bind_addr(&addr).unwrap()
    };
    let connect = |target: &str| {
        python(&format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({target})\n    print(\"ESCAPED\")\nexcept OSError as e:\n    print(\"refused:\", e)"
        ))
    };
    let policy = s.policy(json!({}));
    for target in [
        format!("{:?}", tmp_sock.to_str().unwrap()),
        format!("{:?}", run_sock.to_str().unwrap()),
        format!("\"\\0{abstract_name}\""),
        "\"/tmp/rr-podman.sock\"".to_string(),
        "\"/run/podman/podman.sock\"".to_string(),
        "\"/var/run/docker.sock\"".to_string(),
    ] {
        let o = attempt(&policy, &connect(&target), user);
        assert_escape_fails(&o, &format!("connecting to the host socket {target}"));
        assert!(text(&o.stdout).contains("refused"), "{target}: {o:?}");
    }
    // Through the container engine's API, the host is one request away.
    let o = attempt(
        &policy,
        "curl -s --max-time 5 --unix-socket /tmp/rr-podman.sock http://d/_ping && echo ESCAPED",
        user,
    );
    assert_escape_fails(&o, "talking to podman's API socket");
    // Nor may the sandbox list them: /proc/<pid>/net shows the network
    // namespace of that process, with no other check; the init (PID 1),
    // which is in the sandbox's namespace too (tests/landrun.rs), is not
    // shown.
    let o = attempt(&policy, "cat /proc/1/net/unix", user);
    assert!(!o.status.success() && o.stdout.is_empty(), "{o:?}");
    let o = attempt(&policy, "cat /proc/self/net/unix", user);
    assert!(o.status.success(), "{o:?}");
    let listed = text(&o.stdout);
    for name in [
        tmp_sock.to_str().unwrap(),
        run_sock.to_str().unwrap(),
        &abstract_name,
    ] {
        assert!(
            !listed.contains(name),
            "the sandbox lists the host socket {name}: {listed}"
        );
    }
    for l in listeners.iter().chain([&abstract_listener]) {
        l.set_nonblocking(true).unwrap();
        assert!(
            l.accept().is_err(),
            "a host socket accepted a connection from the sandbox"
        );
    }
    let _ = std::fs::remove_file(&run_sock);
}

#[test]
fn host_unix_sockets_are_unreachable_as_root() {
    unix_sockets(None);
}

#[test]
fn host_unix_sockets_are_unreachable_unprivileged() {
    unix_sockets(Some(NOBODY));
}

// Capabilities and what they would allow.

fn capabilities(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let o = attempt(
        &s.policy(json!({})),
        "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
        user,
    );
    let out = text(&o.stdout);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            status_field(&out, &format!("{set}:")),
            "0000000000000000",
            "{set} in {out}"
        );
    }
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&out, "Seccomp:"), "2");
}

#[test]
fn no_capability_is_left_as_root() {
    capabilities(None);
}

#[test]
fn no_capability_is_left_unprivileged() {
    capabilities(Some(NOBODY));
}

/// The view's root and its /dev (a folder of it) cannot be changed: no
/// file, folder, device node or mount can be added, even with /dev in a
/// read folder.
fn view_root_and_dev(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    // The mount system call itself: mount(8) refuses an ordinary user
    // before making it.
    let mount = python(
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         if libc.mount(b'none', b'/dev', b'tmpfs', 0, None) != 0:\n    \
         raise SystemExit(os.strerror(ctypes.get_errno()))",
    );
    for script in [
        "touch /new",
        "mkdir /dev/new",
        "touch /dev/new",
        "ln -s /proc/self/root/etc /dev/etc",
        "mknod /dev/mem0 c 1 1",
        mount.as_str(),
    ] {
        let o = attempt(
            &s.policy(json!({"allow_read_folders": ["/dev"]})),
            &format!("{script} && echo ESCAPED"),
            user,
        );
        assert_escape_fails(&o, script);
        // Refused by the kernel, not failed for want of the tool.
        let err = text(&o.stderr).to_lowercase();
        assert!(
            [
                "read-only file system",
                "permission denied",
                "operation not permitted",
            ]
            .iter()
            .any(|m| err.contains(m)),
            "{script}: {err}"
        );
    }
}

#[test]
fn the_view_root_and_dev_stay_unchanged_as_root() {
    view_root_and_dev(None);
}

#[test]
fn the_view_root_and_dev_stay_unchanged_unprivileged() {
    view_root_and_dev(Some(NOBODY));
}

/// Metadata of `p` that an escape would change.
fn metadata(p: &Path) -> (u32, u32, u32, i64, Vec<u8>) {
    let m = std::fs::metadata(p).unwrap();
    let mut xattrs = vec![0u8; 4096];
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: listxattr into a buffer of the given size.
    let n = unsafe {
        libc::listxattr(
            c.as_ptr(),
            xattrs.as_mut_ptr() as *mut libc::c_char,
            xattrs.len(),
        )
    };
    xattrs.truncate(n.max(0) as usize);
    (m.mode(), m.uid(), m.gid(), m.mtime(), xattrs)
}

fn metadata_changes(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let visible = s.read.join("file");
    let mine = s.write.join("mine");
    let before: Vec<_> = [&visible, &s.secret, &mine]
        .iter()
        .map(|p| metadata(p))
        .collect();
    let policy = s.policy(json!({}));
    // A valid file capability (cap_sys_admin+ep), version 2.
    let cap = "b\"\\x00\\x00\\x00\\x02\\x00\\x00\\x20\\x00\\x00\\x00\\x20\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"";
    for path in [&visible, &s.secret] {
        let p = path.to_str().unwrap();
        for (what, code) in [
            ("chmod", format!("os.chmod({p:?}, 0o4777)")),
            ("chown", format!("os.chown({p:?}, 1, 1)")),
            ("utime", format!("os.utime({p:?}, (0, 0))")),
            (
                "user.* xattr",
                format!("os.setxattr({p:?}, \"user.rr\", b\"1\")"),
            ),
            (
                "file capability",
                format!("os.setxattr({p:?}, \"security.capability\", {cap})"),
            ),
            ("write", format!("open({p:?}, \"a\").write(\"x\")")),
        ] {
            let script = python(&format!("import os\ntry:\n    {code}\n    print(\"ESCAPED\")\nexcept OSError as e:\n    print(\"refused:\", e)"));
            let o = attempt(&policy, &script, user);
            assert_escape_fails(&o, &format!("{what} on {p}"));
        }
    }
    // Inside the write folder content may change, but no set-user-ID bit
    // nor file capability may be planted for the host to run later.
    let m = mine.to_str().unwrap();
    for (what, code) in [
        ("setuid bit", format!("os.chmod({m:?}, 0o4755)")),
        ("setgid bit", format!("os.chmod({m:?}, 0o2755)")),
        (
            "file capability",
            format!("os.setxattr({m:?}, \"security.capability\", {cap})"),
        ),
    ] {
        let script = python(&format!("import os\ntry:\n    {code}\n    print(\"ESCAPED\")\nexcept OSError as e:\n    print(\"refused:\", e)"));
        let o = attempt(&policy, &script, user);
        assert_escape_fails(&o, &format!("{what} in the write folder"));
    }
    let after: Vec<_> = [&visible, &s.secret, &mine]
        .iter()
        .map(|p| metadata(p))
        .collect();
    assert_eq!(before, after, "metadata changed on the host");
    assert_eq!(std::fs::read_to_string(&visible).unwrap(), "readable");
    assert_eq!(std::fs::read_to_string(&s.secret).unwrap(), "s3cret");
}

#[test]
fn nothing_outside_the_write_folder_changes_as_root() {
    metadata_changes(None);
}

#[test]
fn nothing_outside_the_write_folder_changes_unprivileged() {
    metadata_changes(Some(NOBODY));
}

fn secrets_stay_unreadable(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let secret = s.secret.to_str().unwrap();
    let w = s.write.to_str().unwrap();
    let policy = s.policy(json!({}));
    for (what, script) in [
        ("directly", format!("cat {secret} && echo ESCAPED")),
        (
            "through a symlink in the write folder",
            format!("ln -s {secret} {w}/l; cat {w}/l && echo ESCAPED"),
        ),
        (
            "through /proc/self/root",
            format!("cat /proc/self/root{secret} && echo ESCAPED"),
        ),
        (
            "through /proc/1/root",
            format!("cat /proc/1/root{secret} && echo ESCAPED"),
        ),
        ("as /root", "ls /root && echo ESCAPED".to_string()),
    ] {
        let o = attempt(&policy, &script, user);
        assert_escape_fails(&o, &format!("reading the secret {what}"));
        assert!(!text(&o.stdout).contains("s3cret"), "{what}: {o:?}");
    }
    // Read folders do not execute, even through the ELF loader (their
    // mount is noexec).
    let r = s.read.to_str().unwrap();
    let o = attempt(
        &policy,
        &format!(
            "{r}/mytrue && echo ESCAPED; /lib64/ld-linux-x86-64.so.2 {r}/mytrue && echo ESCAPED"
        ),
        user,
    );
    assert_escape_fails(&o, "executing a file of a read folder");
}

#[test]
fn secrets_stay_unreadable_as_root() {
    secrets_stay_unreadable(None);
}

#[test]
fn secrets_stay_unreadable_unprivileged() {
    secrets_stay_unreadable(Some(NOBODY));
}

fn host_state(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let policy = s.policy(json!({}));
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let w = s.write.to_str().unwrap();
    for (what, script) in [
        ("sethostname", "hostname rr-escaped && echo ESCAPED".to_string()),
        ("an address on lo", "ip addr add 10.99.99.99/32 dev lo && echo ESCAPED".to_string()),
        ("a character device", format!("mknod {w}/kmsg c 1 11 && echo ESCAPED")),
        ("the kernel log", "dmesg | head -1 | grep . && echo ESCAPED".to_string()),
        ("the user keyring", python("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nif libc.syscall(250, 0, -4, 0) >= 0:\n    print(\"ESCAPED\")")),
        ("a new user namespace", "unshare -U -r true && echo ESCAPED".to_string()),
        ("a mount", "mount -t tmpfs none /tmp 2>&1 && echo ESCAPED".to_string()),
        ("a signal to the caller", format!("kill -0 {} && echo ESCAPED", std::process::id())),
        ("the caller's command line", "cat /proc/1/cmdline | grep -a landrun_escapes && echo ESCAPED".to_string()),
        ("tracing PID 1", python("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfor request in (16, 0x4206):\n    if libc.ptrace(request, 1, 0, 0) == 0:\n        print(\"ESCAPED\")")),
        ("PID 1's memory", "od -c /proc/1/mem | head -1 | grep . && echo ESCAPED".to_string()),
    ] {
        let o = attempt(&policy, &script, user);
        assert_escape_fails(&o, what);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    let addrs = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(!text(&addrs.stdout).contains("10.99.99.99"));
    assert!(!s.write.join("kmsg").exists());
    // PID 1 is not shown at all.
    let o = attempt(&policy, "tr '\\0' ' ' < /proc/1/cmdline", user);
    assert_pid_1_is_hidden(&text(&o.stdout), &format!("{o:?}"));
}

/// The command's program, whose first act is to read PID 1, never finds it
/// (the sandbox process, with the caller's command line and memory, may
/// still be there as it execs the init, and then the init is): the
/// sandbox's /proc shows no process the program may not trace.
fn pid_1_is_hidden_from_the_start(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let policy = s.policy(json!({}));
    for i in 0..50 {
        let o = cli(
            &policy,
            &["/bin/cat", "/proc/1/cmdline", "/proc/1/status"],
            user,
            None,
            &[],
        );
        let seen = text(&o.stdout).replace('\0', " ");
        assert_pid_1_is_hidden(&seen, &format!("spawn {i}: {o:?}"));
    }
}

#[test]
fn pid_1_is_hidden_from_the_start_as_root() {
    pid_1_is_hidden_from_the_start(None);
}

#[test]
fn pid_1_is_hidden_from_the_start_unprivileged() {
    pid_1_is_hidden_from_the_start(Some(NOBODY));
}

/// The init of a sandbox, seen from outside while the command runs, holds
/// no capability in any set (for a caller without root, of its user
/// namespace's) and has no_new_privs set.
fn the_init_holds_nothing(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let policy = s.policy(json!({}));
    let mut cmd = cli_command(
        &policy,
        &["/bin/sh", "-c", "echo up; read _ || true"],
        user,
        &[],
    );
    let mut tool_run = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running restricted-runner");
    let mut up = [0u8; 3];
    tool_run
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut up)
        .unwrap();
    assert_eq!(&up, b"up\n");
    // The tool's child, once it has exec'd the init (the command may start
    // first).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let init = loop {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", tool_run.id())).unwrap();
        let found = tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
            .flat_map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|pid| pid.parse::<i32>().ok())
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"rr-init\0"))
            });
        if let Some(pid) = found {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no init among the tool's children"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_init_holds_nothing(init);
    drop(tool_run.stdin.take());
    assert!(tool_run.wait().unwrap().success());
}

#[test]
fn the_init_holds_nothing_as_root() {
    the_init_holds_nothing(None);
}

#[test]
fn the_init_holds_nothing_unprivileged() {
    the_init_holds_nothing(Some(NOBODY));
}

#[test]
fn the_host_cannot_be_changed_as_root() {
    host_state(None);
}

#[test]
fn the_host_cannot_be_changed_unprivileged() {
    host_state(Some(NOBODY));
}

// Networking off.

fn network(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let policy = s.policy(json!({}));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let (up, tp) = (
        udp.local_addr().unwrap().port(),
        tcp.local_addr().unwrap().port(),
    );
    let script = python(&format!(
        "import socket\nfor i in range(5):\n    try:\n        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"ESCAPED\", (\"127.0.0.1\", {up}))\n    except OSError as e:\n        print(\"refused:\", e)\ntry:\n    socket.create_connection((\"127.0.0.1\", {tp}), timeout=2)\n    print(\"ESCAPED\")\nexcept OSError as e:\n    print(\"refused:\", e)"
    ));
    let o = attempt(&policy, &script, user);
    assert_escape_fails(&o, "TCP to a host listener");
    // The host's listeners are not even listed by the command's /proc
    // entry, and the init's is not there (tests/landrun.rs checks from
    // outside that the init shares the command's network namespace).
    let o = attempt(&policy, "cat /proc/1/net/tcp || cat /proc/1/net/udp", user);
    assert!(!o.status.success() && o.stdout.is_empty(), "{o:?}");
    let o = attempt(&policy, "cat /proc/self/net/tcp /proc/self/net/udp", user);
    assert!(o.status.success(), "{o:?}");
    let listed = text(&o.stdout);
    for port in [tp, up] {
        let local = format!("0100007F:{port:04X}");
        assert!(
            !listed.contains(&local),
            "the sandbox lists the host's socket on port {port}: {listed}"
        );
    }
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        udp.recv(&mut buf).is_err(),
        "a UDP datagram from the sandbox reached the host"
    );
    tcp.set_nonblocking(true).unwrap();
    assert!(tcp.accept().is_err());
}

#[test]
fn no_udp_or_tcp_reaches_the_host_as_root() {
    network(None);
}

#[test]
fn no_udp_or_tcp_reaches_the_host_unprivileged() {
    network(Some(NOBODY));
}

// Processes.

fn outlive(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    let policy = s.policy(json!({}));
    let tag = format!("{}{}", std::process::id() % 1000, user.unwrap_or(0) % 7);
    let script = format!(
        "setsid sleep 1001.{tag} & ( (sleep 1002.{tag} &) & ) ; \
         perl -e 'setpgrp(0, 0); exec \"sleep\", \"1003.{tag}\"' & sleep 0.3; echo started"
    );
    let o = attempt(&policy, &script, user);
    assert!(text(&o.stdout).contains("started"), "{o:?}");
    for n in 1001..=1003 {
        let left = host_pids_with_cmdline(&format!("sleep\0{n}.{tag}"));
        assert!(
            left.iter().all(|p| wait_gone(*p, Duration::from_secs(2))),
            "sleep {n}.{tag} outlived the run: {left:?}"
        );
    }
}

#[test]
fn no_descendant_outlives_the_run_as_root() {
    outlive(None);
}

#[test]
fn no_descendant_outlives_the_run_unprivileged() {
    outlive(Some(NOBODY));
}

#[test]
fn no_descendant_outlives_wait() {
    let s = Scene::new(0);
    let r = Runner::new("landrun", Some(&s.policy(json!({})).to_string())).unwrap();
    let tag = std::process::id();
    let Pipes { stdin, mut stdout, stderr, process } = spawn(
        &r,
        sh(&format!("setsid sleep 1004.{tag} & ( (sleep 1005.{tag} &) & ); sleep 0.3; echo started; exec sleep 1006.{tag}")),
    );
    assert_eq!(read_line(&mut stdout), "started");
    let pids: Vec<i32> = (1004..=1006)
        .flat_map(|n| wait_for_pids(&format!("sleep\0{n}.{tag}"), 1))
        .collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    process.kill(libc::SIGKILL).unwrap();
    process.wait().unwrap();
    for p in pids {
        assert!(!pid_alive(p), "pid {p} outlived wait");
    }
    drop((stdin, stderr));
}

fn fork_bomb(user: Option<u32>) {
    let s = Scene::new(user.unwrap_or(0));
    // Processes of the same user outside the sandbox do not count.
    let mut outside = Vec::new();
    if let Some(uid) = user {
        for _ in 0..6 {
            outside.push(
                std::process::Command::new("setpriv")
                    .args([
                        &format!("--reuid={uid}"),
                        &format!("--regid={uid}"),
                        "--clear-groups",
                        "sleep",
                        "30",
                    ])
                    .spawn()
                    .unwrap(),
            );
        }
    }
    let policy = s.policy(json!({"max_processes": 5}));
    let o = attempt(&policy, "for i in $(seq 1 3); do sleep 5 & done; echo three; for i in $(seq 1 20); do sleep 5 & done; echo ESCAPED", user);
    assert!(
        text(&o.stdout).contains("three"),
        "the limit counted processes outside the sandbox: {o:?}"
    );
    assert_escape_fails(&o, "a fork bomb under max_processes");
    for mut c in outside {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn max_processes_bounds_the_tree_as_root() {
    fork_bomb(None);
}

#[test]
fn max_processes_bounds_the_tree_unprivileged() {
    fork_bomb(Some(NOBODY));
}

// A terminal.

#[test]
fn no_input_can_be_pushed_into_the_callers_terminal() {
    let s = Scene::new(0);
    let (master, slave) = pty();
    let script = python("import fcntl, termios\ntry:\n    fcntl.ioctl(0, termios.TIOCSTI, b\"E\")\n    print(\"ESCAPED\")\nexcept OSError as e:\n    print(\"refused:\", e)");
    // The tool hands the sandbox its own stdin: here, the terminal.
    let stdin = slave;
    let o = std::process::Command::new(tool())
        .args(["run", "--runner", "landrun", "--options"])
        .arg(s.policy(json!({})).to_string())
        .args(["--", "/bin/sh", "-c", &script])
        .stdin(stdin)
        .output()
        .unwrap();
    assert!(!text(&o.stdout).contains("ESCAPED"), "{o:?}");
    assert!(text(&o.stdout).contains("refused"), "{o:?}");
    // Nothing waits to be read on the terminal.
    let mut fds = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&master),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: polls one fd.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 100) };
    assert!(
        ready == 0 || fds[0].revents & libc::POLLIN == 0,
        "input was pushed into the terminal"
    );
}

// The fallback where user namespaces are refused.

/// Runs `true` as `user`, refused `refused`, and checks the spawn failed
/// closed naming `layer` and the way out.
fn assert_fails_closed(s: &Scene, user: Option<u32>, refused: Refused, layer: &str) {
    let o = cli(
        &s.policy(json!({})),
        &["/bin/true"],
        user,
        Some(refused),
        &[],
    );
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = text(&o.stderr);
    assert!(err.contains("requirements not met"), "{err}");
    assert!(err.contains(layer), "{err}");
    assert!(err.contains("best_effort"), "{err}");
}

#[test]
fn without_user_namespaces_the_spawn_fails_closed_naming_the_layer() {
    let s = Scene::new(NOBODY);
    assert_fails_closed(&s, Some(NOBODY), Refused::UserNamespaces, "user namespace");
}

#[test]
fn best_effort_without_user_namespaces_keeps_the_other_layers_and_says_so() {
    let s = Scene::new(NOBODY);
    let policy = s.policy(json!({"best_effort": true}));
    let secret = s.secret.to_str().unwrap();
    let script = format!(
        "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; cat {secret} && echo ESCAPED; echo done"
    );
    let o = cli(
        &policy,
        &["/bin/sh", "-c", &script],
        Some(NOBODY),
        Some(Refused::UserNamespaces),
        &["--show-enforcement"],
    );
    let out = text(&o.stdout);
    assert!(out.contains("done"), "{o:?}");
    assert!(!out.contains("ESCAPED") && !out.contains("s3cret"), "{out}");
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&out, "Seccomp:"), "2");
    let report: Value = text(&o.stderr)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no enforcement report in {:?}", text(&o.stderr)));
    assert_eq!(
        report["layers"]["namespaces"]["enforced"], false,
        "{report}"
    );
    assert_eq!(report["layers"]["landlock"]["enforced"], true, "{report}");
    assert_eq!(report["layers"]["seccomp"]["enforced"], true, "{report}");
    let missing = report["missing"].as_array().unwrap();
    assert!(
        missing.iter().any(|m| m["layer"] == "namespaces"
            && m["reason"].as_str().unwrap().contains("user namespace")),
        "{report}"
    );
    let mut sink = String::new();
    let _ = std::io::stdin().take(0).read_to_string(&mut sink);
}

/// The command's process makes the network namespace itself, while the
/// sandbox process waits for it to say so: when it cannot, the spawn fails
/// closed naming the layer (and does not hang), or with best_effort runs
/// with the layers left.
#[test]
fn without_network_namespaces_the_spawn_fails_closed_naming_the_layer() {
    let s = Scene::new(0);
    assert_fails_closed(&s, None, Refused::NetworkUnshare, "network namespace");
    assert_fails_closed(
        &Scene::new(NOBODY),
        Some(NOBODY),
        Refused::NetworkUnshare,
        "network namespace",
    );

    let policy = s.policy(json!({"best_effort": true}));
    let script = format!("cat {} && echo ESCAPED; echo done", s.secret.display());
    let o = cli(
        &policy,
        &["/bin/sh", "-c", &script],
        None,
        Some(Refused::NetworkUnshare),
        &["--show-enforcement"],
    );
    let out = text(&o.stdout);
    assert!(out.contains("done"), "{o:?}");
    assert!(!out.contains("ESCAPED"), "{out}");
    assert!(
        text(&o.stderr).contains("network namespace"),
        "the report names what is missing: {o:?}"
    );
}

/// With TCP ports listed the sandbox keeps the host's network namespace:
/// Landlock allows only those ports, seccomp refuses UDP, raw and packet
/// sockets, and Landlock's scope keeps the host's abstract unix sockets
/// out of reach.
#[test]
fn listed_tcp_ports_leave_no_other_way_out() {
    let s = Scene::new(0);
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let name = format!("rr-escape-ports-{}", std::process::id());
    let abstract_listener = {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        UnixListener::bind_addr(&addr).unwrap()
    };
    let (ap, op, up) = (
        allowed.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    let policy = s.policy(json!({"allow_connect_tcp": [ap]}));
    let code = [
        "import socket".to_string(),
        format!("socket.create_connection((\"127.0.0.1\", {ap}), timeout=5).close()"),
        "print(\"listed ok\")".to_string(),
        "for what, make in [".to_string(),
        format!("    (\"tcp {op}\", lambda: socket.create_connection((\"127.0.0.1\", {op}), timeout=2)),"),
        format!("    (\"udp\", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"x\", (\"127.0.0.1\", {up}))),"),
        "    (\"udp6\", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)),".to_string(),
        "    (\"raw\", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),".to_string(),
        "    (\"packet\", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),".to_string(),
        format!("    (\"abstract\", lambda: socket.socket(socket.AF_UNIX).connect(\"\\0{name}\")),"),
        "]:".to_string(),
        "    try:".to_string(),
        "        make()".to_string(),
        "        print(\"ESCAPED\", what)".to_string(),
        "    except OSError as e:".to_string(),
        "        print(\"refused\", what, e.errno)".to_string(),
    ]
    .join("\n");
    let script = python(&code);
    let o = attempt(&policy, &script, None);
    let out = text(&o.stdout);
    assert!(out.contains("listed ok"), "{o:?}");
    assert_escape_fails(&o, "another way out than the listed port");
    for what in ["udp", "udp6", "raw", "packet"] {
        assert!(
            out.contains(&format!("refused {what} {}", libc::EPERM)),
            "{what}: {out}"
        );
    }
    other.set_nonblocking(true).unwrap();
    assert!(other.accept().is_err());
    abstract_listener.set_nonblocking(true).unwrap();
    assert!(abstract_listener.accept().is_err());
}
