//! `restricted-runner run`.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
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
    // Terminal and termination signals are ours to forward to the tree.
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        signals.add(s);
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
    let sfd = match SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("restricted-runner: signalfd: {e}");
            let _ = process.kill(libc::SIGKILL);
            let _ = process.wait();
            return ExitCode::from(EXIT_LIBRARY);
        }
    };
    let deadline = args
        .timeout
        .filter(|t| *t > 0.0)
        .map(|t| Instant::now() + Duration::from_secs_f64(t));
    let mut timed_out = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            timed_out = true;
            let _ = process.kill(libc::SIGKILL);
            break;
        }
        match process.wait_exit(Some(
            left.unwrap_or(Duration::from_millis(200))
                .min(Duration::from_millis(200)),
        )) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return fail(&e),
        }
        let mut fds = [nix::poll::PollFd::new(
            sfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap_or(0) > 0 {
            if let Ok(Some(info)) = sfd.read_signal() {
                let _ = process.kill(info.ssi_signo as i32);
            }
        }
    }
    match process.wait() {
        Ok(_) if timed_out => ExitCode::from(EXIT_TIMEOUT),
        Ok(ExitStatus::Exited(c)) => ExitCode::from(c as u8),
        Ok(ExitStatus::Signaled(s)) => ExitCode::from(128 + s as u8),
        Err(e) => fail(&e),
    }
}
