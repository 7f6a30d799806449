//! The `sandbox-exec` runner (macOS Seatbelt): each spawn renders a profile
//! from the options and params, writes it to a private temporary file and
//! runs `sandbox-exec -f FILE /abs/program args...`; the file is removed when
//! the process is reaped. Elsewhere the runner reports that it needs macOS.

mod profile;

use std::ffi::OsString;

use crate::backend::profile_file::ProfileOptions;
#[cfg(not(target_os = "macos"))]
use crate::backend::{host_shell, Backend};
#[cfg(not(target_os = "macos"))]
use crate::error::Error;
use crate::error::Result;
use crate::explain::Explanation;
#[cfg(not(target_os = "macos"))]
use crate::process::Process;
use crate::runner::Command;

#[derive(Debug)]
pub(crate) struct SandboxExec {
    options: ProfileOptions,
}

impl SandboxExec {
    pub(crate) fn new(options_json: Option<&str>) -> Result<Self> {
        Ok(SandboxExec {
            options: ProfileOptions::parse("sandbox-exec", options_json, &[], profile::check_path)?,
        })
    }

    /// The profile text for `command`, whose environment is `vars`.
    fn render(&self, command: &Command, vars: &[(OsString, OsString)]) -> Result<String> {
        if let Some(custom) = &self.options.custom_profile {
            return Ok(custom.clone());
        }
        let paths = self
            .options
            .render_paths(&command.params, profile::check_path)?;
        // The command's HOME, else the caller's: an environment without
        // HOME (inherit_env: false) must not leave the user folders open.
        let caller_home = std::env::var("HOME").ok();
        let home = vars
            .iter()
            .rev()
            .find(|(k, _)| k == "HOME")
            .and_then(|(_, v)| v.to_str())
            .or(caller_home.as_deref());
        let settings = profile::Settings {
            allow_networking: self.options.allow_networking,
            allow_user_folders: self.options.allow_user_folders,
        };
        profile::render(settings, &paths, home)
    }
}

impl SandboxExec {
    /// What a spawn would run: `sandbox-exec -f PROFILE program args...`,
    /// the profile rendered as the spawn would.
    fn explanation(&self, command: &Command) -> Result<Explanation> {
        let (cwd, host) = crate::backend::resolve_command(command, &self.options.env)?;
        let text = self.render(command, &host.vars)?;
        let profile = std::env::temp_dir().join("rr-sandbox-exec-XXXXXX.sb");
        let mut argv: Vec<OsString> = vec![
            "/usr/bin/sandbox-exec".into(),
            "-f".into(),
            profile.into_os_string(),
            host.path.clone().into_os_string(),
        ];
        argv.extend(command.args.iter().cloned());
        Ok(Explanation::new("sandbox-exec")
            .argv(host.path.as_os_str(), &argv)
            .set(
                "working_folder",
                serde_json::json!(cwd.as_deref().map(|d| crate::explain::text(d.as_os_str()))),
            )
            .set("profile", serde_json::json!(text))
            .set("capabilities", serde_json::json!("the caller's"))
            .set(
                "network",
                serde_json::json!(if self.options.allow_networking {
                    "the host's"
                } else {
                    "denied by the profile"
                }),
            )
            .set("containment", serde_json::json!("its process group"))
            .environment(&host.vars)
            .note("the profile is written to a private temporary file and removed when the process is reaped"))
    }
}

#[cfg(not(target_os = "macos"))]
fn needs_macos() -> Error {
    Error::requirements(format!(
        "the sandbox-exec runner needs macOS (it runs commands under Seatbelt's sandbox-exec); \
         this system is {}: use the firejail or landrun runner on Linux",
        std::env::consts::OS
    ))
}

#[cfg(not(target_os = "macos"))]
impl Backend for SandboxExec {
    fn check_requirements(&self) -> Result<()> {
        Err(needs_macos())
    }

    fn default_shell(&self) -> OsString {
        host_shell(self.options.shell.as_deref())
    }

    fn env_policy(&self) -> &crate::env::EnvPolicy {
        &self.options.env
    }

    fn spawn(&self, _command: &Command) -> Result<Process> {
        Err(needs_macos())
    }

    fn explain(&self, command: &Command) -> Result<Explanation> {
        self.explanation(command)
            .map(|e| e.note("sandbox-exec exists on macOS only: a spawn here would fail"))
    }
}

#[cfg(target_os = "macos")]
mod macos {
    use std::ffi::{OsStr, OsString};

    use super::SandboxExec;
    use crate::backend::profile_file::ProfileFile;
    use crate::backend::{host_shell, resolve_command, Backend};
    use crate::error::{Error, Result};
    use crate::process::Process;
    use crate::runner::Command;
    use crate::spawn::Program;

    const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

    impl Backend for SandboxExec {
        fn check_requirements(&self) -> Result<()> {
            if std::path::Path::new(SANDBOX_EXEC).exists() {
                Ok(())
            } else {
                Err(Error::requirements(format!(
                    "the sandbox-exec runner needs {SANDBOX_EXEC}, which this macOS lacks"
                )))
            }
        }

        fn default_shell(&self) -> OsString {
            host_shell(self.options.shell.as_deref())
        }

        fn explain(&self, command: &Command) -> Result<crate::explain::Explanation> {
            self.explanation(command)
        }

        fn env_policy(&self) -> &crate::env::EnvPolicy {
            &self.options.env
        }

        fn spawn(&self, command: &Command) -> Result<Process> {
            let (cwd, host) = resolve_command(command, &self.options.env)?;
            let text = self.render(command, &host.vars)?;
            let file = ProfileFile::write("rr-sandbox-exec-", ".sb", &text)?;
            let mut p = Program::new(SANDBOX_EXEC.as_ref(), OsStr::new("sandbox-exec"))?;
            p.arg("-f")?
                .arg(file.path())?
                .arg(&host.path)?
                .args(&command.args)?
                .env(&host.vars)?
                .cwd(cwd.as_deref())?
                .stdio(command.stdio);
            let spawned = p.spawn()?;
            Ok(Process::new(spawned, Box::new(file)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn needs_macos_elsewhere() {
        let r = SandboxExec::new(Some(r#"{"allow_networking": true}"#)).unwrap();
        let e = r.check_requirements().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Requirements);
        assert!(e.message().contains("needs macOS"), "{e}");
    }

    #[test]
    fn renders_per_spawn_with_params_and_custom_profile() {
        let r = SandboxExec::new(Some(
            r#"{"allow_write_folders": ["/data/{{ .user }}"], "allow_user_folders": true}"#,
        ))
        .unwrap();
        let mut params = crate::template::Params::new();
        params.insert("user", "ann");
        let cmd = Command::new("true").params(params);
        let out = r.render(&cmd, &[]).unwrap();
        assert!(
            out.contains("(allow file-write* (subpath \"/data/ann\"))\n"),
            "{out}"
        );
        let e = r.render(&Command::new("true"), &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("\"user\""), "{e}");

        let r =
            SandboxExec::new(Some(r#"{"custom_profile": "(version 1)\n(deny default)"}"#)).unwrap();
        assert_eq!(
            r.render(&Command::new("true"), &[]).unwrap(),
            "(version 1)\n(deny default)"
        );
    }

    #[test]
    fn bad_literal_paths_fail_when_built() {
        let e = SandboxExec::new(Some(r#"{"allow_read_folders": ["relative"]}"#)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("\"allow_read_folders\""), "{e}");
        assert!(e.message().contains("\"relative\""), "{e}");
    }
}
