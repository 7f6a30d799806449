//! Spawn-and-wait latency of `true` under firejail with a typical profile,
//! next to the `exec` runner measured in the same run.
//!
//! Run with `cargo bench --bench firejail` (needs firejail installed).

use std::time::{Duration, Instant};

use restricted_runner::{Command, Runner, Stdio};

fn per_op(runner: &Runner, iterations: u32) -> Duration {
    let cmd = Command::new("true").stdio(Stdio::Null, Stdio::Null, Stdio::Null);
    // One untimed spawn warms the page cache and PATH lookups.
    runner.spawn(&cmd).expect("spawn").wait().expect("wait");
    let start = Instant::now();
    for _ in 0..iterations {
        let status = runner.spawn(&cmd).expect("spawn").wait().expect("wait");
        assert!(status.success(), "true failed: {status}");
    }
    start.elapsed() / iterations
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

    let exec_us = per_op(&exec, 300).as_secs_f64() * 1e6;
    let firejail_us = per_op(&firejail, 30).as_secs_f64() * 1e6;
    println!(
        "firejail true spawn+wait: {firejail_us:.1} us/op; exec: {exec_us:.1} us/op; ratio {:.1}x",
        firejail_us / exec_us
    );
}
