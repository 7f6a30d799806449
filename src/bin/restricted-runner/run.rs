//! `restricted-runner run`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use restricted_runner::{Command, ExitStatus, Params, Runner, Stdio};

use crate::{fail, inline_or_file, key_value, EXIT_LIBRARY, EXIT_TIMEOUT};

/// What `run` and `explain` share: the runner and the command.
#[derive(Debug, clap::Args)]
pub(crate) struct Spawn {
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
    /// The folder the command starts in (for docker: a path in the container).
    #[arg(long, value_name = "DIR")]
    cwd: Option<std::path::PathBuf>,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM ARGS")]
    command: Vec<OsString>,
}

impl Spawn {
    /// The runner, built from the options without checking requirements
    /// when `checked` is false.
    pub(crate) fn runner(&self, checked: bool) -> restricted_runner::Result<Runner> {
        if checked {
            Runner::new(&self.runner, self.options.as_deref())
        } else {
            Runner::new_unchecked(&self.runner, self.options.as_deref())
        }
    }

    /// The command, its stdio this process's own.
    pub(crate) fn command(&self) -> Command {
        let mut params = Params::new();
        for (k, v) in &self.params {
            params.insert(k.clone(), v.clone());
        }
        let mut cmd = Command::new(&self.command[0])
            .args(&self.command[1..])
            .params(params)
            .stdio(Stdio::Inherit, Stdio::Inherit, Stdio::Inherit);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd = cmd.cwd(dir);
        }
        cmd
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    spawn: Spawn,
    /// Kill the whole tree after this many seconds (exit status 124).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Print what the spawn enforced (JSON, one line) on stderr as it starts.
    #[arg(long)]
    show_enforcement: bool,
}

pub(crate) fn main(args: Args) -> ExitCode {
    let runner = match args.spawn.runner(true) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let cmd = args.spawn.command();
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
            // One write: the command is running and may write to the same
            // stderr; a write of up to a pipe's atomic size stays one line.
            let line = format!("{e}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
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
