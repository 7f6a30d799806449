//! The `exec` runner against the real system.

mod common;

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use common::*;
use restricted_runner::{Command, ErrorKind, Params, Runner, Stdio};

fn runner() -> Runner {
    Runner::new("exec", None).unwrap()
}

#[test]
fn echo_through_cat_works() {
    echo_through_cat(&runner());
}

#[test]
fn many_writes_get_replies() {
    many_writes(&runner());
}

#[test]
fn stderr_is_captured() {
    stderr_capture(&runner());
}

#[test]
fn kill_reaches_grandchildren() {
    kill_tree(&runner());
}

#[test]
fn missing_command_is_named() {
    command_not_found(&runner());
}

#[test]
fn env_vars_reach_the_child() {
    env_vars(&runner());
}

#[test]
fn early_exit_gives_epipe() {
    early_exit_epipe(&runner());
}

#[test]
fn sixty_four_mib_in_and_out() {
    bulk_through_cat(&runner(), 64 << 20);
}

#[test]
fn wait_timeout_leaves_process_running() {
    wait_timeout(&runner());
}

#[test]
fn run_captures_output_and_codes() {
    run_output_and_codes(&runner());
}

#[test]
fn run_does_not_hang_on_background_grandchild() {
    run_background_grandchild(&runner());
}

#[test]
fn run_is_cancelable() {
    run_cancel(&runner());
}

#[test]
fn cancel_kills_the_background_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("sleep 100 & echo $! > {}; wait", pid_file.display());
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let closer = std::thread::spawn(move || {
        while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        nix::unistd::write(&write_end, b"x").unwrap();
        std::fs::read_to_string(&pid_file).unwrap()
    });
    let e = runner()
        .run_cancelable(
            None,
            OsStr::new(&script),
            &[],
            &Params::new(),
            None,
            Some(std::os::fd::AsFd::as_fd(&read_end)),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
    let pid: i32 = closer.join().unwrap().trim().parse().unwrap();
    assert!(
        wait_gone(pid, std::time::Duration::from_secs(5)),
        "grandchild {pid} survived"
    );
}

#[test]
fn run_times_out() {
    run_timeout(&runner());
}

#[test]
fn run_uses_the_shell_option() {
    let r = Runner::new("exec", Some(r#"{"shell": "/bin/bash"}"#)).unwrap();
    let o = run(&r, "echo $BASH_VERSION");
    assert!(!o.stdout.trim_ascii().is_empty(), "not run by bash");
    let o = r
        .run(
            Some(OsStr::new("/bin/sh")),
            OsStr::new("echo ${BASH_VERSION:-none}"),
            &[],
            &Params::new(),
            None,
        )
        .unwrap();
    assert_eq!(o.stdout, b"none\n");
}

#[test]
fn no_caller_fd_leaks_into_the_child() {
    // A deliberately inheritable fd at a known number.
    let f = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 onto a free high fd number; we own the result.
    let leaked = unsafe { libc::dup2(f.as_raw_fd(), 200) };
    assert_eq!(leaked, 200);
    let leaked = unsafe { OwnedFd::from_raw_fd(leaked) };
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&runner(), Command::new("ls").arg("-l").arg("/proc/self/fd"));
    drop(stdin);
    let mut listing = String::new();
    stdout.read_to_string(&mut listing).unwrap();
    drop(stderr);
    assert!(process.wait().unwrap().success());
    // `ls` itself holds one fd on the directory it lists.
    let fds = listed_fds(&listing);
    assert_eq!(fds, ["0", "1", "2"], "child saw fds:\n{listing}");
    drop(leaked);
}

#[test]
fn handed_out_fds_are_cloexec() {
    let mut p = runner().spawn(&Command::new("cat")).unwrap();
    for fd in [
        p.take_stdin().unwrap(),
        p.take_stdout().unwrap(),
        p.take_stderr().unwrap(),
    ] {
        // SAFETY: F_GETFD on a valid fd.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert!(
            flags & libc::FD_CLOEXEC != 0,
            "fd {} is inheritable",
            fd.as_raw_fd()
        );
    }
    p.wait().unwrap();
}

#[test]
fn child_has_own_group_default_sigpipe_and_empty_mask() {
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(
        &runner(),
        Command::new("cat")
            .arg("/proc/self/status")
            .arg("/proc/self/stat"),
    );
    let pid = process.pid();
    drop(stdin);
    let mut s = String::new();
    stdout.read_to_string(&mut s).unwrap();
    drop(stderr);
    process.wait().unwrap();
    assert!(!sigpipe_ignored(&s), "SIGPIPE is ignored in the child");
    assert_eq!(status_field(&s, "SigBlk:"), "0000000000000000");
    let pgrp = stat_pgrp(s.lines().last().unwrap());
    assert_eq!(
        pgrp, pid,
        "child is not the leader of its own process group"
    );
}

#[test]
fn null_stdio_is_dev_null() {
    let r = runner();
    let mut p = r
        .spawn(&sh("cat; echo done").stdio(Stdio::Null, Stdio::Pipe, Stdio::Null))
        .unwrap();
    assert!(p.take_stdin().is_none() && p.take_stderr().is_none());
    let mut out = std::fs::File::from(p.take_stdout().unwrap());
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    assert_eq!(s, "done\n");
    p.wait().unwrap();
}

#[test]
fn bad_options_are_rejected_with_names() {
    let e = Runner::new("exec", Some(r#"{"shel": "x"}"#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("\"shel\""), "{e}");
    let e = Runner::new("exec", Some(r#"{"shell": 3}"#)).unwrap_err();
    assert!(e.message().contains("option \"shell\""), "{e}");
    let e = Runner::new("exec", Some("{nope")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    let e = Runner::new("jail", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownRunner);
}

#[test]
fn bad_env_entries_are_rejected() {
    let e = Command::new("true").env_entries(["NOEQUALS"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn dropping_an_unwaited_process_kills_and_reaps_it() {
    let r = runner();
    let mut p = r.spawn(&sh("sleep 100 & echo $!; sleep 100")).unwrap();
    let mut out = std::fs::File::from(p.take_stdout().unwrap());
    let grandchild: i32 = read_line(&mut out).trim().parse().unwrap();
    let pid = p.pid();
    drop(p);
    assert!(!pid_alive(pid));
    assert!(wait_gone(grandchild, std::time::Duration::from_secs(5)));
}

#[test]
fn runner_is_shared_between_threads() {
    let r = std::sync::Arc::new(runner());
    let handles: Vec<_> = (0..8)
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
fn wait_ends_what_the_command_left_running() {
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(&runner(), sh("sleep 100 & echo $!"));
    let grandchild: i32 = read_line(&mut stdout).trim().parse().unwrap();
    assert!(pid_alive(grandchild));
    assert!(process.wait().unwrap().success());
    assert!(
        wait_gone(grandchild, std::time::Duration::from_secs(5)),
        "a background process outlived rr_wait"
    );
    drop((stdin, stdout, stderr));
}

/// A grandchild in a session of its own, and a double-forked one, end with
/// the handle too: the tree is contained by a cgroup leaf where the caller
/// may make one (root here), which the enforcement report names.
#[test]
fn wait_ends_setsid_and_double_forked_grandchildren() {
    let tag = format!("{}{}", std::process::id(), line!());
    let Pipes {
        stdin,
        mut stdout,
        stderr,
        process,
    } = spawn(
        &runner(),
        sh(&format!(
            "setsid sleep 1001.{tag} & (sleep 1002.{tag} &); sleep 0.2; echo started"
        )),
    );
    assert_eq!(read_line(&mut stdout), "started");
    // The sleeps themselves, not the shell whose script names them.
    let mut escaped = wait_for_pids(&format!("sleep\\01001.{tag}"), 1);
    escaped.extend(wait_for_pids(&format!("sleep\\01002.{tag}"), 1));
    assert_eq!(escaped.len(), 2, "{escaped:?}");
    let report = process
        .enforcement()
        .map(|e| e.to_json().to_string())
        .unwrap_or_default();
    if nix::unistd::geteuid().is_root() {
        assert!(report.contains("cgroup"), "{report}");
    }
    assert!(process.wait().unwrap().success());
    for pid in escaped {
        assert!(
            wait_gone(pid, std::time::Duration::from_secs(2)),
            "{pid} outlived rr_wait ({report})"
        );
    }
    drop((stdin, stdout, stderr));
}

fn exec_with(extra: &str) -> Runner {
    Runner::new("exec", Some(&format!("{{{extra}}}"))).unwrap_or_else(|e| panic!("{extra}: {e}"))
}

/// The caller's API key reaches the command by default, as it always did;
/// `inherit_env: false` starts clean, `pass_env` names what passes.
#[test]
fn the_environment_follows_inherit_env_and_pass_env() {
    run_in_child("env_child", CALLER_ENV);
}

#[test]
fn env_child() {
    if !is_child("env_child") {
        return;
    }
    // `cat` is found with no PATH in the environment: the default search path.
    env_policy_cases(exec_with, true, &[]);
    println!("child env_child done");
}

#[test]
fn environment_options_are_checked() {
    for (extra, key) in [
        (r#""pass_env": ["PATH"]"#, "pass_env"),
        (r#""inherit_env": false, "pass_env": ["A*B"]"#, "pass_env"),
        (r#""inherit_env": 0"#, "inherit_env"),
    ] {
        let e = Runner::new("exec", Some(&format!("{{{extra}}}"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{extra}");
        assert!(e.message().contains(key), "{extra}: {e}");
    }
}

/// A repeated key is an error naming it, not "the last one wins": in
/// options and in params.
#[test]
fn keys_given_twice_are_rejected() {
    assert_given_twice_rejected(
        "exec",
        r#"{"shell": "/bin/sh", "shell": "/bin/bash"}"#,
        "shell",
    );
    let e = Params::from_json(Some(r#"{"dir": "/srv/a", "dir": "/"}"#)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    assert!(e.message().contains("\"dir\" is given twice"), "{e}");
}

/// The command starts in its own cgroup leaf, and a daemon it leaves in a
/// session of its own ends with the run; the same where `clone3` is refused
/// (ENOSYS, as Docker's default seccomp profile answers) and the child joins
/// its leaf by writing to `cgroup.procs` instead. Through the tool, so that
/// the refusal applies to a whole process of the library.
#[cfg(target_os = "linux")]
#[test]
fn the_tree_is_contained_with_and_without_clone3() {
    use std::os::unix::process::CommandExt;
    if !nix::unistd::geteuid().is_root() {
        return; // no cgroup of its own to make: the process-group path
    }
    for refused in [None, Some(libc::ENOSYS)] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("daemon.pid");
        let script = format!(
            "setsid sh -c 'echo $$ > {m}; exec sleep 1003' </dev/null >/dev/null 2>&1 & \
             while [ ! -s {m} ]; do sleep 0.01; done; cat /proc/self/cgroup",
            m = marker.display()
        );
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_restricted-runner"));
        cmd.args(["run", "--runner", "exec", "--", "sh", "-c", &script])
            .stdin(std::process::Stdio::null());
        if let Some(errno) = refused {
            let filter: seccompiler::BpfProgram = seccompiler::SeccompFilter::new(
                [(libc::SYS_clone3, vec![])].into_iter().collect(),
                seccompiler::SeccompAction::Allow,
                seccompiler::SeccompAction::Errno(errno as u32),
                std::env::consts::ARCH.try_into().unwrap(),
            )
            .unwrap()
            .try_into()
            .unwrap();
            // SAFETY: between fork and exec only installs a prepared filter.
            unsafe {
                cmd.pre_exec(move || {
                    seccompiler::apply_filter(&filter)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                });
            }
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{refused:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("0::/") && l.contains("/restricted-runner-")),
            "{refused:?}: not in a leaf of its own: {stdout}"
        );
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_gone(pid, std::time::Duration::from_secs(2)),
            "{refused:?}: the daemon {pid} outlived the run"
        );
    }
}

/// Where cgroup v2 is mounted, when the exec runner puts each command in a
/// leaf of its own (a root caller on cgroup v2); None where it uses the
/// process group.
#[cfg(target_os = "linux")]
fn leaf_mount() -> Option<String> {
    nix::unistd::geteuid()
        .is_root()
        .then(cgroup2_mount)
        .flatten()
}

/// This process's own cgroup v2 folder under `mount`.
#[cfg(target_os = "linux")]
fn own_cgroup(mount: &str) -> std::path::PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    std::path::Path::new(mount).join(own.trim_start_matches('/'))
}

/// The cgroup v2 path (the `0::` line of /proc/self/cgroup) a spawn of `r`
/// ran in.
#[cfg(target_os = "linux")]
fn cgroup_of_a_spawn(r: &Runner) -> Option<String> {
    let mut p = r
        .spawn(&Command::new("cat").arg("/proc/self/cgroup"))
        .unwrap();
    let mut out = String::new();
    std::fs::File::from(p.take_stdout().unwrap())
        .read_to_string(&mut out)
        .unwrap();
    assert!(p.wait().unwrap().success());
    out.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// Spawns `cat` under `r` (a root caller's exec runner), after it printed
/// its cgroup: the process, its stdout, and its leaf's folder under the
/// cgroup v2 `mount`.
#[cfg(target_os = "linux")]
fn spawn_in_a_leaf(
    r: &Runner,
    mount: &str,
) -> (
    restricted_runner::Process,
    std::io::BufReader<std::fs::File>,
    std::path::PathBuf,
) {
    let mut p = r
        .spawn(&Command::new("sh").args(["-c", "cat /proc/self/cgroup; exec cat"]))
        .unwrap();
    let mut out = std::io::BufReader::new(std::fs::File::from(p.take_stdout().unwrap()));
    let mut line = String::new();
    let leaf = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
        if let Some(path) = line.trim_end().strip_prefix("0::") {
            break std::path::Path::new(mount).join(path.trim_start_matches('/'));
        }
    };
    (p, out, leaf)
}

/// A spawn's leaf keeps no pressure accounting of its own (its processes
/// still count in the caller's cgroup): with it, every sleep and wake-up of
/// the command paid for a second cgroup's accounting.
#[cfg(target_os = "linux")]
#[test]
fn a_spawns_leaf_keeps_no_pressure_accounting() {
    let Some(mount) = leaf_mount() else {
        return; // the process-group path
    };
    // The caller's cgroup keeps its own accounting (the file is not
    // hierarchical), in which the command still counts.
    let callers = own_cgroup(&mount).join("cgroup.pressure");
    let before = std::fs::read_to_string(&callers).ok();
    let (mut p, _, leaf) = spawn_in_a_leaf(&runner(), &mount);
    assert!(
        leaf.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("restricted-runner-"),
        "{leaf:?}"
    );
    match std::fs::read_to_string(leaf.join("cgroup.pressure")) {
        Ok(v) => assert_eq!(v.trim(), "0", "{leaf:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{leaf:?}: {e}"),
    }
    assert_eq!(leaf.parent().unwrap(), callers.parent().unwrap());
    assert_eq!(
        std::fs::read_to_string(&callers).ok(),
        before,
        "{callers:?}"
    );
    drop(p.take_stdin());
    assert!(p.wait().unwrap().success());
}

/// A leaf idle for a while is frozen and thawed before the fork into it
/// (so that the kernel's notice of its first process comes from a timer):
/// the command starts in a thawed leaf and runs, first spawn or later.
#[cfg(target_os = "linux")]
#[test]
fn a_spawn_after_a_pause_runs_in_a_thawed_leaf() {
    use std::io::Write;

    let Some(mount) = leaf_mount() else {
        return; // the process-group path
    };
    let r = runner();
    for pause in [0, 20, 0, 50] {
        std::thread::sleep(std::time::Duration::from_millis(pause));
        let (mut p, mut out, leaf) = spawn_in_a_leaf(&r, &mount);
        let freeze = std::fs::read_to_string(leaf.join("cgroup.freeze"));
        let events = std::fs::read_to_string(leaf.join("cgroup.events")).unwrap();
        if let Ok(freeze) = freeze {
            assert_eq!(freeze.trim(), "0", "{leaf:?} after {pause} ms");
            assert!(events.lines().any(|l| l == "frozen 0"), "{events}");
        }
        let mut stdin = std::fs::File::from(p.take_stdin().unwrap());
        stdin.write_all(b"still runs\n").unwrap();
        drop(stdin);
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "still runs\n", "{leaf:?} after {pause} ms");
        assert!(p.wait().unwrap().success());
    }
}

/// A fork's child does not reuse its parent's idle cgroup leaves (which
/// the parent goes on using): its spawns get leaves of its own, and the
/// parent's still work.
#[cfg(target_os = "linux")]
#[test]
fn a_forked_child_makes_cgroups_of_its_own() {
    run_in_child("forked_child_cgroups", &[]);
}

#[cfg(target_os = "linux")]
#[test]
fn forked_child_cgroups() {
    if !is_child("forked_child_cgroups") || !nix::unistd::geteuid().is_root() {
        return;
    }
    let r = runner();
    let leaf_of_a_spawn = || {
        cgroup_of_a_spawn(&r)
            .map(|path| path.rsplit('/').next().unwrap().to_string())
            .unwrap_or_default()
    };
    let first = leaf_of_a_spawn();
    if first.is_empty() {
        return; // no cgroup v2: the process-group path
    }
    let (read, write) = nix::unistd::pipe().unwrap();
    // SAFETY: this test runs alone on the harness's only thread (see
    // run_in_child); the child only spawns, writes and exits.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let leaf = leaf_of_a_spawn();
            let _ = nix::unistd::write(&write, leaf.as_bytes());
            // SAFETY: ends the forked child without running the parent's
            // exit handlers.
            unsafe { libc::_exit(0) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut theirs = String::new();
            std::fs::File::from(read)
                .read_to_string(&mut theirs)
                .unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            assert!(
                theirs.starts_with(&format!("restricted-runner-{child}-")),
                "the forked child's spawn ran in {theirs:?}, not a leaf of its own"
            );
            assert_eq!(leaf_of_a_spawn(), first, "the parent's leaf");
        }
    }
    println!("child forked_child_cgroups done");
}

/// A pooled cgroup leaf that something else removed is not reused: the
/// next spawn gets a new one and runs.
#[cfg(target_os = "linux")]
#[test]
fn a_pooled_leaf_removed_from_outside_is_replaced() {
    run_in_child("removed_leaf_child", &[]);
}

#[cfg(target_os = "linux")]
#[test]
fn removed_leaf_child() {
    if !is_child("removed_leaf_child") {
        return;
    }
    let Some(mount) = leaf_mount() else {
        return; // the process-group path
    };
    let r = runner();
    let leaf_of_a_spawn = || {
        let path = cgroup_of_a_spawn(&r).unwrap();
        std::path::Path::new(&mount).join(path.trim_start_matches('/'))
    };
    let first = leaf_of_a_spawn();
    std::fs::remove_dir(&first).unwrap();
    let second = leaf_of_a_spawn();
    assert_ne!(second, first);
    assert!(second.is_dir());
    println!("child removed_leaf_child done");
}

/// A spawn after a killed one runs: the killed tree's cgroup leaf is not
/// reused (a child forked into a once-killed cgroup is killed at once on
/// some kernels, this one included).
#[test]
fn spawns_after_a_killed_tree_run() {
    let r = runner();
    for _ in 0..3 {
        let p = r
            .spawn(
                &Command::new("sleep")
                    .arg("10")
                    .stdio(Stdio::Null, Stdio::Null, Stdio::Null),
            )
            .unwrap();
        p.kill(libc::SIGKILL).unwrap();
        assert!(!p.wait().unwrap().success());
        let out = run(&r, "echo ran");
        assert!(out.status.success(), "{:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    }
}

/// A caller whose own cgroup was once killed (`cgroup.kill` on it while it
/// was empty) still gets running, contained spawns: the kernel here kills a
/// child forked into a leaf whose kill count differs from the caller's
/// cgroup's, which the first spawn detects, joining by `cgroup.procs`
/// instead.
#[cfg(target_os = "linux")]
#[test]
fn a_caller_in_a_once_killed_cgroup_still_spawns() {
    let Some(mount) = leaf_mount() else {
        return; // the process-group path
    };
    let dir = own_cgroup(&mount).join(format!("rr-test-killed-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("cgroup.kill"), "1").unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} run --runner exec -- sh -c \
         'setsid sleep 1004 </dev/null >/dev/null 2>&1 & echo $! ; cat /proc/self/cgroup'",
        dir.display(),
        env!("CARGO_BIN_EXE_restricted-runner")
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let removed = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::remove_dir(&dir).is_ok()
    });
    assert!(
        out.status.success(),
        "{:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/restricted-runner-"),
        "not in a leaf of its own: {stdout}"
    );
    let pid: i32 = stdout.lines().next().unwrap().trim().parse().unwrap();
    assert!(
        wait_gone(pid, std::time::Duration::from_secs(2)),
        "the daemon {pid} outlived the run"
    );
    assert!(removed, "{} is left", dir.display());
}

/// A program that cannot be exec'd fails the spawn with the kernel's word
/// for it, reported by the child before it exits, and leaves no process
/// (reaped, no zombie) and no fd behind.
#[test]
fn a_failed_exec_is_an_error_that_leaves_nothing() {
    run_in_child("failed_exec_child", &[]);
}

#[test]
fn failed_exec_child() {
    use std::os::unix::fs::PermissionsExt;
    if !is_child("failed_exec_child") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let executable = |name: &str, text: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let no_interpreter = executable("no-interpreter", b"#!/rr-no-such-interpreter\n");
    let not_a_program = executable("not-a-program", b"\x7fELF but not really\n");
    let r = runner();
    // The record, its watchdog and the cgroup pool are made by a first spawn.
    r.run(None, OsStr::new("true"), &[], &Params::new(), None)
        .unwrap();
    let (fds, zombies) = (fd_count(), zombie_children());
    for _ in 0..3 {
        let e = r.spawn(&Command::new(&no_interpreter)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
        assert!(e.message().contains("interpreter"), "{e}");
        let e = r.spawn(&Command::new(&not_a_program)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Spawn, "{e}");
        assert_eq!(e.raw_os_error(), Some(libc::ENOEXEC), "{e}");
        assert!(e.message().contains("not-a-program"), "{e}");
    }
    assert_eq!(fd_count(), fds, "a failed spawn left an fd");
    assert_eq!(zombie_children(), zombies, "a failed spawn left a zombie");
    // And the runner still spawns.
    let o = r
        .run(None, OsStr::new("echo ok"), &[], &Params::new(), None)
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    println!("child failed_exec_child done");
}

/// This thread's read system calls so far (`syscr` of
/// /proc/thread-self/io: other test threads do not count).
#[cfg(target_os = "linux")]
fn reads_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// A spawn that does not measure its usage is waited for without reading
/// its cgroup's CPU counters: one read fewer than a measured one in the
/// same pooled leaf.
#[cfg(target_os = "linux")]
#[test]
fn a_spawn_that_measures_nothing_reads_no_cpu_counters() {
    if leaf_mount().is_none() {
        return; // the process-group path
    }
    let r = Runner::new("exec", None).unwrap();
    let mut quiet = restricted_runner::SpawnAttrs::new();
    quiet.set_measure_usage(false);
    let run = |attrs: &restricted_runner::SpawnAttrs| {
        let cmd = Command::new("/bin/true")
            .stdio(Stdio::Null, Stdio::Null, Stdio::Null)
            .attrs(attrs.clone());
        // The reads of this thread from the spawn to the end of the wait.
        let before = reads_by_this_thread();
        let res = r.spawn(&cmd).unwrap().wait_result().unwrap();
        let reads = reads_by_this_thread() - before;
        (res.usage.is_some(), reads)
    };
    let measured = restricted_runner::SpawnAttrs::new();
    run(&measured);
    for round in 0..3 {
        let (usage, with) = run(&measured);
        assert!(usage, "round {round}");
        let (usage, without) = run(&quiet);
        assert!(!usage, "round {round}");
        // Other test threads share the pool: a leaf may come back with its
        // base unknown, which costs a measured spawn one read more.
        assert!(
            without < with,
            "round {round}: reads {without} unmeasured, {with} measured"
        );
        let (usage, after) = run(&measured);
        assert!(usage, "round {round}");
        assert!(without < after, "round {round}");
    }
}
