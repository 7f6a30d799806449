//! Spawn-and-wait latency of `true` under the landrun runner, against the
//! exec runner (plain posix_spawn) and firejail with an equivalent profile,
//! measured in the same run; then again with the caller holding 1 GiB of
//! touched memory, which a `fork` would have to copy page tables for.
//!
//! Run with `cargo bench --bench landrun`. Prints plain ratio lines.

use std::io::Write;
use std::time::{Duration, Instant};

use restricted_runner::{Command, Runner, Stdio};
use serde_json::json;

/// Mean time per spawn+wait over `n` runs, best of three rounds.
fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(20) {
        f();
    }
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed() / n
        })
        .min()
        .unwrap_or_default()
}

fn spawn_wait(r: &Runner) -> impl FnMut() + '_ {
    let cmd = Command::new("/bin/true").stdio(Stdio::Null, Stdio::Null, Stdio::Null);
    move || {
        let status = r.spawn(&cmd).expect("spawn").wait().expect("wait");
        assert!(status.success(), "true failed: {status}");
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn line(what: &str, d: Duration, base_name: &str, base: Duration) {
    println!(
        "{what} true spawn+wait: {:.1} us/op; {base_name}: {:.1} us/op; ratio {:.2}x",
        us(d),
        us(base),
        d.as_secs_f64() / base.as_secs_f64()
    );
}

fn main() {
    let work = tempfile::Builder::new()
        .prefix("rr-bench-landrun-")
        .tempdir()
        .expect("tempdir");
    let work_path = work.path().to_str().expect("utf-8 tempdir").to_string();
    // A typical rule set: system folders readable and executable, /etc
    // readable, one work folder writable, one TCP port to connect to.
    let typical = json!({
        "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
        "allow_read_folders": ["/etc"],
        "allow_write_folders": [work_path],
        "allow_connect_tcp": [443],
        "max_open_files": 1024,
    });
    let mut isolated = typical.clone();
    isolated["isolate_network"] = json!(true);

    let exec = Runner::new("exec", None).expect("exec runner");
    let landrun = Runner::new("landrun", Some(&typical.to_string())).expect("landrun runner");
    let landrun_netns =
        Runner::new("landrun", Some(&isolated.to_string())).expect("landrun runner (netns)");

    // The same confinement in firejail's terms.
    let profile = work.path().join("bench.profile");
    let mut f = std::fs::File::create(&profile).expect("profile");
    writeln!(
        f,
        "quiet\nnoroot\ncaps.drop all\nnonewprivs\nnet none\nread-only /\nread-write {work_path}\nrlimit-nofile 1024"
    )
    .expect("write profile");
    drop(f);
    let firejail = || {
        let status = std::process::Command::new("firejail")
            .arg("--quiet")
            .arg(format!("--profile={}", profile.display()))
            .arg("/bin/true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("firejail is required for this benchmark (apt-get install firejail)");
        assert!(status.success(), "firejail true failed: {status}");
    };

    let n = 400;
    let exec_t = per_op(n, spawn_wait(&exec));
    let land_t = per_op(n, spawn_wait(&landrun));
    let netns_t = per_op(n / 4, spawn_wait(&landrun_netns));
    let fj_t = per_op(10, firejail);
    line("landrun", land_t, "exec", exec_t);
    line("landrun isolate_network", netns_t, "exec", exec_t);
    line("firejail", fj_t, "landrun", land_t);

    // 1 GiB touched: every page is really backed, as in a large host.
    let big = vec![1u8; 1 << 30];
    let exec_big = per_op(n, spawn_wait(&exec));
    let land_big = per_op(n, spawn_wait(&landrun));
    let netns_big = per_op(n / 4, spawn_wait(&landrun_netns));
    line("1 GiB caller: landrun", land_big, "exec", exec_big);
    line(
        "1 GiB caller: landrun isolate_network",
        netns_big,
        "exec",
        exec_big,
    );
    line(
        "1 GiB caller: landrun",
        land_big,
        "small-caller landrun",
        land_t,
    );
    assert_eq!(big[big.len() / 2], 1);
}
