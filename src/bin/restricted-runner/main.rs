//! `restricted-runner`: run a command under any runner of the library, from
//! a shell.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod run;

/// Run commands in a restricted environment (exec, firejail, sandbox-exec,
/// docker/podman, landrun).
#[derive(Debug, Parser)]
#[command(name = "restricted-runner", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run PROGRAM under a runner, with this terminal's stdin, stdout and
    /// stderr, and exit with its status (128+N when signal N ended it).
    ///
    /// Library errors print one line and exit 125 (127: command not found);
    /// a timeout exits 124. Ctrl-C, SIGTERM and SIGHUP end the whole tree.
    ///
    /// Example:
    ///   restricted-runner run --runner landrun \
    ///     --options '{"allow_read_exec_folders": ["/usr", "/bin", "/lib", "/lib64"]}' \
    ///     -- ls /usr
    Run(run::Args),
    /// Reclaim what callers that died left behind: kill their commands'
    /// leftover processes, remove their containers, profile files, cgroups
    /// and records. Spawns of live callers are never touched.
    ///
    /// Prints how many spawns were reclaimed.
    ///
    /// Example:
    ///   restricted-runner gc
    Gc,
}

/// Exit status for an error of the library (as `env` and `timeout` use).
pub(crate) const EXIT_LIBRARY: u8 = 125;
/// Exit status when the command does not exist.
pub(crate) const EXIT_NOT_FOUND: u8 = 127;
/// Exit status on timeout (as `timeout` uses).
pub(crate) const EXIT_TIMEOUT: u8 = 124;

/// Prints a library error on one line and gives its exit status.
pub(crate) fn fail(e: &restricted_runner::Error) -> ExitCode {
    eprintln!("restricted-runner: {e}");
    ExitCode::from(match e.kind() {
        restricted_runner::ErrorKind::CommandNotFound => EXIT_NOT_FOUND,
        restricted_runner::ErrorKind::Timeout => EXIT_TIMEOUT,
        _ => EXIT_LIBRARY,
    })
}

/// `KEY=VALUE` as a pair.
pub(crate) fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// JSON given inline or as `@FILE`.
pub(crate) fn inline_or_file(s: &str) -> Result<String, String> {
    match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}")),
        None => Ok(s.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os().collect::<Vec<OsString>>()) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_LIBRARY } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Gc => match restricted_runner::gc() {
            Ok(n) => {
                println!("reclaimed {n}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}
