//! The `landrun` runner against the real kernel's Landlock, rlimits and
//! network namespaces. Every security claim is tested by trying the escape.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use restricted_runner::{Command, ErrorKind, ExitStatus, Output, Params, Runner, Stdio};
use serde_json::{json, Value};

/// What a shell and the usual tools need: read and exec of the system
/// folders, read of /etc.
fn system() -> Value {
    json!({
        "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
        "allow_read_folders": ["/etc"],
    })
}

/// A runner with the system folders plus `extra` (list options are appended).
fn runner(extra: Value) -> Runner {
    try_runner(extra).unwrap_or_else(|e| panic!("landrun runner: {e}"))
}

fn try_runner(extra: Value) -> restricted_runner::Result<Runner> {
    let mut o = system();
    let map = o.as_object_mut().unwrap();
    for (k, v) in extra.as_object().unwrap() {
        match (map.get_mut(k), v) {
            (Some(Value::Array(have)), Value::Array(more)) => have.extend(more.iter().cloned()),
            _ => {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    Runner::new("landrun", Some(&o.to_string()))
}

fn sh_run(r: &Runner, script: &str) -> Output {
    run_with(r, script, &Params::new())
}

fn run_with(r: &Runner, script: &str, params: &Params) -> Output {
    r.run(
        Some(OsStr::new("/bin/sh")),
        OsStr::new(script),
        &[],
        params,
        Some(Duration::from_secs(60)),
    )
    .unwrap_or_else(|e| panic!("run {script:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The command failed the way a sandbox refuses: the path is not in its
/// view (ENOENT), the view is read-only there (EROFS), Landlock or the
/// missing capabilities refuse (EACCES, EPERM).
fn assert_denied(o: &Output, what: &str) {
    assert_ne!(o.status, ExitStatus::Exited(0), "{what} was allowed: {o:?}");
    let err = text(&o.stderr);
    assert!(
        [
            "Permission denied",
            "No such file or directory",
            "Read-only file system",
            "Operation not permitted",
            "cannot access",
            "Directory nonexistent",
        ]
        .iter()
        .any(|m| err.contains(m)),
        "{what}: expected a refusal, got stderr {err:?}"
    );
}

fn assert_ok(o: &Output, what: &str) {
    assert_eq!(
        o.status,
        ExitStatus::Exited(0),
        "{what} failed: stdout {:?} stderr {:?}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rr-landrun-")
        .tempdir()
        .unwrap()
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

// The pipe cases every runner passes.

#[test]
fn echo_through_cat_works() {
    echo_through_cat(&runner(json!({})));
}

#[test]
fn many_writes_get_replies() {
    many_writes(&runner(json!({})));
}

#[test]
fn stderr_is_captured() {
    stderr_capture(&runner(json!({})));
}

#[test]
fn kill_reaches_grandchildren() {
    // Pids inside the sandbox are its PID namespace's: find the grandchild
    // on the host by its unique command line.
    let r = runner(json!({}));
    let marker = format!("{}.{}", 100 + std::process::id() % 100, std::process::id());
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&r, sh(&format!("sleep {marker} & echo started; sleep 100")));
    assert_eq!(read_line(&mut stdout), "started");
    let found = wait_for_pids(&format!("sleep\0{marker}"), 1);
    assert_eq!(found.len(), 1, "grandchild not found on the host");
    process.kill(libc::SIGTERM).unwrap();
    assert_eq!(process.wait().unwrap(), ExitStatus::Signaled(libc::SIGTERM));
    assert!(
        wait_gone(found[0], Duration::from_secs(5)),
        "grandchild survived the kill"
    );
    drop((stdin, stderr));
}

#[test]
fn missing_command_is_named() {
    command_not_found(&runner(json!({})));
}

#[test]
fn env_vars_reach_the_child() {
    env_vars(&runner(json!({})));
}

#[test]
fn early_exit_gives_epipe() {
    early_exit_epipe(&runner(json!({})));
}

#[test]
fn sixty_four_mib_in_and_out() {
    bulk_through_cat(&runner(json!({})), 64 << 20);
}

#[test]
fn wait_timeout_leaves_process_running() {
    wait_timeout(&runner(json!({})));
}

#[test]
fn run_captures_output_and_codes() {
    run_output_and_codes(&runner(json!({})));
}

#[test]
fn run_does_not_hang_on_background_grandchild() {
    run_background_grandchild(&runner(json!({})));
}

#[test]
fn run_times_out() {
    run_timeout(&runner(json!({})));
}

#[test]
fn the_alias_landlock_works() {
    let r = Runner::new("landlock", Some(&system().to_string())).unwrap();
    assert_ok(&sh_run(&r, "true"), "true");
}

// Process setup.

#[test]
fn child_has_own_group_default_signals_empty_mask_and_only_stdio() {
    // A deliberately inheritable fd at a known number.
    let f = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 onto a free high fd number, closed below.
    let leaked = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), 201) };
    assert_eq!(leaked, 201);
    let r = runner(json!({"allow_read_folders": ["/proc"]}));
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(
        &r,
        Command::new("sh")
            .arg("-c")
            .arg("echo $$; cat /proc/self/status /proc/self/stat; ls -l /proc/self/fd"),
    );
    let shell = read_line(&mut stdout).parse::<i32>().unwrap();
    drop(stdin);
    let mut s = String::new();
    stdout.read_to_string(&mut s).unwrap();
    drop(stderr);
    assert!(process.wait().unwrap().success(), "{s}");
    // SAFETY: closing the fd made above.
    unsafe { libc::close(leaked) };
    assert!(!sigpipe_ignored(&s), "SIGPIPE ignored");
    assert_eq!(status_field(&s, "SigBlk:"), "0000000000000000");
    assert_eq!(
        status_field(&s, "NoNewPrivs:"),
        "1",
        "no_new_privs is not set"
    );
    let stat = s.lines().find(|l| l.contains(") ")).unwrap();
    // `cat` is a child of the shell, which leads its own session and group
    // (pids as the sandbox's PID namespace numbers them).
    assert_eq!(
        stat_pgrp(stat),
        shell,
        "the shell does not lead its own process group"
    );
    let session: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, shell, "the shell does not lead its own session");
    // The fds of `ls`, a grandchild: 0, 1, 2 and the one on the listed folder.
    let fds = listed_fds(&s);
    assert_eq!(fds, ["0", "1", "2"], "child saw fds:\n{s}");
}

#[test]
fn no_new_privs_is_set_in_the_child_only() {
    let r = runner(json!({"allow_read_folders": ["/proc"]}));
    let o = sh_run(&r, "grep NoNewPrivs /proc/self/status");
    assert_ok(&o, "grep");
    assert_eq!(text(&o.stdout).split_whitespace().nth(1), Some("1"));
    let mine = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        mine.contains("NoNewPrivs:\t0"),
        "the test process got no_new_privs"
    );
}

// Filesystem escapes and grants.

#[test]
fn reading_outside_the_allow_lists_is_denied() {
    let dir = tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let r = runner(json!({}));
    let o = sh_run(&r, &format!("cat {}", secret.display()));
    assert_denied(&o, "reading a secret outside the allow lists");
    assert!(!text(&o.stdout).contains("s3cret"));
    // /tmp is not granted either (the reference granted it silently).
    assert_denied(&sh_run(&r, "ls /tmp"), "listing /tmp");
    assert_denied(
        &sh_run(&r, &format!("echo x > {}/new", dir.path().display())),
        "writing under /tmp",
    );
    assert!(!dir.path().join("new").exists());
    // Nor the rest of /dev.
    assert_denied(&sh_run(&r, "echo x > /dev/full"), "writing /dev/full");
    // The caller itself still reads it.
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret");
}

#[test]
fn read_folders_allow_reading_only() {
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), "data").unwrap();
    std::fs::copy("/usr/bin/true", dir.path().join("mytrue")).unwrap();
    let r = runner(json!({"allow_read_folders": [path(dir.path())]}));
    let d = dir.path().display();
    let o = sh_run(&r, &format!("cat {d}/f; ls {d}"));
    assert_ok(&o, "reading a read folder");
    assert_eq!(text(&o.stdout), "datafmytrue\n".replace("fm", "f\nm"));
    assert_denied(&sh_run(&r, &format!("echo x > {d}/g")), "creating a file");
    assert_denied(&sh_run(&r, &format!("echo x >> {d}/f")), "appending");
    assert_denied(&sh_run(&r, &format!(": > {d}/f")), "truncating");
    assert_denied(&sh_run(&r, &format!("rm {d}/f")), "removing");
    assert_denied(&sh_run(&r, &format!("mkdir {d}/sub")), "making a folder");
    // Read does not mean execute (the reference let read folders execute).
    assert_denied(&sh_run(&r, &format!("{d}/mytrue")), "executing");
    let e = r
        .spawn(&Command::new(dir.path().join("mytrue")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    assert!(e.message().contains("mytrue"), "{e}");
    assert!(e.message().contains("allow_read_exec_folders"), "{e}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("f")).unwrap(),
        "data"
    );
}

#[test]
fn write_folders_allow_writing_but_not_executing() {
    let dir = tempdir();
    let r = runner(json!({"allow_write_folders": [path(dir.path())]}));
    let d = dir.path().display();
    let o = sh_run(
        &r,
        &format!(
            "mkdir {d}/sub && echo hi > {d}/sub/f && cat {d}/sub/f && mv {d}/sub/f {d}/g && \
             : > {d}/g && printf '#!/bin/sh\\necho ran\\n' > {d}/s.sh && chmod +x {d}/s.sh"
        ),
    );
    assert_ok(&o, "writing a write folder");
    assert_eq!(text(&o.stdout), "hi\n");
    assert!(dir.path().join("g").exists() && dir.path().join("s.sh").exists());
    assert_denied(
        &sh_run(&r, &format!("{d}/s.sh")),
        "executing in a write folder",
    );

    let rx = runner(json!({"allow_write_exec_folders": [path(dir.path())]}));
    let o = sh_run(&rx, &format!("{d}/s.sh"));
    assert_ok(&o, "executing in a write-exec folder");
    assert_eq!(text(&o.stdout), "ran\n");
}

#[test]
fn single_files_are_granted_alone() {
    let dir = tempdir();
    let (r_file, w_file, other) = (
        dir.path().join("r"),
        dir.path().join("w"),
        dir.path().join("other"),
    );
    for f in [&r_file, &w_file, &other] {
        std::fs::write(f, "orig").unwrap();
    }
    let r = runner(json!({
        "allow_read_files": [path(&r_file)],
        "allow_write_files": [path(&w_file)],
    }));
    assert_eq!(
        text(&sh_run(&r, &format!("cat {}", r_file.display())).stdout),
        "orig"
    );
    assert_denied(
        &sh_run(&r, &format!("echo x > {}", r_file.display())),
        "writing a read file",
    );
    assert_ok(
        &sh_run(&r, &format!("echo new > {}", w_file.display())),
        "writing a write file",
    );
    assert_eq!(std::fs::read_to_string(&w_file).unwrap(), "new\n");
    assert_denied(
        &sh_run(&r, &format!("cat {}", other.display())),
        "reading a sibling",
    );
    assert_denied(
        &sh_run(&r, &format!("echo x > {}/created", dir.path().display())),
        "creating a sibling",
    );
}

#[test]
fn dev_null_zero_and_urandom_are_always_allowed() {
    let r = runner(json!({}));
    let o = sh_run(
        &r,
        "echo x >/dev/null && cat /dev/null && head -c 3 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c",
    );
    assert_ok(&o, "the always-allowed devices");
    assert_eq!(text(&o.stdout), "3\n5\n");
}

#[test]
fn unknown_or_wrongly_typed_paths_are_named() {
    let e = try_runner(json!({"allow_read_folders": ["/no/such/rr-dir"]})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    assert!(e.message().contains("/no/such/rr-dir"), "{e}");
    assert!(e.message().contains("allow_read_folders"), "{e}");
    // best_effort skips it.
    let r = runner(json!({"allow_read_folders": ["/no/such/rr-dir"], "best_effort": true}));
    assert_ok(&sh_run(&r, "true"), "best_effort with a missing folder");
    // A file where a folder is expected, and the reverse.
    let e = try_runner(json!({"allow_write_folders": ["/etc/hostname"]})).unwrap_err();
    assert!(e.message().contains("is not a folder"), "{e}");
    let e = try_runner(json!({"allow_read_files": ["/etc"]})).unwrap_err();
    assert!(e.message().contains("is a folder"), "{e}");
    // With params the check happens at spawn (landrun_cycles.rs checks that
    // it leaves nothing behind).
    let r = runner(json!({"allow_write_folders": ["{{ .dir }}"]}));
    let mut params = Params::new();
    params.insert("dir", "/no/such/rr-param-dir");
    let e = r
        .run(None, OsStr::new("true"), &[], &params, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    assert!(e.message().contains("/no/such/rr-param-dir"), "{e}");
    let e = r
        .run(None, OsStr::new("true"), &[], &Params::new(), None)
        .unwrap_err();
    assert!(e.message().contains("dir"), "{e}");
}

#[test]
fn a_failure_in_the_child_is_reported() {
    let dir = tempdir();
    let script = dir.path().join("bad-interp");
    std::fs::write(&script, "#!/no/such/rr-interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = runner(json!({"allow_read_exec_folders": [path(dir.path())]}));
    let e = r.spawn(&Command::new(&script)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    assert!(e.message().contains("bad-interp"), "{e}");
    assert!(e.message().contains("interpreter"), "{e}");
}

#[test]
fn params_fill_paths_per_spawn_across_threads() {
    let dirs: Vec<_> = (0..2).map(|_| tempdir()).collect();
    for (i, d) in dirs.iter().enumerate() {
        std::fs::write(d.path().join("secret"), format!("secret-{i}")).unwrap();
    }
    let r = std::sync::Arc::new(runner(json!({"allow_read_folders": ["{{ .mine }}"]})));
    let paths: Vec<String> = dirs.iter().map(|d| path(d.path())).collect();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let r = r.clone();
            let mine = paths[i].clone();
            let theirs = paths[1 - i].clone();
            std::thread::spawn(move || {
                let mut params = Params::new();
                params.insert("mine", mine.clone());
                for _ in 0..25 {
                    let o = run_with(&r, &format!("cat {mine}/secret"), &params);
                    assert_ok(&o, "reading my own folder");
                    assert_eq!(text(&o.stdout), format!("secret-{i}"));
                    let o = run_with(&r, &format!("cat {theirs}/secret"), &params);
                    assert_denied(&o, "reading the other thread's folder");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn the_caller_is_never_restricted() {
    let r = runner(json!({}));
    for _ in 0..3 {
        assert_denied(&sh_run(&r, "ls /tmp"), "listing /tmp in the child");
    }
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), "w").unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("f")).unwrap(), "w");
    std::fs::read_dir("/tmp").unwrap();
    std::fs::read_to_string("/etc/hostname").unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let exec = Runner::new("exec", None).unwrap();
    let o = exec
        .run(
            None,
            OsStr::new("ls /tmp >/dev/null && grep NoNewPrivs /proc/self/status"),
            &[],
            &Params::new(),
            None,
        )
        .unwrap();
    assert_eq!(o.status, ExitStatus::Exited(0));
    assert!(text(&o.stdout).contains("NoNewPrivs:\t0"), "{o:?}");
}

#[test]
fn unrestricted_filesystem_with_ports_keeps_the_filesystem_open() {
    let dir = tempdir();
    std::fs::write(dir.path().join("secret"), "open").unwrap();
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let r = Runner::new(
        "landrun",
        Some(
            &json!({"unrestricted_filesystem": true,
                    "allow_connect_tcp": [allowed.local_addr().unwrap().port()]})
            .to_string(),
        ),
    )
    .unwrap();
    let o = sh_run(
        &r,
        &format!(
            "cat {0}/secret && echo w > {0}/new && ls /tmp >/dev/null",
            dir.path().display()
        ),
    );
    assert_ok(&o, "the filesystem under unrestricted_filesystem");
    assert_eq!(text(&o.stdout), "open");
    assert_ok(&connect(&r, &allowed), "connecting to the listed port");
    assert_denied(&connect(&r, &other), "connecting to an unlisted port");
}

// Network.

/// `bash` writes a line to the listener's port through /dev/tcp.
fn connect(r: &Runner, l: &TcpListener) -> Output {
    let port = l.local_addr().unwrap().port();
    r.run(
        Some(OsStr::new("/bin/bash")),
        OsStr::new(&format!("echo hi > /dev/tcp/127.0.0.1/{port}")),
        &[],
        &Params::new(),
        Some(Duration::from_secs(60)),
    )
    .unwrap()
}

/// Whether someone connected to `l` (it is non-blocking).
fn accepted(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    match l.accept() {
        Ok((mut s, _)) => {
            s.set_nonblocking(false).unwrap();
            let mut buf = String::new();
            s.read_to_string(&mut buf).unwrap();
            assert_eq!(buf, "hi\n");
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn tcp_connect_is_denied_unless_listed() {
    let listed = TcpListener::bind("127.0.0.1:0").unwrap();
    let unlisted = TcpListener::bind("127.0.0.1:0").unwrap();
    // No port listed and networking off: the sandbox has a network namespace
    // of its own, where no host listener exists (the reference left TCP
    // open in that case).
    let none = runner(json!({}));
    let o = connect(&none, &listed);
    assert_ne!(o.status, ExitStatus::Exited(0), "{o:?}");
    assert!(text(&o.stderr).contains("Connection refused"), "{o:?}");
    assert!(!accepted(&listed));

    let r = runner(json!({"allow_connect_tcp": [listed.local_addr().unwrap().port()]}));
    assert_ok(&connect(&r, &listed), "connecting to a listed port");
    assert!(accepted(&listed));
    assert_denied(&connect(&r, &unlisted), "connecting to an unlisted port");
    assert!(!accepted(&unlisted));

    let open = runner(json!({"allow_networking": true}));
    assert_ok(
        &connect(&open, &unlisted),
        "connecting with allow_networking",
    );
    assert!(accepted(&unlisted));
}

#[test]
fn tcp_bind_is_denied_unless_listed() {
    let free = || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (listed, unlisted) = (free(), free());
    let bind = |r: &Runner, port: u16| {
        sh_run(
            r,
            &format!(
                "perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => \"127.0.0.1\", \
                 LocalPort => {port}, Listen => 1, ReuseAddr => 1) or die \"bind: $!\\n\"; print \"bound\\n\"'"
            ),
        )
    };
    let r = runner(json!({"allow_bind_tcp": [listed]}));
    let o = bind(&r, listed);
    assert_ok(&o, "binding a listed port");
    assert_eq!(text(&o.stdout), "bound\n");
    assert_denied(&bind(&r, unlisted), "binding an unlisted port");
}

#[test]
fn isolate_network_leaves_only_the_sandbox_loopback() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    // allow_networking lifts Landlock's TCP rules: the namespace alone cuts.
    let r = runner(json!({
        "isolate_network": true,
        "allow_networking": true,
        "allow_read_folders": ["/proc"],
    }));
    let o = sh_run(
        &r,
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; /usr/sbin/ip -o link show",
    );
    assert_ok(&o, "listing interfaces");
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "lo");
    assert!(
        lines[1].starts_with("1: lo: <LOOPBACK,UP,LOWER_UP>"),
        "{out}"
    );
    // The host's listener is not there; the sandbox's own loopback works.
    let o = connect(&r, &l);
    assert_ne!(o.status, ExitStatus::Exited(0));
    assert!(text(&o.stderr).contains("Connection refused"), "{o:?}");
    assert!(!accepted(&l));
    let o = sh_run(
        &r,
        "perl -MIO::Socket::INET -e '$l = IO::Socket::INET->new(LocalAddr => \"127.0.0.1:0\", Listen => 1) or die; \
         $c = IO::Socket::INET->new(PeerAddr => \"127.0.0.1\", PeerPort => $l->sockport) or die \"connect: $!\"; print \"local ok\\n\"'",
    );
    assert_ok(&o, "a connection over the sandbox's own loopback");
    assert_eq!(text(&o.stdout), "local ok\n");
    // The host's own interfaces are untouched.
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert!(host.contains("lo:"));
    assert_ok(
        &sh_run(&runner(json!({"allow_networking": true})), "true"),
        "a plain spawn",
    );
}

// Resource limits.

#[test]
fn max_open_files_is_observed() {
    let r = runner(json!({"max_open_files": 8}));
    let open = |n: u32| {
        sh_run(
            &r,
            &format!(
                "ulimit -n; perl -e 'for (1..{n}) {{ open(my $f, \"<\", \"/dev/null\") \
                 or die \"open $_: $!\\n\"; push @f, $f }} print \"opened\\n\"'"
            ),
        )
    };
    let o = open(4);
    assert_ok(&o, "4 files under a limit of 8");
    assert_eq!(text(&o.stdout), "8\nopened\n");
    let o = open(10);
    assert_ne!(o.status, ExitStatus::Exited(0), "10 files opened: {o:?}");
    assert!(text(&o.stderr).contains("Too many open files"), "{o:?}");
}

#[test]
fn max_memory_bytes_is_observed() {
    let r = runner(json!({"max_memory_bytes": 256u64 << 20}));
    let o = sh_run(
        &r,
        "dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null && echo small",
    );
    assert_ok(&o, "a small allocation");
    let o = sh_run(&r, "dd if=/dev/zero of=/dev/null bs=512M count=1");
    assert_ne!(o.status, ExitStatus::Exited(0), "512 MiB allocated: {o:?}");
    assert!(text(&o.stderr).contains("memory exhausted"), "{o:?}");
}

#[test]
fn max_cpu_seconds_is_observed() {
    let r = runner(json!({"max_cpu_seconds": 1}));
    let o = sh_run(&r, "ulimit -t; exec sh -c 'while :; do :; done'");
    assert_eq!(text(&o.stdout), "1\n");
    assert_eq!(o.status, ExitStatus::Signaled(libc::SIGXCPU), "{o:?}");
}

#[test]
fn max_processes_stops_a_fork_bomb() {
    // As root (the kernel does not apply RLIMIT_NPROC to uid 0) a pids
    // cgroup bounds the command's tree; unprivileged, RLIMIT_NPROC counted
    // in the sandbox's user namespace does (tests/landrun_unprivileged.rs).
    let r = runner(json!({"max_processes": 4}));
    let bomb = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo all started";
    let o = sh_run(&r, bomb);
    assert_ne!(o.status, ExitStatus::Exited(0), "{o:?}");
    assert!(!text(&o.stdout).contains("all started"), "{o:?}");
    assert!(text(&o.stderr).contains("fork"), "{o:?}");
    // The same command under a higher limit starts them all.
    let r = runner(json!({"max_processes": 50}));
    let o = sh_run(&r, &bomb.replace("sleep 30", "sleep 0.1"));
    assert_ok(&o, "ten processes under a limit of 50");
}

#[test]
fn a_large_caller_spawns_a_child_with_a_smaller_memory_limit() {
    // The child shares the caller's 512 MiB address space until exec, and
    // its RLIMIT_AS is set below that size before exec: the limit must hold
    // for the new program without disturbing the caller.
    let big = vec![1u8; 512 << 20];
    let r = runner(json!({"max_memory_bytes": 64u64 << 20}));
    assert_ok(&sh_run(&r, "true"), "spawning from a large caller");
    assert_eq!(big[big.len() - 1], 1);
}

// The mount view and the init.

#[test]
fn the_view_holds_only_the_policy_a_minimal_dev_and_its_own_proc() {
    let dir = tempdir();
    let r = runner(json!({
        "allow_read_folders": ["/proc", "/dev"],
        "allow_write_folders": [path(dir.path())],
    }));
    let o = sh_run(&r, "ls -A /dev; echo ---; cat /proc/self/mounts");
    assert_ok(&o, "listing the view");
    let out = text(&o.stdout);
    let (dev, mounts) = out.split_once("---\n").unwrap();
    assert_eq!(
        dev.lines().collect::<Vec<_>>(),
        [
            "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "urandom", "zero"
        ]
    );
    let mode = |point: &str| -> String {
        mounts
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(point))
            .unwrap_or_else(|| panic!("{point} not mounted:\n{mounts}"))
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string()
    };
    let has = |m: &str, flag: &str| m.split(',').any(|f| f == flag);
    for (point, ro, noexec) in [
        ("/", true, false),
        ("/usr", true, false),
        ("/etc", true, true),
        ("/proc/sys", true, true),
        (dir.path().to_str().unwrap(), false, true),
    ] {
        let m = mode(point);
        assert_eq!(has(&m, "ro"), ro, "{point}: {m}");
        assert_eq!(has(&m, "noexec"), noexec, "{point}: {m}");
        assert!(has(&m, "nosuid"), "{point}: {m}");
    }
    // Nothing the policy does not name, not even the caller's /tmp.
    let mounted: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        !mounted.contains(&"/tmp") && !mounted.contains(&"/home") && !mounted.contains(&"/run"),
        "{mounts}"
    );
    assert_denied(&sh_run(&r, "ls /"), "listing the view's root");
    assert_denied(&sh_run(&r, "touch /new"), "writing the view's root");
    // /dev is a folder of that read-only root.
    assert!(!mounted.contains(&"/dev"), "{mounts}");
    assert_denied(&sh_run(&r, "touch /dev/new"), "writing the view's /dev");
    assert_denied(
        &sh_run(&r, "mkdir /dev/new"),
        "adding a folder to the view's /dev",
    );
}

/// The command's program starts while the sandbox process (which shares
/// the caller's memory until it execs the init) becomes the init, and never
/// sees either: the sandbox's /proc shows it no PID 1. Raced as hard as a
/// spawn allows: the program's first act is to read PID 1.
#[test]
fn the_command_never_sees_pid_1() {
    let r = runner(json!({"allow_read_folders": ["/proc"]}));
    let cmd = Command::new("/bin/cat")
        .args(["/proc/1/cmdline", "/proc/1/status"])
        .stdio(Stdio::Null, Stdio::Pipe, Stdio::Null);
    for i in 0..100 {
        let mut p = r.spawn(&cmd).unwrap();
        let mut raw = Vec::new();
        std::fs::File::from(p.take_stdout().unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        assert!(!p.wait().unwrap().success(), "spawn {i}");
        let seen = String::from_utf8_lossy(&raw).replace('\0', " ");
        assert_pid_1_is_hidden(&seen, &format!("spawn {i}"));
    }
}

/// Spawns from several threads at once: each spawn's pipes then take
/// whatever numbers the others just freed, and each sandbox still reports
/// its own command's status and output. (The Go binding's
/// `TestSpawnsLeaveNothingBehind` races the same under its race detector.)
#[test]
fn concurrent_spawns_keep_their_statuses() {
    let r = runner(json!({}));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let r = &r;
            scope.spawn(move || {
                for i in 0..40 {
                    let code = (t * 40 + i) % 7;
                    let o = sh_run(r, &format!("echo {t}.{i}; exit {code}"));
                    assert_eq!(o.status, ExitStatus::Exited(code), "{t}.{i}: {o:?}");
                    assert_eq!(text(&o.stdout), format!("{t}.{i}\n"), "{o:?}");
                }
            });
        }
    });
}

/// The spawn steers its children between CPUs; the program and the init
/// get back every CPU the caller may use.
#[test]
fn the_command_and_the_init_keep_the_callers_cpus() {
    let mine = status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "Cpus_allowed_list:",
    );
    let r = runner(json!({"allow_read_folders": ["/proc"]}));
    let cmd = Command::new("/bin/sh")
        .args([
            "-c",
            "grep Cpus_allowed_list /proc/self/status; read _ || true",
        ])
        .stdio(Stdio::Pipe, Stdio::Pipe, Stdio::Null);
    for _ in 0..10 {
        let mut p = r.spawn(&cmd).unwrap();
        let stdin = p.take_stdin().unwrap();
        let mut out = std::io::BufReader::new(std::fs::File::from(p.take_stdout().unwrap()));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        // The init, seen from here (the sandbox does not show it).
        let init = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
        drop(stdin);
        assert!(p.wait().unwrap().success());
        assert_eq!(status_field(&line, "Cpus_allowed_list:"), mine, "{line}");
        assert_eq!(status_field(&init, "Cpus_allowed_list:"), mine, "{init}");
    }
}

#[test]
fn the_init_is_pid_1_holds_nothing_and_ignores_the_sandbox() {
    let r = runner(json!({"allow_read_folders": ["/proc"]}));
    let cmd = Command::new("/bin/sh")
        .args([
            "-c",
            "echo $$; ls /proc/1; kill -TERM 1; kill -KILL 1; echo still here; read _ || true",
        ])
        .stdio(Stdio::Pipe, Stdio::Pipe, Stdio::Pipe);
    let mut p = r.spawn(&cmd).unwrap();
    let stdin = p.take_stdin().unwrap();
    let mut out = std::io::BufReader::new(std::fs::File::from(p.take_stdout().unwrap()));
    let mut seen = String::new();
    while !seen.contains("still here") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    // Seen from here: the init holds no capability and no_new_privs is set,
    // and it is in the command's network namespace, not the host's.
    assert_init_holds_nothing(p.pid());
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", p.pid())).unwrap();
    let command: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let netns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(netns(&p.pid().to_string()), netns(&command.to_string()));
    assert_ne!(netns(&p.pid().to_string()), netns("self"));
    drop(stdin);
    assert!(p.wait().unwrap().success());
    assert!(seen.starts_with("2\n"), "{seen}");
    assert!(seen.contains("still here"), "{seen}");
    // Its fds (the caller's pidfd among them) cannot be taken or read.
    let o = sh_run(
        &r,
        "cat /proc/1/fdinfo/3 /proc/1/environ; /usr/bin/python3 -c 'import os; os.open(\"/proc/1/fd/3\", os.O_RDONLY); print(\"TAKEN\")'",
    );
    assert!(!text(&o.stdout).contains("TAKEN"), "{o:?}");
    assert_denied(&o, "reading the init's fds");
}

// ---- environment and params, checked in the shared layer ----

/// A runner with the system folders, /proc (where the env cases read the
/// command's environment) and `extra`, the members of a JSON object.
fn runner_with_members(extra: &str) -> Runner {
    let mut o: Value = serde_json::from_str(&format!("{{{extra}}}")).unwrap();
    o.as_object_mut()
        .unwrap()
        .insert("allow_read_folders".into(), json!(["/proc"]));
    runner(o)
}

/// The caller's environment reaches the command by default;
/// `inherit_env: false` starts clean and `pass_env` names what passes.
#[test]
fn the_environment_follows_inherit_env_and_pass_env() {
    run_in_child("env_child", CALLER_ENV);
}

#[test]
fn env_child() {
    if !is_child("env_child") {
        return;
    }
    env_policy_cases(runner_with_members, true, &[]);
    println!("child env_child done");
}

/// A param with a `..` segment led the ruleset out of the folder the
/// template names; now it is refused, naming the option and the param.
#[test]
fn a_param_cannot_leave_the_folder_the_template_names() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("jobs/42")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/secret"), "s3cret").unwrap();
    let r = runner(
        json!({"allow_read_folders": [format!("{}/jobs/{{{{ .job }}}}", path(dir.path()))]}),
    );
    let secret = format!("{}/outside/secret", path(dir.path()));
    for job in ["../outside", "42/../../outside"] {
        let mut params = Params::new();
        params.insert("job", job);
        match r.run(
            None,
            OsStr::new(&format!("cat {secret}")),
            &[],
            &params,
            None,
        ) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{job}: {e}");
                assert!(e.message().contains("\"allow_read_folders\""), "{e}");
                assert!(e.message().contains("param \"job\""), "{e}");
            }
            Ok(o) => panic!("{job:?} opened {}: {}", secret, text(&o.stdout)),
        }
    }
    // Literal paths: normalised, or refused when the runner is built.
    let r = runner(json!({"allow_read_folders": [format!("{}//outside/./", path(dir.path()))]}));
    assert_eq!(text(&sh_run(&r, &format!("cat {secret}")).stdout), "s3cret");
    let e = try_runner(
        json!({"allow_read_folders": [format!("{}/jobs/../outside", path(dir.path()))]}),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
    assert!(e.message().contains("\"..\" segment"), "{e}");
}

#[test]
fn keys_given_twice_are_rejected() {
    assert_given_twice_rejected(
        "landrun",
        r#"{"allow_networking": false, "allow_networking": true}"#,
        "allow_networking",
    );
}
