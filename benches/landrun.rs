//! The landrun runner's spawn cost, printed as ratios against baselines
//! measured in the same run (never asserted: machines are noisy).
//!
//! Spawn-and-wait of `/bin/true` with the typical policy (read+exec on the
//! system folders, read on /etc, one write folder, networking off), under
//! full isolation (namespaces, mount view, PID-1 init, seccomp, no
//! capabilities, Landlock), against plain `posix_spawn` and against
//! `bwrap --unshare-all --die-with-parent` with an equivalent bind set, from
//! a small caller and from one holding 1 GiB of touched memory. Rounds are
//! interleaved and the median per operation is reported. Also: the same
//! policy with TCP ports listed (no network namespace), and firejail.

use std::ffi::CString;
use std::time::{Duration, Instant};

use restricted_runner::{Command, Runner, Stdio};
use serde_json::json;

/// One spawn-and-wait of `argv` with posix_spawn and /dev/null stdio.
fn posix_spawn_wait(argv: &[CString]) {
    let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    ptrs.push(std::ptr::null_mut());
    // SAFETY: valid argv; posix_spawn with default attributes inherits our
    // stdio, which the benchmark points at /dev/null.
    unsafe {
        let mut pid = 0;
        let rc = libc::posix_spawn(
            &mut pid,
            argv[0].as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            ptrs.as_ptr(),
            environ(),
        );
        assert_eq!(rc, 0, "posix_spawn {:?}", argv[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{argv:?} failed: {status}"
        );
    }
}

fn environ() -> *const *mut libc::c_char {
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    // SAFETY: reads the process's environment pointer.
    unsafe { environ }
}

/// Spawn-and-wait of `/bin/true` under `r`, inheriting stdio as the
/// posix_spawn baselines do (the benchmark points its own at /dev/null).
fn runner_case(r: &Runner) -> impl FnMut() + '_ {
    let cmd = Command::new("/bin/true").stdio(Stdio::Inherit, Stdio::Inherit, Stdio::Inherit);
    move || {
        let status = r.spawn(&cmd).expect("spawn").wait().expect("wait");
        assert!(status.success(), "true failed: {status}");
    }
}

struct Case<'a> {
    name: &'static str,
    run: Box<dyn FnMut() + 'a>,
    per_round: u32,
    samples: Vec<Duration>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, per_round: u32, run: impl FnMut() + 'a) -> Self {
        Case {
            name,
            run: Box::new(run),
            per_round,
            samples: Vec::new(),
        }
    }

    /// The `q` quantile of the operations' times.
    fn quantile(&self, q: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s[((s.len() - 1) as f64 * q) as usize]
    }

    fn median(&self) -> Duration {
        self.quantile(0.5)
    }
}

/// Interleaved rounds: each case runs `per_round` times per round; every
/// operation is timed, so that the median is per operation and a slow
/// moment of the machine (deferred kernel work, another program) shows in
/// the tail rather than in a round's mean.
fn measure(cases: &mut [Case<'_>], rounds: usize) {
    for c in cases.iter_mut() {
        for _ in 0..5 {
            (c.run)();
        }
    }
    for _ in 0..rounds {
        for c in cases.iter_mut() {
            for _ in 0..c.per_round {
                let t = Instant::now();
                (c.run)();
                c.samples.push(t.elapsed());
            }
        }
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(title: &str, cases: &[Case<'_>]) {
    println!("{title}");
    for c in cases {
        println!(
            "  {:<34} {:>9.1} us/op (90th percentile {:.1} us)",
            c.name,
            us(c.median()),
            us(c.quantile(0.9))
        );
    }
    let get = |n: &str| cases.iter().find(|c| c.name == n).map(Case::median);
    let ratio = |a: &str, b: &str, target: &str| {
        if let (Some(x), Some(y)) = (get(a), get(b)) {
            println!(
                "  {a} / {b}: {:.2}x (target {target})",
                x.as_secs_f64() / y.as_secs_f64()
            );
        }
    };
    ratio("landrun (full isolation)", "posix_spawn", "<= 3.0x");
    ratio("landrun (full isolation)", "bwrap --unshare-all", "<= 0.6x");
    ratio("landrun, TCP ports listed", "posix_spawn", "-");
    ratio("firejail", "landrun (full isolation)", "-");
}

fn main() {
    let work = tempfile::Builder::new()
        .prefix("rr-bench-landrun-")
        .tempdir()
        .expect("tempdir");
    let w = work.path().to_str().expect("utf-8 tempdir").to_string();
    let typical = json!({
        "allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"],
        "allow_read_folders": ["/etc"],
        "allow_write_folders": [w],
    });
    let mut ports = typical.clone();
    ports["allow_connect_tcp"] = json!([443]);
    let landrun = Runner::new("landrun", Some(&typical.to_string())).expect("landrun runner");
    let landrun_ports = Runner::new("landrun", Some(&ports.to_string())).expect("landrun runner");
    let true_argv = vec![CString::new("/bin/true").unwrap()];
    let bwrap = which("bwrap").expect("bwrap is required (apt-get install bubblewrap)");
    let mut bwrap_argv: Vec<CString> = [
        bwrap.as_str(),
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--ro-bind",
        "/etc",
        "/etc",
        "--bind",
        &w,
        &w,
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "/bin/true",
    ]
    .iter()
    .map(|s| CString::new(*s).unwrap())
    .collect();
    if !std::path::Path::new("/lib64").exists() {
        bwrap_argv.retain(|a| a.as_bytes() != b"/lib64" && a.as_bytes() != b"usr/lib64");
    }
    let firejail = which("firejail");
    let profile = work.path().join("bench.profile");
    std::fs::write(
        &profile,
        format!("quiet\nnoroot\ncaps.drop all\nnonewprivs\nnet none\nseccomp\nread-only /\nread-write {w}\n"),
    )
    .expect("profile");
    let fj_argv: Vec<CString> = firejail
        .iter()
        .flat_map(|f| {
            [
                f.clone(),
                "--quiet".into(),
                format!("--profile={}", profile.display()),
                "/bin/true".into(),
            ]
        })
        .map(|s| CString::new(s).unwrap())
        .collect();

    // stdio of posix_spawn'd baselines: /dev/null.
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    let saved: Vec<i32> = (0..3).map(|fd| unsafe { libc::dup(fd) }).collect();
    for fd in 0..3 {
        // SAFETY: points our stdio at /dev/null for the run; restored below.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
    }
    let mut results = Vec::new();
    for big in [false, true] {
        let memory = big.then(|| vec![1u8; 1 << 30]);
        let mut cases = vec![
            Case::new("posix_spawn", 100, || posix_spawn_wait(&true_argv)),
            Case::new("landrun (full isolation)", 50, runner_case(&landrun)),
            Case::new("landrun, TCP ports listed", 50, runner_case(&landrun_ports)),
            Case::new("bwrap --unshare-all", 20, || posix_spawn_wait(&bwrap_argv)),
        ];
        if !fj_argv.is_empty() {
            cases.push(Case::new("firejail", 2, || posix_spawn_wait(&fj_argv)));
        }
        measure(&mut cases, 9);
        let title = if big {
            "caller holding 1 GiB of touched memory:"
        } else {
            "small caller:"
        };
        let mut out = Vec::new();
        for c in &cases {
            out.push((c.name, c.median()));
        }
        results.push((
            title,
            cases
                .iter()
                .map(|c| (c.name, c.samples.clone()))
                .collect::<Vec<_>>(),
        ));
        if let Some(m) = memory {
            assert_eq!(m[m.len() / 2], 1);
        }
    }
    for (fd, s) in saved.iter().enumerate() {
        // SAFETY: restores our stdio.
        unsafe { libc::dup2(*s, fd as i32) };
    }
    for (title, cases) in results {
        let cases: Vec<Case<'_>> = cases
            .into_iter()
            .map(|(name, samples)| Case {
                name,
                run: Box::new(|| {}),
                per_round: 0,
                samples,
            })
            .collect();
        report(title, &cases);
    }
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
            .map(|f| f.to_string_lossy().into_owned())
    })
}
