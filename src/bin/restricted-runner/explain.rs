//! `restricted-runner explain`.

use std::process::ExitCode;

use crate::fail;
use crate::run::Spawn;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    spawn: Spawn,
    /// Print the explanation as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(args: Args) -> ExitCode {
    // The requirements are not checked: explaining a firejail spawn on a
    // machine without firejail still shows what it would do.
    let runner = match args.spawn.runner(false) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    match runner.explain(&args.spawn.command()) {
        Ok(e) if args.json => {
            println!("{}", e.to_json());
            ExitCode::SUCCESS
        }
        Ok(e) => {
            print!("{e}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
