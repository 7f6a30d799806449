//! 2,000 landrun spawn/wait cycles, some failing inside the child, leave
//! the caller's fd count and zombie count unchanged. Alone in its own test
//! binary, so no other test's fds or children disturb the counts.

mod common;

use common::{fd_count, zombie_children};
use restricted_runner::{Command, ErrorKind, Runner};

#[test]
fn two_thousand_cycles_leak_nothing() {
    let options = r#"{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
                      "allow_connect_tcp": [443], "max_open_files": 64}"#;
    let r = Runner::new("landrun", Some(options)).unwrap();
    let cmd = Command::new("/bin/true");
    // Exists, but its folder has no exec right: the exec fails in the child.
    let denied = Command::new("/etc/hostname");
    let (fds, zombies) = (fd_count(), zombie_children());
    for i in 0..2_000 {
        if i % 10 == 0 {
            let e = r.spawn(&denied).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
        }
        let mut p = r.spawn(&cmd).unwrap();
        drop((p.take_stdin(), p.take_stdout(), p.take_stderr()));
        assert!(p.wait().unwrap().success());
    }
    assert_eq!(fd_count(), fds, "fd count changed");
    assert_eq!(zombie_children(), zombies, "zombies left behind");
}
