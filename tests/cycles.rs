//! 10,000 spawn/wait cycles leave the caller's fd count and zombie count
//! unchanged. Alone in its own test binary, so no other test's fds or
//! children disturb the counts.

mod common;

use common::{cgroup2_mount, fd_count, zombie_children};
use restricted_runner::{Command, ErrorKind, Runner};

#[test]
fn ten_thousand_cycles_leak_nothing() {
    let r = Runner::new("exec", None).unwrap();
    let cmd = Command::new("/bin/true");
    // A failing spawn (missing command) on every tenth cycle: it must not leak either.
    let missing = Command::new("/nonexistent/rr-cycle");
    // A first spawn makes what is kept for the later ones: the record, its
    // watchdog, and the cgroup pool's open leaf.
    assert!(r.spawn(&cmd).unwrap().wait().unwrap().success());
    let (fds, zombies) = (fd_count(), zombie_children());
    for i in 0..10_000 {
        if i % 10 == 0 {
            assert_eq!(
                r.spawn(&missing).unwrap_err().kind(),
                ErrorKind::CommandNotFound
            );
        }
        let mut p = r.spawn(&cmd).unwrap();
        drop((p.take_stdin(), p.take_stdout(), p.take_stderr()));
        assert!(p.wait().unwrap().success());
    }
    assert_eq!(fd_count(), fds, "fd count changed");
    assert_eq!(zombie_children(), zombies, "zombies left behind");

    // A killed tree's cgroup is not reused, several at once take several:
    // once they ended, the count is the same again.
    let mut p = r.spawn(&Command::new("sleep").arg("100")).unwrap();
    drop((p.take_stdin(), p.take_stdout(), p.take_stderr()));
    p.kill(libc::SIGKILL).unwrap();
    assert!(!p.wait().unwrap().success());
    assert_eq!(fd_count(), fds, "fd count changed by a killed spawn");
    let many: Vec<_> = (0..6)
        .map(|_| r.spawn(&Command::new("sleep").arg("0.2")).unwrap())
        .collect();
    for mut p in many {
        drop((p.take_stdin(), p.take_stdout(), p.take_stderr()));
        assert!(p.wait().unwrap().success());
    }
    assert_eq!(fd_count(), fds, "fd count changed by concurrent spawns");
    assert_eq!(zombie_children(), zombies, "zombies left behind");
    assert_one_leaf_open();
}

/// Where the pool keeps a leaf (root, cgroup v2): exactly one is open
/// between spawns, its folder and its two control files.
fn assert_one_leaf_open() {
    if !nix::unistd::geteuid().is_root() || cgroup2_mount().is_none() {
        return; // no cgroup of its own to make: the process-group path
    }
    let open: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t.contains("/restricted-runner-"))
        .collect();
    assert!(!open.is_empty(), "no cgroup leaf kept open");
    let folder = open.iter().min_by_key(|t| t.len()).unwrap().clone();
    let mut want = vec![
        folder.clone(),
        format!("{folder}/cgroup.events"),
        format!("{folder}/cpu.stat"),
    ];
    let mut open = open;
    open.sort();
    want.sort();
    assert_eq!(open, want);
}
