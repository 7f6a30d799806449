//! The landrun runner's reuse of network namespaces, against the real
//! kernel: an empty one is joined by the next sandbox, never one that a
//! sandbox left anything in, never one in use, never the host's.
//!
//! A test binary of its own with a single test: the reuse is per process,
//! and spawns from other tests running alongside would take the namespaces
//! this one expects to see again.

#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use restricted_runner::{Command, ExitStatus, Output, Params, Runner};
use serde_json::json;

/// Prints the network namespace's cookie (`SO_NETNS_COOKIE`, never reused
/// while the kernel runs, unlike a namespace's inode number).
const COOKIE: &str = "import socket\n\
s = socket.socket(socket.AF_UNIX)\n\
print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), 'little'), flush=True)\n\
s.close()\n";

fn runner() -> Runner {
    let options = json!({
        "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
        "allow_read_folders": ["/etc"],
    });
    Runner::new("landrun", Some(&options.to_string())).expect("landrun runner")
}

fn python(r: &Runner, script: &str) -> Output {
    let o = r
        .run(
            Some(OsStr::new("/usr/bin/python3")),
            OsStr::new(script),
            &[],
            &Params::new(),
            Some(Duration::from_secs(60)),
        )
        .unwrap_or_else(|e| panic!("run {script:?}: {e}"));
    assert_eq!(o.status, ExitStatus::Exited(0), "{script:?}: {o:?}");
    o
}

fn cookie_of(out: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().next().unwrap_or_default();
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no cookie in {text:?}"))
}

fn cookie(r: &Runner) -> u64 {
    cookie_of(&python(r, COOKIE).stdout)
}

fn host_cookie() -> u64 {
    // SAFETY: creates a socket.
    let s = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(s >= 0);
    let mut v = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: reads an 8-byte option into a local.
    let rc = unsafe {
        libc::getsockopt(
            s,
            libc::SOL_SOCKET,
            71,
            &mut v as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(
        rc,
        0,
        "SO_NETNS_COOKIE: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: our own socket.
    unsafe { libc::close(s) };
    v
}

/// A port nothing listens on, picked by the host's kernel.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn network_namespaces_are_reused_only_when_empty_and_never_shared() {
    let r = runner();
    let host = host_cookie();

    // An empty namespace is joined again, loopback up; it is never the host's.
    let first = cookie(&r);
    // The first spawn made the record and its watchdog.
    let fds = fd_count();
    let second = cookie(&r);
    assert_ne!(first, host, "the sandbox has the host's network namespace");
    if !nix::unistd::geteuid().is_root() {
        // Each sandbox has a user namespace of its own, which owns its
        // network namespace: none can be handed to the next.
        assert_ne!(
            first, second,
            "a user namespace's network namespace was reused"
        );
        return;
    }
    assert_eq!(first, second, "an empty network namespace was not reused");

    // A connection left in TIME_WAIT (the server closed first) takes the
    // namespace with it: the next sandbox may bind the port again, without
    // SO_REUSEADDR, as in a new namespace.
    let port = free_port();
    let time_wait = format!(
        "{COOKIE}import socket\n\
         srv = socket.socket(); srv.bind(('127.0.0.1', {port})); srv.listen()\n\
         cli = socket.create_connection(('127.0.0.1', {port}))\n\
         conn, _ = srv.accept(); conn.close(); cli.close(); srv.close()\n\
         try:\n    socket.socket().bind(('127.0.0.1', {port})); print('bound')\n\
         except OSError:\n    print('in use')\n"
    );
    let o = python(&r, &time_wait);
    assert_eq!(
        cookie_of(&o.stdout),
        second,
        "the idle namespace was not joined"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("in use"),
        "no TIME_WAIT was left: {o:?}"
    );
    let bind_again = format!(
        "{COOKIE}import socket\n\
         srv = socket.socket(); srv.bind(('127.0.0.1', {port})); srv.close()\n"
    );
    let after = cookie_of(&python(&r, &bind_again).stdout);
    assert_ne!(
        after, second,
        "a namespace with a TIME_WAIT connection was reused"
    );

    // A daemon that keeps a listener past the command is killed with the
    // sandbox: the next one (in the same namespace) finds nothing there.
    let port = free_port();
    let daemon = format!(
        "{COOKIE}import os, socket, time\n\
         srv = socket.socket(); srv.bind(('127.0.0.1', {port})); srv.listen()\n\
         if os.fork() == 0:\n    os.setsid(); time.sleep(60)\n"
    );
    python(&r, &daemon);
    let probe = format!(
        "{COOKIE}import socket\n\
         try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\n\
         except ConnectionRefusedError:\n    print('refused')\n"
    );
    let o = python(&r, &probe);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("refused"),
        "a dead sandbox's listener was reachable: {out}"
    );

    // Two sandboxes at once never share one.
    let hold = format!("{COOKIE}import sys\nsys.stdin.read()\n");
    let start = || {
        let mut p = spawn(
            &r,
            Command::new("/usr/bin/python3").args(["-c", hold.as_str()]),
        );
        let line = read_line(&mut p.stdout);
        (p, cookie_of(line.as_bytes()))
    };
    let (a, in_a) = start();
    let (b, in_b) = start();
    assert_ne!(
        in_a, in_b,
        "two running sandboxes share a network namespace"
    );
    for p in [a, b] {
        drop(p.stdin);
        assert_eq!(p.process.wait().expect("wait"), ExitStatus::Exited(0));
    }

    // A killed sandbox (its init with it: no word on what it left) takes its
    // namespace with it.
    let reused = cookie(&r);
    assert!(
        reused == in_a || reused == in_b,
        "an empty namespace was not reused"
    );
    let (k, killed) = start();
    k.process.kill(libc::SIGKILL).expect("kill");
    let _ = k.process.wait();
    drop((k.stdin, k.stdout, k.stderr));
    let after = cookie(&r);
    assert_ne!(after, killed, "a killed sandbox's namespace was reused");

    // The idle namespaces are not in the caller's fd table: its fd count is
    // what it was after the first spawn, with more of them idle now.
    let held: Vec<_> = (0..3).map(|_| start()).collect();
    for (p, _) in held {
        drop(p.stdin);
        assert_eq!(p.process.wait().expect("wait"), ExitStatus::Exited(0));
    }
    assert_eq!(fd_count(), fds, "spawns changed the caller's fd count");
}
