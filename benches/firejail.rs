//! Spawn-and-wait latency of `true` under firejail with a typical profile,
//! next to the `exec` runner measured in the same run.
//!
//! Run with `cargo bench --bench firejail` (needs firejail installed).

use std::time::{Duration, Instant};

use restricted_runner::{Command, Runner, Stdio};

/// Mean time per spawn-and-wait, and how many runs did not exit 0.
fn per_op(runner: &Runner, iterations: u32) -> (Duration, u32) {
    let cmd = Command::new("true").stdio(Stdio::Null, Stdio::Null, Stdio::Null);
    // One untimed spawn warms the page cache and PATH lookups.
    runner.spawn(&cmd).expect("spawn").wait().expect("wait");
    let mut failed = 0;
    let start = Instant::now();
    for _ in 0..iterations {
        let status = runner.spawn(&cmd).expect("spawn").wait().expect("wait");
        failed += u32::from(!status.success());
    }
    (start.elapsed() / iterations, failed)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let read = dir.path().join("read");
    let write = dir.path().join("write");
    std::fs::create_dir_all(&read).expect("mkdir");
    std::fs::create_dir_all(&write).expect("mkdir");
    let options = serde_json::json!({
        "allow_networking": false,
        "allow_read_folders": [read],
        "allow_write_folders": [write],
    })
    .to_string();
    let firejail = Runner::new("firejail", Some(&options))
        .unwrap_or_else(|e| panic!("the firejail runner is unavailable: {e}"));
    let exec = Runner::new("exec", None).expect("exec runner");

    let (exec, exec_failed) = per_op(&exec, 300);
    let (jail, jail_failed) = per_op(&firejail, 30);
    let (exec_us, firejail_us) = (exec.as_secs_f64() * 1e6, jail.as_secs_f64() * 1e6);
    println!(
        "firejail true spawn+wait: {firejail_us:.1} us/op; exec: {exec_us:.1} us/op; ratio {:.1}x",
        firejail_us / exec_us
    );
    if exec_failed + jail_failed > 0 {
        // firejail aborts its setup when a host mount appears meanwhile
        // (a container starting, say); such a run still counts its time.
        println!("runs that did not exit 0: firejail {jail_failed}, exec {exec_failed}");
    }
}
