//! 2,000 landrun spawn/wait cycles, some failing inside the child or on a
//! bad param, leave
//! the caller's fd count and zombie count unchanged. Alone in its own test
//! binary, so no other test's fds or children disturb the counts.

mod common;

use common::{fd_count, zombie_children};
use restricted_runner::{Command, ErrorKind, Params, Runner};

#[test]
fn two_thousand_cycles_leak_nothing() {
    let options = r#"{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
                      "allow_read_folders": ["/etc"],
                      "allow_write_folders": ["{{ .work }}"],
                      "allow_connect_tcp": [443], "max_open_files": 64}"#;
    let r = Runner::new("landrun", Some(options)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut params = Params::new();
    params.insert("work", work.path().to_str().unwrap());
    let cmd = Command::new("/bin/true").params(params);
    // A param naming a folder that does not exist: refused while the kernel
    // makes the namespaces, after the sandbox process is cloned (which the
    // spawn then ends and reaps).
    let mut bad = Params::new();
    bad.insert("work", "/no/such/rr-cycle-dir");
    let missing = Command::new("/bin/true").params(bad);
    // Exists, but its folder has no exec right: the exec fails in the child.
    let denied = Command::new("/etc/hostname").params(cmd.params_ref().clone());
    let (fds, zombies) = (fd_count(), zombie_children());
    for i in 0..2_000 {
        if i % 10 == 0 {
            let e = r.spawn(&denied).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
        }
        if i % 10 == 5 {
            let e = r.spawn(&missing).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e}");
        }
        let mut p = r.spawn(&cmd).unwrap();
        drop((p.take_stdin(), p.take_stdout(), p.take_stderr()));
        assert!(p.wait().unwrap().success());
    }
    assert_eq!(fd_count(), fds, "fd count changed");
    assert_eq!(zombie_children(), zombies, "zombies left behind");
}
