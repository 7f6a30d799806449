//! Start-to-exit latency of `true` in a container: this runner against the
//! reference implementation's way (detached `sleep infinity` container,
//! `exec -i`, forced removal), same engine and image, for both CLIs; and
//! the throughput of 256 MiB through `cat` in a container against `cat` on
//! the host (the exec runner).
//!
//! Needs what tests/support/setup-env.sh sets up. Run with
//! `cargo bench --bench docker`; `RR_BENCH_ITERS` sets the latency samples.

use std::io::{Read, Write};
use std::process::Stdio as StdStdio;
use std::time::{Duration, Instant};

use restricted_runner::{Command, Runner, Stdio};

fn image() -> String {
    std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into())
}

/// Runs a CLI to completion, failing loudly.
fn cli(engine: &str, args: &[&str]) {
    let out = std::process::Command::new(engine)
        .args(args)
        .stdin(StdStdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{engine}: {e}"));
    assert!(
        out.status.success(),
        "{engine} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ours(r: &Runner) -> Duration {
    let t = Instant::now();
    let mut p = r.spawn(&Command::new("true")).unwrap();
    drop(p.take_stdin());
    let status = p.wait().unwrap();
    let d = t.elapsed();
    assert!(status.success(), "{status:?}");
    d
}

/// go-restricted-runner's RunWithPipes: a detached container kept alive by
/// `sleep infinity`, the command run with `exec -i`, then a forced removal.
/// podman's removal gets `--time=0`: the reference's plain `rm -f` waits
/// 10 s for the engine's graceful stop, which would swamp the comparison.
fn reference(engine: &str, n: usize) -> Duration {
    let name = format!("rr-bench-ref-{}-{n}", std::process::id());
    let image = image();
    let t = Instant::now();
    cli(
        engine,
        &[
            "run",
            "-d",
            "--pull=never",
            "--name",
            &name,
            &image,
            "sleep",
            "infinity",
        ],
    );
    cli(engine, &["exec", "-i", &name, "true"]);
    if engine == "podman" {
        cli(engine, &["rm", "-f", "--time=0", &name]);
    } else {
        cli(engine, &["rm", "-f", &name]);
    }
    t.elapsed()
}

/// The create + attached start alternative considered for the docker CLI.
fn create_start(engine: &str, n: usize) -> Duration {
    let name = format!("rr-bench-cs-{}-{n}", std::process::id());
    let image = image();
    let t = Instant::now();
    cli(
        engine,
        &[
            "create",
            "-i",
            "--init",
            "--pull=never",
            "--name",
            &name,
            &image,
            "true",
        ],
    );
    cli(engine, &["start", "-ai", &name]);
    cli(engine, &["rm", "-f", &name]);
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn mean(v: &[Duration]) -> f64 {
    v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / v.len() as f64
}

fn latency(engine: &str, iters: usize) {
    let r = Runner::new(
        "docker",
        Some(&format!(
            r#"{{"image": "{}", "engine": "{engine}", "pull": "never", "allow_networking": false}}"#,
            image()
        )),
    )
    .unwrap_or_else(|e| panic!("{engine} runner: {e} (run tests/support/setup-env.sh)"));
    ours(&r); // warm-up
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so that load from elsewhere hits every variant alike.
    for i in 0..iters {
        a.push(ours(&r));
        b.push(reference(engine, i));
        if engine == "docker" {
            c.push(create_start(engine, i));
        }
    }
    let (ma, mb) = (median(a.clone()), median(b.clone()));
    println!(
        "{engine} true start-to-exit: {ma:.1} ms/op median ({:.1} mean); reference run -d + exec -i + rm -f: {mb:.1} ms/op median ({:.1} mean); ratio {:.2}",
        mean(&a),
        mean(&b),
        ma / mb
    );
    if !c.is_empty() {
        let mc = median(c.clone());
        println!(
            "{engine} alternative create + start -ai + rm -f: {mc:.1} ms/op median ({:.1} mean); ratio to this runner {:.2}",
            mean(&c),
            mc / ma
        );
    }
}

/// Seconds to push `size` bytes through `cat` under `r` and read them back.
fn through_cat(r: &Runner, size: usize) -> f64 {
    let mut p = r
        .spawn(&Command::new("cat").stdio(Stdio::Pipe, Stdio::Pipe, Stdio::Null))
        .unwrap();
    let mut stdin = std::fs::File::from(p.take_stdin().unwrap());
    let mut stdout = std::fs::File::from(p.take_stdout().unwrap());
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let block = vec![7u8; 1 << 20];
        let mut sent = 0;
        while sent < size {
            stdin.write_all(&block).unwrap();
            sent += block.len();
        }
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    writer.join().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(got, size);
    assert!(p.wait().unwrap().success());
    secs
}

fn throughput(engine: &str, host_gbs: f64) {
    const SIZE: usize = 256 << 20;
    let r = Runner::new(
        "docker",
        Some(&format!(
            r#"{{"image": "{}", "engine": "{engine}", "pull": "never"}}"#,
            image()
        )),
    )
    .unwrap();
    let gbs = SIZE as f64 / through_cat(&r, SIZE) / 1e9;
    println!(
        "{engine} 256 MiB through cat: {gbs:.3} GB/s; exec: {host_gbs:.3} GB/s; ratio {:.3}",
        gbs / host_gbs
    );
}

fn main() {
    // The docker CLI talks to podman's Docker-compatible API socket; set
    // before any other thread exists.
    let sock =
        std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into());
    std::env::set_var("DOCKER_HOST", sock);
    let iters = std::env::var("RR_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    for engine in ["podman", "docker"] {
        latency(engine, iters);
    }
    let exec = Runner::new("exec", None).unwrap();
    let host_gbs = (256 << 20) as f64 / through_cat(&exec, 256 << 20) / 1e9;
    for engine in ["podman", "docker"] {
        throughput(engine, host_gbs);
    }
}
