//! `restricted-runner doctor`: for each runner, whether it works on this
//! machine and what it enforces here, found by doing (a short real spawn
//! per runner, bounded by a timeout) and reading that spawn's enforcement
//! report.

use std::ffi::OsStr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use restricted_runner::conformance;
use restricted_runner::{Command, Kind, Params, Runner, Stdio};
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the findings as one JSON object.
    #[arg(long)]
    json: bool,
    /// A local image for the docker runner's probe spawns (never pulled).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// Upper bound, in seconds, for each probe.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    timeout: f64,
}

/// One probe: a runner (and engine) and the options it is tried with.
struct Probe {
    kind: Kind,
    label: &'static str,
    engine: Option<&'static str>,
    options: Option<String>,
}

fn probes(image: Option<&str>) -> Vec<Probe> {
    let system: Vec<&str> = ["/usr", "/bin", "/lib", "/lib64"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    let docker = |engine: &'static str| Probe {
        kind: Kind::Docker,
        label: if engine == "docker" {
            "docker (docker CLI)"
        } else {
            "docker (podman CLI)"
        },
        engine: Some(engine),
        options: image.map(|i| json!({"image": i, "engine": engine, "pull": "never"}).to_string()),
    };
    vec![
        Probe {
            kind: Kind::Exec,
            label: "exec",
            engine: None,
            options: None,
        },
        Probe {
            kind: Kind::Landrun,
            label: "landrun",
            engine: None,
            options: Some(json!({"allow_read_exec_folders": system}).to_string()),
        },
        Probe {
            kind: Kind::Firejail,
            label: "firejail",
            engine: None,
            options: None,
        },
        docker("docker"),
        docker("podman"),
        Probe {
            kind: Kind::SandboxExec,
            label: "sandbox-exec",
            engine: None,
            options: None,
        },
    ]
}

/// What would make a failing runner work.
fn fix(kind: Kind, engine: Option<&str>, message: &str) -> String {
    match kind {
        Kind::Exec => "nothing should be missing: report this as a bug".into(),
        Kind::Landrun if message.contains("best_effort") => {
            "enable what the message names (Landlock in the kernel's LSM list, user namespaces), \
             or set best_effort to run with the layers that remain"
                .into()
        }
        Kind::Landrun => "Linux 5.13 or later with Landlock enabled (lsm=...,landlock)".into(),
        Kind::Firejail => {
            "install firejail (Debian/Ubuntu: apt-get install firejail; Fedora: dnf install firejail)"
                .into()
        }
        Kind::Docker if engine == Some("docker") => {
            "install the docker CLI and make its engine answer (a running dockerd, or DOCKER_HOST \
             naming one, such as podman's API socket), and give a local image with --image"
                .into()
        }
        Kind::Docker => {
            "install podman (Debian/Ubuntu: apt-get install podman), and give a local image with --image"
                .into()
        }
        Kind::SandboxExec => "macOS only: use landrun or firejail on Linux".into(),
        _ => String::new(),
    }
}

/// A short shell command's first line of output, bounded by a timeout,
/// through the library's own exec runner.
fn first_line(script: &str) -> Option<String> {
    let runner = Runner::new("exec", None).ok()?;
    let out = runner
        .run(
            Some(OsStr::new("/bin/sh")),
            OsStr::new(script),
            &[],
            &Params::new(),
            Some(Duration::from_secs(10)),
        )
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn version(kind: Kind, engine: Option<&str>) -> Option<String> {
    match (kind, engine) {
        (Kind::Firejail, _) => first_line("firejail --version 2>/dev/null"),
        (Kind::Docker, Some("docker")) => first_line(
            "docker version --format 'client {{.Client.Version}}, engine {{.Server.Version}}' 2>/dev/null",
        ),
        (Kind::Docker, Some("podman")) => {
            first_line("podman version --format 'podman {{.Client.Version}}' 2>/dev/null")
        }
        _ => None,
    }
}

/// Runs one probe: builds the runner, spawns `true` and waits for it, at
/// most `timeout`.
fn run_probe(p: &Probe, timeout: Duration) -> Value {
    let started = Instant::now();
    let mut result = json!({
        "runner": p.kind.name(),
        "label": p.label,
        "engine": p.engine,
        "works": false,
        "error": null,
        "fix": null,
        "spawn_ms": null,
        "version": version(p.kind, p.engine),
        "enforces": [],
        "missing": [],
        "enforcement": null,
        "guarantees": conformance::declaration(p.kind).blocks,
    });
    let failed = |mut result: Value, message: String| {
        result["fix"] = json!(fix(p.kind, p.engine, &message));
        result["error"] = json!(message);
        result
    };
    if p.kind == Kind::Docker && p.options.is_none() {
        return failed(
            result,
            "not tried: no image given (pass --image with a local image)".into(),
        );
    }
    let runner = match Runner::new(p.kind.name(), p.options.as_deref()) {
        Ok(r) => r,
        Err(e) => return failed(result, e.to_string()),
    };
    let cmd = Command::new("true").stdio(Stdio::Null, Stdio::Null, Stdio::Null);
    let process = match runner.spawn(&cmd) {
        Ok(p) => p,
        Err(e) => return failed(result, e.to_string()),
    };
    let exited = process.wait_exit(Some(timeout.saturating_sub(started.elapsed())));
    if !matches!(exited, Ok(true)) {
        let _ = process.kill(libc::SIGKILL);
    }
    let report = process.enforcement().map(|e| e.to_json());
    let status = process.wait();
    result["spawn_ms"] = json!(started.elapsed().as_millis() as u64);
    if let Some(r) = &report {
        let enforced: Vec<&String> = r["layers"]
            .as_object()
            .map(|l| {
                l.iter()
                    .filter(|(_, v)| v["enforced"] == true)
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        result["enforces"] = json!(enforced);
        result["missing"] = r["missing"].clone();
    }
    result["enforcement"] = report.unwrap_or(Value::Null);
    match (exited, status) {
        (Ok(true), Ok(s)) if s.success() => {
            result["works"] = json!(true);
            result
        }
        (Ok(false), _) => failed(
            result,
            format!("the probe spawn of `true` did not end within {timeout:?}"),
        ),
        (_, Ok(s)) => failed(result, format!("the probe spawn of `true` ended with {s}")),
        (Err(e), _) | (_, Err(e)) => failed(result, e.to_string()),
    }
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy()
            )
        })
        .unwrap_or_default()
}

/// The findings: the machine, then one entry per probe.
fn findings(args: &Args) -> Value {
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    let runners: Vec<Value> = probes(args.image.as_deref())
        .iter()
        .map(|p| run_probe(p, timeout))
        .collect();
    let landrun = runners.iter().find(|r| r["runner"] == "landrun");
    let exec = runners.iter().find(|r| r["runner"] == "exec");
    let layer = |r: Option<&Value>, l: &str| r.map(|r| r["enforcement"]["layers"][l].clone());
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "machine": {
            "kernel": kernel(),
            "uid": nix::unistd::getuid().as_raw(),
            "landlock_abi": layer(landrun, "landlock").map(|l| l["abi"].clone()),
            "namespaces": layer(landrun, "namespaces").map(|l| l["namespaces"].clone()),
            "seccomp": layer(landrun, "seccomp").map(|l| l["enforced"].clone()),
            "cgroup_containment": layer(exec, "containment").map(|l| l["method"].clone()),
        },
        "runners": runners,
    })
}

fn text(f: &Value) -> String {
    let mut out = String::new();
    let m = &f["machine"];
    out.push_str(&format!(
        "restricted-runner {} on {} (uid {})\n",
        f["version"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or(""),
        m["uid"]
    ));
    out.push_str(&format!(
        "  Landlock ABI: {}\n  namespaces a sandbox gets: {}\n  seccomp: {}\n  exec containment: {}\n\n",
        show(&m["landlock_abi"]),
        show(&m["namespaces"]),
        show(&m["seccomp"]),
        show(&m["cgroup_containment"]),
    ));
    for r in f["runners"].as_array().into_iter().flatten() {
        let label = r["label"].as_str().unwrap_or("");
        if r["works"] == true {
            out.push_str(&format!(
                "{label}: works (probe spawn {} ms)\n",
                show(&r["spawn_ms"])
            ));
        } else {
            out.push_str(&format!("{label}: does not work here\n"));
            out.push_str(&format!("  why: {}\n", show(&r["error"])));
            out.push_str(&format!("  fix: {}\n", show(&r["fix"])));
        }
        if !r["version"].is_null() {
            out.push_str(&format!("  version: {}\n", show(&r["version"])));
        }
        if let Some(layers) = r["enforcement"]["layers"].as_object() {
            for (name, l) in layers.iter().filter(|(_, l)| l["enforced"] == true) {
                out.push_str(&format!(
                    "  enforces {name}: {}\n",
                    l["method"].as_str().unwrap_or("")
                ));
            }
        }
        for m in r["missing"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  missing {}: {}\n",
                show(&m["layer"]),
                show(&m["reason"])
            ));
        }
        out.push_str(&format!(
            "  guarantees to block: {}\n\n",
            show(&r["guarantees"])
        ));
    }
    out.push_str("(the guarantees are docs/conformance.md's table)\n");
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "unknown".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "nothing".into(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(", "),
        v => v.to_string(),
    }
}

pub(crate) fn main(args: Args) -> ExitCode {
    let f = findings(&args);
    if args.json {
        println!("{f}");
    } else {
        print!("{}", text(&f));
    }
    // Runners that do not work here are findings, not failures.
    ExitCode::SUCCESS
}
