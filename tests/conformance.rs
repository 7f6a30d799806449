//! One conformance matrix across runners: every behaviour of
//! `restricted_runner::conformance::BEHAVIOURS` tried for real, from inside
//! each runner this machine has (exec, landrun, firejail, docker through
//! podman and through the docker CLI), with the careful user's policy. The
//! test prints the whole matrix (observed against declared) and fails when
//! a declared guarantee does not hold. Each attempt goes through the
//! `restricted-runner run` tool, as a user would try it, with a static C
//! probe (tests/support/conformance-probe.c) doing the attempt.
//!
//! Also: docs/conformance.md must equal the table generated from the
//! declarations (`RR_BLESS=1 cargo test --release --test conformance`
//! regenerates it).

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use restricted_runner::conformance::{self, BEHAVIOURS};
use restricted_runner::Kind;
use serde_json::{json, Value};

const TOOL: &str = env!("CARGO_BIN_EXE_restricted-runner");
/// A variable of the caller's environment the command should not see.
const CALLER_VAR: &str = "RR_CONFORMANCE_CALLER_SECRET";

#[test]
fn the_docs_table_is_generated_from_the_declarations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance.md");
    let fresh = conformance::markdown();
    if std::env::var_os("RR_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "docs/conformance.md differs from src/conformance.rs; run `RR_BLESS=1 cargo test --release --test conformance`"
    );
}

/// The static probe, built once into a folder of its own.
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-probe");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = dir.join("conformance-probe");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/conformance-probe.c");
        let built = Command::new("cc")
            .args(["-static", "-O1", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cc");
        assert!(built.success(), "building the probe");
        out
    })
}

/// The folders of the policy and the host's targets, outside them.
struct Scene {
    _root: tempfile::TempDir,
    _outside: tempfile::TempDir,
    read: PathBuf,
    write: PathBuf,
    secret: PathBuf,
    victim: PathBuf,
    new_file: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let root = tempfile::Builder::new()
            .prefix("rr-conformance-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        // Outside, in another top-level folder than the policy's (firejail
        // hides a whole top-level folder once it whitelists in it).
        let outside = tempfile::Builder::new()
            .prefix("rr-conformance-outside-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let read = root.path().join("read");
        let write = root.path().join("write");
        std::fs::create_dir(&read).unwrap();
        std::fs::create_dir(&write).unwrap();
        std::fs::write(read.join("file"), "readable").unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "s3cret").unwrap();
        let victim = outside.path().join("victim");
        let new_file = outside.path().join("created");
        Scene {
            read,
            write,
            secret,
            victim,
            new_file,
            _root: root,
            _outside: outside,
        }
    }
}

impl Scene {
    /// A file outside the policy for attempt `n` alone.
    fn victim(&self, n: usize) -> PathBuf {
        let v = self.victim.with_extension(n.to_string());
        std::fs::write(&v, "intact").unwrap();
        std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o644)).unwrap();
        v
    }
}

/// One column of the matrix.
struct Column {
    label: &'static str,
    kind: Kind,
    /// The careful policy, before any limit.
    options: Value,
}

fn columns(s: &Scene) -> Vec<Column> {
    let probe_dir = probe().parent().unwrap().to_str().unwrap().to_string();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let image =
        std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into());
    let docker = |engine: &str| {
        json!({
            "image": image,
            "engine": engine,
            "pull": "never",
            "allow_networking": false,
            "mounts": [
                format!("{probe_dir}:{probe_dir}:ro"),
                format!("{}:{}:ro", p(&s.read), p(&s.read)),
                format!("{}:{}", p(&s.write), p(&s.write)),
            ],
        })
    };
    vec![
        Column {
            label: "exec",
            kind: Kind::Exec,
            options: json!({}),
        },
        Column {
            label: "landrun",
            kind: Kind::Landrun,
            options: json!({
                "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64", probe_dir],
                "allow_read_folders": ["/proc", p(&s.read)],
                "allow_write_folders": [p(&s.write)],
            }),
        },
        Column {
            label: "firejail",
            kind: Kind::Firejail,
            options: json!({
                "allow_read_folders": [probe_dir, p(&s.read)],
                "allow_write_folders": [p(&s.write)],
            }),
        },
        Column {
            label: "docker (podman)",
            kind: Kind::Docker,
            options: docker("podman"),
        },
        Column {
            label: "docker (docker CLI)",
            kind: Kind::Docker,
            options: docker("docker"),
        },
    ]
}

/// What happened to one attempt.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Blocked,
    Escaped(String),
    /// The runner has no option for this limit.
    NoOption,
    /// The attempt could not be made (the probe never ran).
    Failed(String),
}

fn run_probe(col: &Column, options: &Value, args: &[String], stdin: Stdio) -> Output {
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    Command::new(TOOL)
        .args(["run", "--runner", col.kind.name(), "--options"])
        .arg(options.to_string())
        .args(["--timeout", "60", "--"])
        .arg(probe())
        .args(args)
        .env(CALLER_VAR, "visible")
        .env("DOCKER_HOST", sock)
        .current_dir("/")
        .stdin(stdin)
        .output()
        .expect("running restricted-runner")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The probe's verdict, from its output.
fn verdict(o: &Output) -> Seen {
    let out = text(&o.stdout);
    if !out.contains("RAN") {
        return Seen::Failed(format!("{}: {}", o.status, text(&o.stderr).trim()));
    }
    match out.lines().find(|l| l.starts_with("ESCAPED")) {
        Some(l) => Seen::Escaped(l.to_string()),
        None => Seen::Blocked,
    }
}

fn host_sleeper() -> Child {
    Command::new("sleep").arg("60").spawn().unwrap()
}

fn metadata(p: &Path) -> (u32, u32, u32, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.mode(), m.uid(), m.gid(), m.mtime())
}

fn processes_with(token: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == token.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Tries behaviour `id` in column `col`.
fn attempt(col: &Column, s: &Scene, id: &str, n: usize) -> Seen {
    let a = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let with = |extra: Value| {
        let mut o = col.options.clone();
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let plain = |args: Vec<String>| verdict(&run_probe(col, &col.options, &args, Stdio::null()));
    let limited = |extra: Value, args: Vec<String>| {
        let o = run_probe(col, &with(extra), &args, Stdio::null());
        verdict(&o)
    };
    let limit = |id: &str| conformance::limit_option(col.kind, id);
    match id {
        "read_outside" => plain(a(&["read", s.secret.to_str().unwrap()])),
        "write_outside" => {
            let new = s.new_file.with_extension(n.to_string());
            let victim = s.victim(n);
            let v = plain(a(&[
                "write",
                victim.to_str().unwrap(),
                new.to_str().unwrap(),
            ]));
            let changed = std::fs::read_to_string(&victim).unwrap() != "intact" || new.exists();
            let _ = std::fs::remove_file(&new);
            match v {
                Seen::Blocked if changed => Seen::Escaped("the host file changed".into()),
                v => v,
            }
        }
        "metadata_outside" => {
            let victim = s.victim(n);
            let before = metadata(&victim);
            let v = plain(a(&["meta", victim.to_str().unwrap()]));
            let after = metadata(&victim);
            match v {
                Seen::Blocked if before != after => {
                    Seen::Escaped("the host metadata changed".into())
                }
                v => v,
            }
        }
        "host_unix_socket" => {
            let tmp = tempfile::Builder::new()
                .prefix("rr-conf-sock-")
                .tempdir()
                .unwrap();
            let in_tmp = tmp.path().join("s");
            let in_run = PathBuf::from(format!("/run/rr-conf-{}-{n}.sock", std::process::id()));
            let abs = format!("rr-conf-{}-{n}", std::process::id());
            let _l1 = UnixListener::bind(&in_tmp).unwrap();
            let _ = std::fs::remove_file(&in_run);
            let _l2 = UnixListener::bind(&in_run).unwrap();
            let _l3 = {
                use std::os::linux::net::SocketAddrExt;
                let addr =
                    std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()).unwrap();
                UnixListener::bind_addr(&addr).unwrap()
            };
            let v = plain(vec![
                "unix".into(),
                in_tmp.display().to_string(),
                in_run.display().to_string(),
                format!("@{abs}"),
            ]);
            let _ = std::fs::remove_file(&in_run);
            v
        }
        "loopback_tcp" => {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port().to_string();
            plain(a(&["tcp", &port]))
        }
        "loopback_udp" => {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let port = sock.local_addr().unwrap().port().to_string();
            let v = plain(a(&["udp", &port]));
            let mut b = [0u8; 16];
            match (v, sock.recv(&mut b)) {
                (Seen::Failed(f), _) => Seen::Failed(f),
                (_, Ok(_)) => Seen::Escaped("the host received the datagram".into()),
                (v, Err(_)) => v,
            }
        }
        "signal_host" | "ptrace_host" => {
            let mut victim = host_sleeper();
            let pid = victim.id().to_string();
            let op = if id == "signal_host" {
                "kill"
            } else {
                "ptrace"
            };
            let v = plain(a(&[op, &pid]));
            let died = victim.try_wait().unwrap().is_some();
            let _ = victim.kill();
            let _ = victim.wait();
            match v {
                Seen::Blocked if died => Seen::Escaped("the host process died".into()),
                v => v,
            }
        }
        "terminal_injection" => {
            let (master, slave) = common::pty();
            let o = run_probe(col, &col.options, &a(&["tiocsti"]), Stdio::from(slave));
            drop(master);
            verdict(&o)
        }
        "daemon_after_wait" => {
            let token = format!("rr-conf-daemon-{}-{n}", std::process::id());
            let o = run_probe(col, &col.options, &a(&["daemon", &token]), Stdio::null());
            let left = processes_with(&token);
            for p in &left {
                // SAFETY: kills what the attempt left.
                unsafe { libc::kill(*p, libc::SIGKILL) };
            }
            match verdict(&o) {
                Seen::Blocked if !left.is_empty() => {
                    Seen::Escaped(format!("{left:?} alive after the wait"))
                }
                v => v,
            }
        }
        "caller_env" => plain(a(&["env", CALLER_VAR])),
        "capabilities" => plain(a(&["caps"])),
        "memory_limit" => match limit(id) {
            None => Seen::NoOption,
            Some(key) => {
                let value = if col.kind == Kind::Docker {
                    json!("64m")
                } else {
                    json!(64u64 << 20)
                };
                limited(json!({ key: value }), a(&["mem", "256"]))
            }
        },
        "process_limit" => match limit(id) {
            None => Seen::NoOption,
            Some(key) => limited(json!({ key: 16 }), a(&["procs", "64"])),
        },
        "open_files_limit" => match limit(id) {
            None => Seen::NoOption,
            Some(key) => limited(json!({ key: 32 }), a(&["files", "64"])),
        },
        "cpu_limit" => match limit(id) {
            None => Seen::NoOption,
            Some(key) => limited(json!({ key: 1 }), a(&["cpu", "2.5"])),
        },
        other => panic!("no attempt written for {other}"),
    }
}

#[test]
fn every_declared_guarantee_holds_on_every_runner() {
    let scene = Scene::new();
    let cols = columns(&scene);
    probe();
    // Every (column, behaviour) pair, a few at a time.
    let jobs: Vec<(usize, usize)> = (0..cols.len())
        .flat_map(|c| (0..BEHAVIOURS.len()).map(move |b| (c, b)))
        .collect();
    let next = Mutex::new(jobs.into_iter().enumerate());
    let results: Mutex<BTreeMap<(usize, usize), Seen>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| loop {
                let Some((n, (c, b))) = next.lock().unwrap().next() else {
                    return;
                };
                let seen = attempt(&cols[c], &scene, BEHAVIOURS[b].id, n);
                results.lock().unwrap().insert((c, b), seen);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut table = format!("{:<20}", "");
    for c in &cols {
        table.push_str(&format!("{:<22}", c.label));
    }
    table.push('\n');
    let mut broken = Vec::new();
    for (b, behaviour) in BEHAVIOURS.iter().enumerate() {
        table.push_str(&format!("{:<20}", behaviour.id));
        for (c, col) in cols.iter().enumerate() {
            let declared = conformance::blocks(col.kind, behaviour.id);
            let seen = &results[&(c, b)];
            let cell = match seen {
                Seen::Blocked => "blocked",
                Seen::Escaped(_) => "ESCAPES",
                Seen::NoOption => "no option",
                Seen::Failed(_) => "FAILED",
            };
            table.push_str(&format!(
                "{:<22}",
                format!("{cell}{}", if declared { " (declared)" } else { "" })
            ));
            if declared && *seen != Seen::Blocked {
                broken.push(format!(
                    "{} / {}: declared blocked, saw {seen:?}",
                    col.label, behaviour.id
                ));
            }
        }
        table.push('\n');
    }
    println!("{table}");
    for (k, v) in &results {
        if let Seen::Escaped(why) | Seen::Failed(why) = v {
            println!("{} / {}: {why}", cols[k.0].label, BEHAVIOURS[k.1].id);
        }
    }
    assert!(
        broken.is_empty(),
        "guarantees that do not hold:\n{}\n\n{table}",
        broken.join("\n")
    );
}
