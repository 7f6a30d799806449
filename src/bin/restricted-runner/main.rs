//! `restricted-runner`: run a command under any runner of the library, from
//! a shell.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod doctor;
mod explain;
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
    /// stderr, and exit with its status.
    ///
    /// The runner is built from --runner and --options (the library's
    /// option keys, strictly checked) and its requirements are checked; the
    /// command gets the caller's environment plus each --env (under docker:
    /// the image's plus each --env). Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are
    /// passed on to the whole tree; when the command ends, whatever it left
    /// running is killed and every profile file and container the spawn
    /// made is removed.
    #[command(after_long_help = RUN_HELP)]
    Run(run::Args),
    /// Print what `run` with the same arguments would do, without running
    /// anything or writing any file.
    ///
    /// Shows the argv that would be executed, element by element (firejail's
    /// or the engine CLI's for those runners), the rendered firejail
    /// profile, the Landlock rules, namespaces, mounts, seccomp baseline,
    /// limits and the environment the command would get, rendered by the
    /// code a spawn uses. The runner's requirements are not checked: what
    /// would make the spawn fail is listed as a note. --json prints one
    /// object of the same shape for every runner (the C call
    /// rr_runner_explain gives the same).
    #[command(after_long_help = EXPLAIN_HELP)]
    Explain(explain::Args),
    /// Tell, for each runner, whether it works on this machine and what it
    /// enforces here.
    ///
    /// Each runner is tried with a real short spawn of `true`, bounded by
    /// --timeout, and that spawn's enforcement report says what was
    /// enforced: Landlock ABI, namespaces, seccomp, capabilities, cgroup
    /// containment, limits; firejail's and the engines' versions come from
    /// the tools. For a runner that does not work, the library's error says
    /// why and a line says what would fix it. Each runner also lists the
    /// escapes it guarantees to block (docs/conformance.md). The docker
    /// runner is tried through the docker and the podman CLI with the local
    /// image --image names (never pulled).
    #[command(after_long_help = DOCTOR_HELP)]
    Doctor(doctor::Args),
    /// Reclaim what callers that died left behind.
    ///
    /// Kills their commands' leftover processes and removes their
    /// containers, profile files, cgroups and records. Spawns of live
    /// callers are never touched; several gc may run at once. Prints how
    /// many spawns were reclaimed.
    #[command(after_long_help = GC_HELP)]
    Gc,
}

const RUN_HELP: &str = "\
EXIT STATUS:
  The command's own status; 128+N when signal N ended it (as shells do).
  124  the --timeout passed (the tree was killed)
  125  an error of the library or a bad argument (one line names the
       option key, param, path or missing program)
  127  the command was not found

EXAMPLES:
  restricted-runner run --runner landrun \\
    --options '{\"allow_read_exec_folders\": [\"/usr\", \"/bin\", \"/lib\", \"/lib64\"]}' \\
    -- ls /usr

  restricted-runner run -r firejail -o @policy.json -p workdir=/srv/job \\
    --timeout 30 -- make test
";

const EXPLAIN_HELP: &str = "\
EXIT STATUS:
  0 once explained; 125 for a bad option, param or argument; 127 when the
  command is not found.

EXAMPLES:
  restricted-runner explain --runner firejail \\
    --options '{\"allow_write_folders\": [\"/srv/job\"]}' -- make test

  restricted-runner explain --json -r docker \\
    -o '{\"image\": \"alpine\", \"pull\": \"never\"}' -- sh -c 'id'
";

const DOCTOR_HELP: &str = "\
EXIT STATUS:
  0; runners that do not work here are findings, not errors.

EXAMPLES:
  restricted-runner doctor
  restricted-runner doctor --json --image localhost/rr-test:latest
";

const GC_HELP: &str = "\
EXIT STATUS:
  0, or 125 when the records cannot be read.

EXAMPLES:
  restricted-runner gc
";

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
        Command::Explain(args) => explain::main(args),
        Command::Doctor(args) => doctor::main(args),
        Command::Gc => match restricted_runner::gc() {
            Ok(n) => {
                println!("reclaimed {n}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}
