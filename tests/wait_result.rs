//! How runs end and what they cost: the reason and the accounting, against
//! the real runners (exec, landrun, and the docker CLI for the engine's OOM
//! kill).

mod common;

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::time::Duration;

use common::*;
use restricted_runner::{EndReason, ExitStatus, Params, Runner};
use serde_json::json;

fn runners() -> Vec<(&'static str, Runner)> {
    let mut v = vec![("exec", Runner::new("exec", None).unwrap())];
    if cfg!(target_os = "linux") {
        let o = json!({"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "allow_read_folders": ["/etc"]});
        v.push((
            "landrun",
            Runner::new("landrun", Some(&o.to_string())).unwrap(),
        ));
    }
    v
}

fn detailed(
    r: &Runner,
    script: &str,
    timeout: Option<Duration>,
) -> (restricted_runner::Output, restricted_runner::WaitResult) {
    r.run_detailed(
        Some(OsStr::new("/bin/sh")),
        OsStr::new(script),
        &[],
        &Params::new(),
        timeout,
        None,
    )
    .unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[test]
fn an_exit_is_exited_with_its_code_and_costs() {
    for (name, r) in runners() {
        let (_, res) = detailed(
            &r,
            "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exit 3",
            None,
        );
        assert_eq!(res.status, ExitStatus::Exited(3), "{name}");
        assert_eq!(res.reason, EndReason::Exited, "{name}");
        let u = res.usage.unwrap_or_else(|| panic!("{name}: no usage"));
        assert!(u.user > Duration::from_millis(20), "{name}: {u:?}");
        // The wall clock starts when the spawn returns, the child's CPU
        // count a little earlier.
        assert!(
            res.wall_time + Duration::from_millis(50) >= u.user,
            "{name}: {res:?}"
        );
        assert!(u.peak_rss_bytes > 0, "{name}: {u:?}");
    }
}

#[test]
fn a_signal_from_inside_is_signaled_and_a_kill_is_killed() {
    for (name, r) in runners() {
        let (_, res) = detailed(&r, "kill -TERM $$", None);
        assert_eq!(res.status, ExitStatus::Signaled(libc::SIGTERM), "{name}");
        assert_eq!(res.reason, EndReason::Signaled, "{name}");

        let Pipes {
            stdin,
            stdout,
            stderr,
            process,
        } = spawn(&r, sh("sleep 30"));
        process.kill(libc::SIGTERM).unwrap();
        let res = process.wait_result().unwrap();
        assert_eq!(res.status, ExitStatus::Signaled(libc::SIGTERM), "{name}");
        assert_eq!(res.reason, EndReason::Killed, "{name}");
        drop((stdin, stdout, stderr));
    }
}

#[test]
fn a_timeout_is_an_outcome_with_the_output_so_far() {
    for (name, r) in runners() {
        let (out, res) = detailed(
            &r,
            "echo before; sleep 30",
            Some(Duration::from_millis(500)),
        );
        assert_eq!(res.reason, EndReason::TimedOut, "{name}");
        assert_eq!(out.stdout, b"before\n", "{name}");
        assert!(
            res.wall_time >= Duration::from_millis(500),
            "{name}: {res:?}"
        );
        assert!(res.wall_time < Duration::from_secs(20), "{name}: {res:?}");
    }
}

#[test]
fn a_cancellation_is_an_outcome() {
    for (name, r) in runners() {
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(write_end);
        });
        let (_, res) = r
            .run_detailed(
                None,
                OsStr::new("sleep 30"),
                &[],
                &Params::new(),
                None,
                Some(read_end.as_fd()),
            )
            .unwrap();
        closer.join().unwrap();
        assert_eq!(res.reason, EndReason::Canceled, "{name}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn past_max_cpu_seconds_is_a_cpu_limit() {
    let o = json!({"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "max_cpu_seconds": 1});
    let r = Runner::new("landrun", Some(&o.to_string())).unwrap();
    // One program ignores SIGXCPU and is killed at the hard limit, the other
    // dies of it.
    for script in ["trap '' XCPU; while :; do :; done", "while :; do :; done"] {
        let (_, res) = detailed(&r, script, Some(Duration::from_secs(60)));
        assert_eq!(res.reason, EndReason::CpuLimit, "{script}: {res:?}");
        // The limit counts scheduler time; rusage's split into user and
        // system time is sampled and can come out lower on a busy machine.
        let u = res.usage.unwrap();
        assert!(
            u.user + u.system >= Duration::from_millis(500),
            "{script}: {u:?}"
        );
    }
}

/// Why a run ended does not depend on measuring what it cost: a spawn
/// that asked for no usage still ends as a CPU limit.
#[cfg(target_os = "linux")]
#[test]
fn a_cpu_limit_is_told_without_measuring_usage() {
    use restricted_runner::{Command, SpawnAttrs, Stdio};
    let o = json!({"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "max_cpu_seconds": 1});
    let r = Runner::new("landrun", Some(&o.to_string())).unwrap();
    let mut quiet = SpawnAttrs::new();
    quiet.set_measure_usage(false);
    // Killed at the hard limit (SIGKILL), which only the CPU time used
    // tells from another kill; and dead of SIGXCPU.
    for script in ["trap '' XCPU; while :; do :; done", "while :; do :; done"] {
        let cmd = Command::new("/bin/sh")
            .args(["-c", script])
            .stdio(Stdio::Null, Stdio::Null, Stdio::Null)
            .attrs(quiet.clone());
        let res = r.spawn(&cmd).unwrap().wait_result().unwrap();
        assert_eq!(res.reason, EndReason::CpuLimit, "{script}: {res:?}");
        assert!(res.usage.is_none(), "{script}: {res:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn past_max_memory_bytes_the_command_fails_within_its_limit() {
    // RLIMIT_AS makes allocations fail: the command exits (the kernel kills
    // nothing), and its peak stays under the limit.
    let o = json!({"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "max_memory_bytes": 128u64 << 20});
    let r = Runner::new("landrun", Some(&o.to_string())).unwrap();
    let (out, res) = detailed(&r, "/usr/bin/python3 -c 'b = bytearray(512 << 20)'", None);
    assert_eq!(res.reason, EndReason::Exited, "{res:?}");
    assert_ne!(res.status, ExitStatus::Exited(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MemoryError"),
        "{out:?}"
    );
    assert!(res.usage.unwrap().peak_rss_bytes < 128 << 20, "{res:?}");
    // Under the limit the same allocation's size shows in the peak.
    let big = Runner::new("exec", None).unwrap();
    let (_, res) = detailed(
        &big,
        "/usr/bin/python3 -c 'b = bytearray(200 << 20); b[::4096] = b\"x\" * len(b[::4096])'",
        None,
    );
    assert!(res.usage.unwrap().peak_rss_bytes >= 200 << 20, "{res:?}");
}

/// The engine's OOM kill, through the docker CLI and through podman.
#[cfg(target_os = "linux")]
#[test]
fn past_a_containers_memory_limit_is_out_of_memory() {
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    let image =
        std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into());
    std::env::set_var("DOCKER_HOST", &sock);
    for engine in ["docker", "podman"] {
        let o = json!({"image": image, "engine": engine, "pull": "never", "memory": "32m", "memory_swap": "32m"});
        let r = match Runner::new("docker", Some(&o.to_string())) {
            Ok(r) => r,
            Err(e) if std::env::var_os("RR_REQUIRE_ALL_RUNNERS").is_none() => {
                eprintln!("skipping {engine}: {e}");
                continue;
            }
            Err(e) => panic!("{engine}: {e}"),
        };
        let (_, res) = detailed(
            &r,
            "head -c 200m /dev/zero | tail > /dev/null",
            Some(Duration::from_secs(60)),
        );
        assert_eq!(res.reason, EndReason::OutOfMemory, "{engine}: {res:?}");
        assert!(
            res.usage.is_none(),
            "{engine}: a container's usage is not the CLI's"
        );
    }
}

/// A spawn that asks not to measure its usage reports none; the spawns
/// after it in the same (pooled) cgroup leaf count only their own CPU time.
#[test]
fn a_spawn_that_measures_nothing_leaves_the_next_counts_right() {
    use restricted_runner::{Command, SpawnAttrs, Stdio};
    let burn = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";
    let mut quiet = SpawnAttrs::new();
    quiet.set_measure_usage(false);
    for (name, r) in runners() {
        let sh = |attrs: SpawnAttrs, script: &str| {
            let cmd = Command::new("/bin/sh")
                .args(["-c", script])
                .stdio(Stdio::Null, Stdio::Null, Stdio::Null)
                .attrs(attrs);
            r.spawn(&cmd).unwrap().wait_result().unwrap()
        };
        let measured = sh(SpawnAttrs::new(), burn).usage.unwrap();
        assert!(
            measured.user > Duration::from_millis(30),
            "{name}: {measured:?}"
        );
        for round in 0..3 {
            let res = sh(quiet.clone(), burn);
            assert_eq!(res.status, ExitStatus::Exited(0), "{name}");
            assert!(res.usage.is_none(), "{name}, round {round}: {res:?}");
            let next = sh(SpawnAttrs::new(), "exit 0");
            let u = next
                .usage
                .unwrap_or_else(|| panic!("{name}: no usage after"));
            assert!(
                u.user + u.system < measured.user / 2,
                "{name}, round {round}: `exit 0` counted {u:?} (the burn before it took {measured:?})"
            );
        }
    }
}
