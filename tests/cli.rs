//! The `restricted-runner` command-line tool end to end: exit statuses,
//! stdio pass-through, signals, errors, `explain` against golden files for
//! every runner (regenerate with `RR_BLESS=1 cargo test --release --test
//! cli`), `doctor --json` and `gc`; and `rr_runner_explain` through the C
//! ABI.

#![cfg(target_os = "linux")]

use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOOL: &str = env!("CARGO_BIN_EXE_restricted-runner");

fn image() -> String {
    std::env::var("RR_TEST_IMAGE").unwrap_or_else(|_| "localhost/rr-test:latest".into())
}

fn docker_host() -> String {
    std::env::var("RR_DOCKER_SOCK").unwrap_or_else(|_| "unix:///tmp/rr-podman.sock".into())
}

fn tool(args: &[&str]) -> Output {
    Command::new(TOOL)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running restricted-runner")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const LANDRUN: &str = r#"{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"]}"#;

#[test]
fn exit_status_is_the_commands() {
    let o = tool(&["run", "-r", "exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{o:?}");
    let o = tool(&[
        "run", "-r", "landrun", "-o", LANDRUN, "--", "/bin/sh", "-c", "exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn a_signal_is_128_plus_its_number() {
    let o = tool(&["run", "-r", "exec", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + libc::SIGTERM), "{o:?}");
    let o = tool(&[
        "run",
        "-r",
        "landrun",
        "-o",
        LANDRUN,
        "--",
        "/bin/sh",
        "-c",
        "kill -KILL $$",
    ]);
    assert_eq!(o.status.code(), Some(128 + libc::SIGKILL), "{o:?}");
}

#[test]
fn a_bad_option_is_125_naming_the_key() {
    let o = tool(&[
        "run",
        "-r",
        "exec",
        "-o",
        r#"{"shel": "/bin/sh"}"#,
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = text(&o.stderr);
    assert!(err.contains("shel"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // The same for explain.
    let o = tool(&[
        "explain",
        "-r",
        "landrun",
        "-o",
        r#"{"max_memory": 1}"#,
        "--",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(text(&o.stderr).contains("max_memory"), "{o:?}");
}

#[test]
fn an_unknown_runner_is_125_naming_it() {
    let o = tool(&["run", "-r", "chroot", "--", "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(text(&o.stderr).contains("\"chroot\""), "{o:?}");
}

#[test]
fn a_missing_command_is_127_naming_it() {
    for runner in [
        vec!["-r", "exec"],
        vec!["-r", "landrun", "-o", LANDRUN],
        vec!["-r", "firejail"],
    ] {
        let mut args = vec!["run"];
        args.extend(&runner);
        args.extend(["--", "rr-no-such-command-xyz"]);
        let o = tool(&args);
        assert_eq!(o.status.code(), Some(127), "{runner:?}: {o:?}");
        assert!(
            text(&o.stderr).contains("rr-no-such-command-xyz"),
            "{runner:?}: {o:?}"
        );
    }
}

#[test]
fn a_timeout_is_124_and_ends_the_tree() {
    let t = Instant::now();
    let o = tool(&["run", "-r", "exec", "--timeout", "0.3", "--", "sleep", "30"]);
    assert_eq!(o.status.code(), Some(124), "{o:?}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

/// Every byte value, in a pattern that does not repeat within a pipe's
/// buffer.
fn binary_stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

#[test]
fn stdin_and_stdout_pass_a_binary_stream_through() {
    let data = binary_stream(4 << 20);
    for runner in [vec!["-r", "exec"], vec!["-r", "landrun", "-o", LANDRUN]] {
        let mut args = vec!["run"];
        args.extend(&runner);
        args.extend(["--", "cat"]);
        let mut child = Command::new(TOOL)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = data.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        writer.join().unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{runner:?}: {o:?}");
        assert!(out == data, "{runner:?}: the stream changed on the way");
    }
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_to_the_tool_ends_the_whole_tree() {
    for runner in [vec!["-r", "exec"], vec!["-r", "landrun", "-o", LANDRUN]] {
        let mut args = vec!["run"];
        args.extend(&runner);
        // The grandchild leaves the process group; its pid is read from
        // /proc so it is the host's.
        args.extend([
            "--",
            "/bin/sh",
            "-c",
            "setsid sleep 100 & sleep 0.2; echo ready; wait",
        ]);
        let mut child = Command::new(TOOL)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{runner:?}");
        let sleepers = descendants_named(child.id() as i32, "sleep");
        assert!(!sleepers.is_empty(), "{runner:?}: no sleep found");
        // SAFETY: signals our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::into_raw(status) >> 8,
            128 + libc::SIGTERM,
            "{runner:?}: {status:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while sleepers.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in &sleepers {
            assert!(!alive(*p), "{runner:?}: sleep {p} outlived the tool");
        }
    }
}

/// Host pids of the processes under `root` whose name is `name`.
fn descendants_named(root: i32, name: &str) -> Vec<i32> {
    let mut parents = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid: i32 = stat[close + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        parents.insert(pid, ppid);
        names.insert(pid, stat[open + 1..close].to_string());
    }
    let under = |mut p: i32| {
        while p > 1 {
            if p == root {
                return true;
            }
            p = *parents.get(&p).unwrap_or(&0);
        }
        false
    };
    names
        .iter()
        .filter(|(p, n)| n.as_str() == name && under(**p))
        .map(|(p, _)| *p)
        .collect()
}

// explain

/// A path of the program `name` in PATH, as the tool would find it.
fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// The host's mount points, as the firejail profile may name them.
fn host_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(str::to_string)
        .collect()
}

/// Replaces what differs from one machine or run to the next.
fn normalise(out: &str) -> String {
    let mounts = host_mounts();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines() {
        let mut l = line.to_string();
        // The caller's PATH, which the tool is given and passes on.
        if l.trim_start() == format!("PATH={path}") {
            l = l.replace(&path, "<caller's PATH>");
        }
        // firejail's read-only lines for the host's own mount points,
        // which differ from machine to machine.
        if let Some(p) = l.strip_prefix("  | read-only ") {
            if p != "/" && p != "/run" && mounts.iter().any(|m| m == p) {
                continue;
            }
        }
        for tool in ["firejail", "docker", "podman"] {
            if let Some(path) = which(tool) {
                l = l.replace(&path, &format!("<{tool}>"));
            }
        }
        // Container names and owner labels are new at each spawn.
        l = replace_token(&l, "--name=rr-", "<unique>");
        l = replace_token(&l, "container rr-", "<unique>");
        l = replace_token(&l, "io.restricted-runner.owner=", "<owner>");
        lines.push(l);
    }
    lines.join("\n") + "\n"
}

/// Replaces what follows `prefix` up to the next blank or comma.
fn replace_token(line: &str, prefix: &str, with: &str) -> String {
    match line.find(prefix) {
        Some(i) => {
            let start = i + prefix.len();
            let end = line[start..]
                .find([' ', ','])
                .map_or(line.len(), |e| start + e);
            format!("{}{with}{}", &line[..start], &line[end..])
        }
        None => line.to_string(),
    }
}

/// Runs explain with a fixed environment.
fn explain(args: &[&str]) -> Output {
    Command::new(TOOL)
        .arg("explain")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/home/rr-golden")
        .env("LANG", "C")
        .env("DOCKER_HOST", docker_host())
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn golden(name: &str, got: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("explain-{name}.txt"));
    if std::env::var_os("RR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == got,
        "{} differs; run `RR_BLESS=1 cargo test --release --test cli` if the change is meant.\n--- want\n{want}\n--- got\n{got}",
        path.display()
    );
}

/// The explain cases: name, then the arguments after `explain`. PATH is the
/// tool's own, so the wrapper paths are normalised; the environment is
/// cleared to PATH, HOME, LANG and DOCKER_HOST.
fn explain_cases() -> Vec<(&'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let docker = |engine: &str| {
        format!(
            r#"{{"image": "{}", "engine": "{engine}", "pull": "never", "mounts": ["/etc:/host-etc:ro"], "memory": "64m", "pids_limit": 32}}"#,
            image()
        )
    };
    vec![
        (
            "exec",
            s(&[
                "-r",
                "exec",
                "--cwd",
                "/",
                "-e",
                "GREETING=hi",
                "--",
                "echo",
                "a b",
                "c",
            ]),
        ),
        (
            "landrun",
            s(&[
                "-r",
                "landrun",
                "-o",
                r#"{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"], "allow_read_folders": ["{{ .conf }}"], "allow_write_files": ["/dev/full"], "max_open_files": 64, "max_processes": 16}"#,
                "-p",
                "conf=/etc",
                "-e",
                "GREETING=hi",
                "--",
                "ls",
                "/etc",
            ]),
        ),
        (
            "firejail",
            s(&[
                "-r",
                "firejail",
                "-o",
                r#"{"allow_read_folders": ["/etc"], "allow_write_folders": ["/srv/{{ .job }}"]}"#,
                "-p",
                "job=42",
                "--",
                "cat",
                "/etc/hostname",
            ]),
        ),
        (
            "docker-podman",
            vec![
                "-r".into(),
                "docker".into(),
                "-o".into(),
                docker("podman"),
                "-e".into(),
                "GREETING=hi".into(),
                "--".into(),
                "id".into(),
            ],
        ),
        (
            "docker-docker",
            vec![
                "-r".into(),
                "docker".into(),
                "-o".into(),
                docker("docker"),
                "--cwd".into(),
                "/tmp".into(),
                "--".into(),
                "sh".into(),
                "-c".into(),
                "id".into(),
            ],
        ),
        (
            "sandbox-exec",
            s(&[
                "-r",
                "sandbox-exec",
                "-o",
                r#"{"allow_write_folders": ["/tmp"]}"#,
                "--",
                "true",
            ]),
        ),
    ]
}

#[test]
fn explain_matches_the_golden_file_of_every_runner() {
    for (name, args) in explain_cases() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = explain(&args);
        assert!(o.status.success(), "{name}: {o:?}");
        golden(name, &normalise(&text(&o.stdout)));
    }
}

#[test]
fn explain_json_has_every_key_for_every_runner() {
    for (name, args) in explain_cases() {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.insert(0, "--json");
        let o = explain(&args);
        assert!(o.status.success(), "{name}: {o:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        for k in restricted_runner::explain::KEYS.iter().chain(&["notes"]) {
            assert!(v.get(*k).is_some(), "{name}: no {k} in {v}");
        }
        assert!(
            v["argv"].as_array().is_some_and(|a| !a.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn explain_runs_nothing_and_writes_nothing() {
    let marker = std::env::temp_dir().join(format!("rr-explain-marker-{}", std::process::id()));
    let before = profiles_in_tmp();
    let script = format!("touch {}", marker.display());
    for runner in [
        vec!["-r", "exec"],
        vec!["-r", "firejail"],
        vec!["-r", "landrun", "-o", LANDRUN],
    ] {
        let mut args = runner.clone();
        args.extend(["--", "/bin/sh", "-c", &script]);
        let o = explain(&args);
        assert!(o.status.success(), "{o:?}");
        assert!(
            text(&o.stdout).contains(&script),
            "the argv shows the script: {o:?}"
        );
    }
    assert!(!marker.exists(), "explain ran the command");
    assert_eq!(profiles_in_tmp(), before, "explain left a profile file");
}

fn profiles_in_tmp() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rr-firejail-"))
        .collect();
    v.sort();
    v
}

#[test]
fn explain_through_the_c_abi() {
    use restricted_runner::ffi::*;
    let kind = CString::new("landrun").unwrap();
    let opts = CString::new(LANDRUN).unwrap();
    let mut runner = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    // SAFETY: valid strings and out pointers.
    let rc = unsafe { rr_runner_new(kind.as_ptr(), opts.as_ptr(), &mut runner, &mut err) };
    assert_eq!(rc as u32, 0);
    let cmd = CString::new("ls").unwrap();
    let arg = CString::new("/usr").unwrap();
    let args = [arg.as_ptr(), std::ptr::null()];
    let env_entry = CString::new("GREETING=hi").unwrap();
    let env = [env_entry.as_ptr(), std::ptr::null()];
    let mut out = std::ptr::null_mut();
    // SAFETY: a live runner, NULL-terminated arrays, writable outputs.
    let rc = unsafe {
        rr_runner_explain(
            runner,
            cmd.as_ptr(),
            args.as_ptr(),
            env.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            &mut out,
            &mut err,
        )
    };
    assert_eq!(rc as u32, 0);
    // SAFETY: a string from the library, freed once below.
    let v: Value = serde_json::from_str(unsafe { CStr::from_ptr(out) }.to_str().unwrap()).unwrap();
    // SAFETY: as above.
    unsafe { rr_string_free(out) };
    assert_eq!(v["runner"], "landrun");
    assert_eq!(v["argv"], serde_json::json!(["ls", "/usr"]));
    assert!(v["environment"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hi"));
    assert!(v["landlock"]["abi"].is_number());

    // A param that is not given is the spawn's error, and nothing is written.
    let kind = CString::new("firejail").unwrap();
    let opts = CString::new(r#"{"allow_write_folders": ["/srv/{{ .job }}"]}"#).unwrap();
    let mut fj = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe { rr_runner_new_unchecked(kind.as_ptr(), opts.as_ptr(), &mut fj, &mut err) };
    assert_eq!(rc as u32, 0);
    let mut out2 = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe {
        rr_runner_explain(
            fj,
            cmd.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            &mut out2,
            &mut err,
        )
    };
    assert_ne!(rc as u32, 0);
    assert!(out2.is_null(), "the output is written only on success");
    // SAFETY: an error object from the failed call.
    let msg = unsafe { CStr::from_ptr(rr_error_message(err)) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains("job"), "{msg}");
    // SAFETY: frees what the library made.
    unsafe {
        rr_error_free(err);
        rr_runner_free(fj);
        rr_runner_free(runner);
    }
}

// doctor, gc, help

#[test]
fn doctor_json_says_what_works_and_what_each_runner_enforces() {
    let o = Command::new(TOOL)
        .args(["doctor", "--json", "--image", &image()])
        .env("DOCKER_HOST", docker_host())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["machine"]["landlock_abi"].as_i64().unwrap_or(0) >= 1,
        "{v}"
    );
    assert!(v["machine"]["namespaces"]
        .as_array()
        .is_some_and(|n| n.iter().any(|x| x == "pid")));
    let runners = v["runners"].as_array().unwrap();
    let labels: Vec<&str> = runners
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "exec",
            "landrun",
            "firejail",
            "docker (docker CLI)",
            "docker (podman CLI)",
            "sandbox-exec"
        ]
    );
    for r in runners {
        for k in [
            "runner",
            "label",
            "engine",
            "works",
            "error",
            "fix",
            "spawn_ms",
            "version",
            "enforces",
            "missing",
            "enforcement",
            "guarantees",
        ] {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
        let kind: restricted_runner::Kind = r["runner"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            r["guarantees"],
            serde_json::json!(restricted_runner::conformance::declaration(kind).blocks)
        );
        let works = r["label"] != "sandbox-exec";
        assert_eq!(r["works"], works, "{r}");
        if works {
            assert!(r["error"].is_null() && r["spawn_ms"].is_u64(), "{r}");
            assert!(r["enforcement"]["layers"].is_object(), "{r}");
        } else {
            assert!(r["error"].as_str().unwrap().contains("macOS"), "{r}");
            assert!(!r["fix"].as_str().unwrap().is_empty(), "{r}");
        }
    }
    let landrun = &runners[1];
    assert!(landrun["enforces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "landlock"));
    assert!(runners[2]["version"].as_str().unwrap().contains("firejail"));
    assert!(runners[4]["version"].as_str().unwrap().contains("podman"));
}

#[test]
fn doctor_says_why_and_how_to_fix_a_missing_tool() {
    // No firejail, docker nor podman in this PATH.
    let o = Command::new(TOOL)
        .args(["doctor", "--json", "--image", &image(), "--timeout", "5"])
        .env("PATH", "/nonexistent-rr-bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let firejail = &v["runners"][2];
    assert_eq!(firejail["works"], false);
    assert!(
        firejail["error"].as_str().unwrap().contains("firejail"),
        "{firejail}"
    );
    assert!(
        firejail["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install firejail"),
        "{firejail}"
    );
    let podman = &v["runners"][4];
    assert_eq!(podman["works"], false);
    assert!(
        podman["error"].as_str().unwrap().contains("podman"),
        "{podman}"
    );
}

#[test]
fn gc_prints_how_many_it_reclaimed() {
    let o = tool(&["gc"]);
    assert!(o.status.success(), "{o:?}");
    let out = text(&o.stdout);
    let n = out.trim().strip_prefix("reclaimed ").expect(&out);
    n.parse::<u32>().expect(&out);
}

#[test]
fn every_subcommand_has_a_man_style_help_with_an_example() {
    for sub in ["run", "explain", "doctor", "gc"] {
        let o = tool(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}: {o:?}");
        let help = text(&o.stdout);
        assert!(help.contains("EXAMPLES:"), "{sub}: {help}");
        assert!(
            help.contains(&format!("restricted-runner {sub}")),
            "{sub}: {help}"
        );
        assert!(help.contains("EXIT STATUS:"), "{sub}: {help}");
    }
    let o = tool(&["--version"]);
    assert_eq!(
        text(&o.stdout).trim(),
        format!("restricted-runner {}", env!("CARGO_PKG_VERSION"))
    );
}
