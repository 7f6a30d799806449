//! `restricted-runner run`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use restricted_runner::{Command, ExitStatus, Params, Runner, Stdio};

use crate::{fail, inline_or_file, key_value, EXIT_LIBRARY, EXIT_TIMEOUT};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The runner: exec, landrun (landlock), firejail, docker, sandbox-exec.
    #[arg(long, short = 'r', value_name = "KIND")]
    runner: String,
    /// The runner's options: a JSON object, or @FILE holding one.
    #[arg(long, short = 'o', value_name = "JSON|@FILE", value_parser = inline_or_file)]
    options: Option<String>,
    /// A param for the options' {{ .name }} placeholders (repeatable).
    #[arg(long = "param", short = 'p', value_name = "K=V", value_parser = key_value)]
    params: Vec<(String, String)>,
    /// An environment variable for the command (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// Kill the whole tree after this many seconds (exit status 124).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Print what the spawn enforced (JSON) on stderr before it runs.
    #[arg(long)]
    show_enforcement: bool,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM ARGS")]
    command: Vec<OsString>,
}

pub(crate) fn main(args: Args) -> ExitCode {
    let runner = match Runner::new(&args.runner, args.options.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut params = Params::new();
    for (k, v) in args.params {
        params.insert(k, v);
    }
    let mut cmd = Command::new(&args.command[0])
        .args(&args.command[1..])
        .params(params)
        .stdio(Stdio::Inherit, Stdio::Inherit, Stdio::Inherit);
    for (k, v) in args.env {
        cmd = cmd.env(k, v);
    }
    // Terminal and termination signals are ours to forward to the tree: a
    // thread waits for them (sigwait) while this one waits for the command.
    let mut signals = SigSet::empty();
    for sig in FORWARDED.iter().chain([&Signal::SIGUSR2]) {
        signals.add(*sig);
    }
    if let Err(e) = signals.thread_block() {
        eprintln!("restricted-runner: blocking signals: {e}");
        return ExitCode::from(EXIT_LIBRARY);
    }
    let process = match runner.spawn(&cmd) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if args.show_enforcement {
        if let Some(e) = process.enforcement() {
            eprintln!("{e}");
        }
    }
    let deadline = args
        .timeout
        .filter(|t| *t > 0.0)
        .map(|t| Instant::now() + Duration::from_secs_f64(t));
    let done = AtomicBool::new(false);
    let waited = std::thread::scope(|scope| {
        scope.spawn(|| loop {
            match signals.wait() {
                Ok(Signal::SIGUSR2) if done.load(Ordering::SeqCst) => return,
                Ok(sig) if FORWARDED.contains(&sig) => {
                    let _ = process.kill(sig as i32);
                }
                _ => {}
            }
        });
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let exited = process.wait_exit(left);
        let timed_out = matches!(exited, Ok(false));
        if timed_out {
            let _ = process.kill(libc::SIGKILL);
        }
        done.store(true, Ordering::SeqCst);
        // Wakes the signal thread, which then ends.
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGUSR2);
        exited.map(|_| timed_out)
    });
    let timed_out = match waited {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    match process.wait() {
        Ok(_) if timed_out => ExitCode::from(EXIT_TIMEOUT),
        Ok(ExitStatus::Exited(c)) => ExitCode::from(c as u8),
        Ok(ExitStatus::Signaled(s)) => ExitCode::from(128 + s as u8),
        Err(e) => fail(&e),
    }
}

/// The signals a shell would send the command: passed on to its tree.
const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];
