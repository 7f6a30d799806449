//! Nothing outlives its handle, even when the caller is killed.
//!
//! Each test starts callers as separate processes (the `restricted-runner`
//! tool, which uses the library as any program does) running a tree that
//! tries to outlive them: a `setsid`'d grandchild, a double-forked one and
//! the command itself. It SIGKILLs the caller (and, for the crash-record
//! tests, its watchdog too) and checks, for every runner this machine has
//! (exec, landrun, firejail, docker through podman and through the docker
//! CLI), that the tree is gone within 2 s and that, after `gc` from a new
//! process, no container, profile file, cgroup or record is left.
//!
//! Every caller gets a runtime folder (`XDG_RUNTIME_DIR`) and a temp folder
//! of its test, so the records and profile files counted are the test's.

mod common;

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const CLI: &str = env!("CARGO_BIN_EXE_restricted-runner");

/// The folders a test's callers keep their records and temp files in.
struct Folders {
    runtime: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

impl Folders {
    fn new() -> Folders {
        // Under /run (root) or the target folder: never under a folder a
        // runner replaces.
        Folders {
            runtime: tempfile::Builder::new()
                .prefix("rr-lifetime-run-")
                .tempdir()
                .unwrap(),
            tmp: tempfile::Builder::new()
                .prefix("rr-lifetime-tmp-")
                .tempdir()
                .unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(CLI);
        c.args(args)
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("TMPDIR", self.tmp.path())
            .env("DOCKER_HOST", docker_host())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Its own process group: the test kills only what it means to.
        c.process_group(0);
        c
    }

    /// Runs `restricted-runner gc` in a new process; how many it reclaimed.
    fn gc(&self) -> u32 {
        let out = self
            .command(&["gc"])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .strip_prefix("reclaimed ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("gc said {text:?}"))
    }

    /// The record files left in the runtime folder.
    fn records(&self) -> Vec<String> {
        let dir = self.runtime.path().join("restricted-runner");
        files_with_prefix(&dir, "")
    }

    fn temp_files(&self) -> Vec<String> {
        files_with_prefix(self.tmp.path(), "")
    }
}

fn docker_host() -> String {
    std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into())
}

fn image() -> String {
    std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into())
}

/// The runners of this machine, as `--runner` and `--options`.
fn runners() -> Vec<(&'static str, String)> {
    let landrun = r#"{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "allow_read_folders": ["/etc"]}"#;
    // No network: an engine's network namespaces are mounts under
    // /run/netns, which reach a firejail starting meanwhile (in another
    // test) and make it abort ("invalid read-only mount").
    let docker = |engine: &str| {
        format!(
            r#"{{"image": "{}", "engine": "{engine}", "pull": "never", "allow_networking": false}}"#,
            image()
        )
    };
    vec![
        ("exec", "{}".to_string()),
        ("landrun", landrun.to_string()),
        ("firejail", "{}".to_string()),
        ("docker", docker("podman")),
        ("docker", docker("docker")),
    ]
}

/// A number no other test's processes carry in their command line.
fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "7{:07}{:03}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A tree that tries to outlive its command: a grandchild in a session of
/// its own, a double-forked one, and the command itself, each a `sleep`
/// whose argument starts with `m`.
fn escaping_tree(m: &str) -> String {
    format!("setsid sleep {m}1 & (sleep {m}2 &); exec sleep {m}3")
}

fn tree_pids(m: &str) -> Vec<i32> {
    (1..=3)
        .flat_map(|i| host_pids_with_cmdline(&format!("sleep\\0{m}{i}")))
        .collect()
}

/// Live processes with `m` anywhere in their command line: the tree, and
/// the wrappers (firejail, the engine's CLI) that name it.
fn anything_with(m: &str) -> Vec<i32> {
    host_pids_with_cmdline(m)
}

/// Starts a caller running the escaping tree under `runner`, and waits for
/// the whole tree to be up.
fn start_caller(f: &Folders, runner: &str, options: &str, m: &str) -> Child {
    let mut child = f
        .command(&[
            "run",
            "--runner",
            runner,
            "--options",
            options,
            "--",
            "sh",
            "-c",
            &escaping_tree(m),
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tree_pids(m).len() < 3 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).ok();
            panic!("{runner} caller ended early ({status}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "{runner}: the tree did not start: {:?}",
            tree_pids(m)
        );
        thread::sleep(Duration::from_millis(20));
    }
    child
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The caller's watchdog: its child running the helper's `watch`.
fn watchdog_of(caller: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<i32> = host_pids_with_cmdline("restricted-runner-watchdog")
            .into_iter()
            .filter(|p| ppid(*p) == Some(caller))
            .collect();
        if let Some(p) = found.first() {
            return *p;
        }
        assert!(Instant::now() < deadline, "no watchdog for caller {caller}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) with a pid this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Waits up to `within` for `pids()` to be empty; what is left.
fn wait_none(within: Duration, mut pids: impl FnMut() -> Vec<i32>) -> Vec<i32> {
    let deadline = Instant::now() + within;
    loop {
        let left = pids();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Containers the caller `pid` made (their names start `rr-<pid>-`).
fn containers_of(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("podman")
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(&format!("rr-{pid}-")))
        .map(str::to_string)
        .collect()
}

/// Cgroups the caller `pid` made, in any hierarchy.
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    fn walk(dir: &Path, prefix: &str, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.filter_map(|e| e.ok()) {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(path);
            } else if depth > 0 {
                walk(&path, prefix, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(
        Path::new("/sys/fs/cgroup"),
        &format!("restricted-runner-{pid}-"),
        4,
        &mut found,
    );
    found
}

/// Asserts that nothing the caller `pid` made is left.
fn assert_nothing_left(what: &str, f: &Folders, pid: u32, m: &str) {
    let left = wait_none(Duration::from_secs(10), || anything_with(m));
    assert!(left.is_empty(), "{what}: processes left: {left:?}");
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "{what}: containers"
    );
    assert_eq!(cgroups_of(pid), Vec::<PathBuf>::new(), "{what}: cgroups");
    assert_eq!(f.temp_files(), Vec::<String>::new(), "{what}: temp files");
    assert_eq!(f.records(), Vec::<String>::new(), "{what}: records");
}

/// The caller is SIGKILLed: its watchdog ends the tree within 2 s and
/// removes what the spawn made; `gc` from a new process finds nothing.
#[test]
fn a_killed_callers_tree_dies_with_it() {
    for (runner, options) in runners() {
        let what = format!("{runner} {options}");
        let f = Folders::new();
        let m = marker();
        let mut caller = start_caller(&f, runner, &options, &m);
        let pid = caller.id();
        sigkill(pid as i32);
        caller.wait().unwrap();
        let left = wait_none(Duration::from_secs(2), || tree_pids(&m));
        assert!(
            left.is_empty(),
            "{what}: alive 2 s after the caller: {left:?}"
        );
        // The watchdog is done with the caller: wait for it to exit.
        let _ = wait_none(Duration::from_secs(10), || {
            host_pids_with_cmdline("restricted-runner-watchdog")
                .into_iter()
                .filter(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .map(|c| {
                            String::from_utf8_lossy(&c)
                                .contains(&*f.runtime.path().to_string_lossy())
                        })
                        .unwrap_or(false)
                })
                .collect()
        });
        f.gc();
        assert_nothing_left(&what, &f, pid, &m);
    }
}

/// The caller and its watchdog are both SIGKILLed (as an OOM kill of the
/// whole session would): what is left, `gc` from a new process reclaims.
#[test]
fn gc_reclaims_what_a_caller_and_its_watchdog_left() {
    for (runner, options) in runners() {
        let what = format!("{runner} {options}");
        let f = Folders::new();
        let m = marker();
        let mut caller = start_caller(&f, runner, &options, &m);
        let pid = caller.id();
        let watchdog = watchdog_of(pid as i32);
        sigkill(watchdog);
        assert!(wait_gone(watchdog, Duration::from_secs(5)));
        sigkill(pid as i32);
        caller.wait().unwrap();
        assert!(!f.records().is_empty(), "{what}: no record to reclaim");
        assert_eq!(f.gc(), 1, "{what}: reclaimed");
        // The killed wrapper's namespace takes its processes down with it.
        let left = wait_none(Duration::from_secs(2), || tree_pids(&m));
        assert!(left.is_empty(), "{what}: alive 2 s after gc: {left:?}");
        assert_nothing_left(&what, &f, pid, &m);
        assert_eq!(f.gc(), 0, "{what}: a second gc");
    }
}

/// `gc` never touches a live caller's spawns, even while it reclaims a dead
/// one's next to them.
#[test]
fn gc_spares_live_callers() {
    let f = Folders::new();
    let (live_m, dead_m) = (marker(), marker());
    let mut live = start_caller(&f, "exec", "{}", &live_m);
    let mut dead = start_caller(&f, "exec", "{}", &dead_m);
    let watchdog = watchdog_of(dead.id() as i32);
    sigkill(watchdog);
    assert!(wait_gone(watchdog, Duration::from_secs(5)));
    sigkill(dead.id() as i32);
    dead.wait().unwrap();

    assert_eq!(f.gc(), 1);
    assert!(tree_pids(&dead_m).is_empty());
    assert_eq!(
        tree_pids(&live_m).len(),
        3,
        "gc touched a live caller's tree"
    );
    assert_eq!(live.try_wait().unwrap(), None, "the live caller ended");
    assert_eq!(
        f.records().len(),
        1,
        "the live caller's record: {:?}",
        f.records()
    );

    // The live caller still ends its tree itself.
    let live_watchdog = watchdog_of(live.id() as i32);
    // SAFETY: kill(2) on the caller this test started.
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    live.wait().unwrap();
    let left = wait_none(Duration::from_secs(2), || tree_pids(&live_m));
    assert!(left.is_empty(), "{left:?}");
    // What the caller did not remove itself its watchdog does, once it has
    // seen the caller end.
    assert!(wait_gone(live_watchdog, Duration::from_secs(5)));
    assert_eq!(f.records(), Vec::<String>::new());
}

/// Two `gc`s at once over three dead callers' leftovers: each spawn is
/// reclaimed once, and everything is.
#[test]
fn concurrent_gcs_reclaim_each_spawn_once() {
    let f = Folders::new();
    let marks: Vec<String> = (0..3).map(|_| marker()).collect();
    // All alive first: a new caller's watchdog reclaims dead ones.
    let mut callers: Vec<Child> = marks
        .iter()
        .map(|m| start_caller(&f, "exec", "{}", m))
        .collect();
    for caller in &callers {
        let watchdog = watchdog_of(caller.id() as i32);
        sigkill(watchdog);
        assert!(wait_gone(watchdog, Duration::from_secs(5)));
    }
    let mut pids = Vec::new();
    for caller in &mut callers {
        sigkill(caller.id() as i32);
        caller.wait().unwrap();
        pids.push(caller.id());
    }
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| f.gc());
        let b = s.spawn(|| f.gc());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a + b, 3, "reclaimed {a} + {b}");
    for (m, pid) in marks.iter().zip(pids) {
        assert_nothing_left("exec", &f, pid, m);
    }
}

/// `gc`s running while a caller spawns over and over lose nothing: every
/// spawn succeeds, and the long-running one's record is still whole when
/// its caller dies later.
#[test]
fn gc_racing_spawns_loses_nothing() {
    let f = Folders::new();
    let m = marker();
    let mut long = start_caller(&f, "exec", "{}", &m);
    let stop = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|s| {
        let gcs = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(f.gc(), 0, "gc reclaimed a live caller's spawn");
                n += 1;
            }
            n
        });
        // A second caller spawning short commands one after another.
        let script = "i=0; while [ $i -lt 40 ]; do \
             restricted-runner run --runner exec -- true || exit 1; i=$((i+1)); done";
        let dir = Path::new(CLI)
            .parent()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let status = f
            .command(&["run", "--runner", "exec", "--", "sh", "-c", script])
            .env("PATH", format!("{dir}:/usr/bin:/bin"))
            .status()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        let rounds = gcs.join().unwrap();
        assert!(status.success(), "a spawn failed while gc ran: {status}");
        assert!(rounds > 0);
    });
    assert_eq!(tree_pids(&m).len(), 3);
    let watchdog = watchdog_of(long.id() as i32);
    sigkill(watchdog);
    assert!(wait_gone(watchdog, Duration::from_secs(5)));
    sigkill(long.id() as i32);
    long.wait().unwrap();
    assert_eq!(f.gc(), 1, "the long caller's record was lost");
    assert_nothing_left("exec", &f, long.id(), &m);
}

/// A record a caller died making (its header written, not yet renamed into
/// place) is removed by gc; one a live caller is making is left alone.
#[test]
fn gc_removes_a_record_its_dead_caller_left_half_made() {
    let f = Folders::new();
    let dir = f.runtime.path().join("restricted-runner");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let my_start: u64 = after_name.split(' ').nth(19).unwrap().parse().unwrap();
    let half_made = |pid: u32, start: u64, boot: &str| {
        let mut header = format!(
            "restricted-runner owner 1\nmachine test\nboot {}\npid {pid}\nstart {start}\n",
            boot.trim()
        )
        .into_bytes();
        header.resize(4096, 0);
        let path = dir.join(format!("{pid}-{start}.new"));
        std::fs::write(&path, header).unwrap();
        path
    };
    let dead = half_made(1, 1, "an-earlier-boot");
    let gone_pid = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    let dead_pid = half_made(gone_pid, 1, &boot);
    let live = half_made(std::process::id(), my_start, &boot);
    assert_eq!(f.gc(), 0, "a half-made record holds nothing to reclaim");
    assert!(!dead.exists(), "a record of an earlier boot was left");
    assert!(
        !dead_pid.exists(),
        "a dead caller's half-made record was left"
    );
    assert!(
        live.exists(),
        "a live caller's record in the making was removed"
    );
}
