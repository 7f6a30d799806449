//! Per-spawn attributes: how a process is started, as opposed to what runs
//! (program, arguments, environment) and how the runner confines it. In the
//! spirit of `posix_spawnattr_t`: one object that grows a setting at a time
//! (the working folder, whether the wait measures what the run cost)
//! without another spawn function each time.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Settings of one spawn that are neither the command nor the runner's
/// options. The default is what a spawn without attributes does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpawnAttrs {
    cwd: Option<PathBuf>,
    /// Set when the wait need not measure what the run cost.
    no_usage: bool,
}

impl SpawnAttrs {
    /// Attributes with every setting at its default.
    pub fn new() -> Self {
        SpawnAttrs::default()
    }

    /// Sets the folder the command starts in (`None`: the caller's current
    /// folder). A relative path is taken from the caller's current folder
    /// at spawn time. For the `docker` runner it is a path inside the
    /// container, and must be absolute.
    pub fn set_cwd(&mut self, cwd: Option<impl Into<PathBuf>>) -> &mut Self {
        self.cwd = cwd.map(Into::into);
        self
    }

    /// The folder the command starts in, as given.
    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// Sets whether the wait measures what the run cost (on by default):
    /// [`WaitResult::usage`](crate::WaitResult::usage), the CPU times and
    /// the peak memory. A caller that never reads them may turn it off; it
    /// is then `None`, and the `exec` runner does not read the CPU
    /// counters of the command's cgroup at the wait.
    pub fn set_measure_usage(&mut self, measure: bool) -> &mut Self {
        self.no_usage = !measure;
        self
    }

    /// Whether the wait measures what the run cost.
    pub fn measures_usage(&self) -> bool {
        !self.no_usage
    }

    /// The working folder on the host for this spawn: absolute (a relative
    /// one is resolved against the caller's current folder now), and an
    /// existing folder, else an error naming it.
    pub(crate) fn host_cwd(&self) -> Result<Option<PathBuf>> {
        let Some(cwd) = &self.cwd else {
            return Ok(None);
        };
        let abs = if cwd.is_absolute() {
            cwd.clone()
        } else {
            let here = std::env::current_dir().map_err(|e| {
                Error::from_io(
                    ErrorKind::Spawn,
                    format!("resolving the working folder {cwd:?} against the current folder"),
                    &e,
                )
            })?;
            here.join(cwd)
        };
        check_folder(&abs)?;
        Ok(Some(abs))
    }
}

/// Checks that `dir` is an existing folder (symlinks followed).
pub(crate) fn check_folder(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::from_errno(
            ErrorKind::Spawn,
            format!("working folder {dir:?}"),
            nix::errno::Errno::ENOTDIR,
        )),
        Err(e) => Err(Error::from_io(
            ErrorKind::Spawn,
            format!("working folder {dir:?}"),
            &e,
        )),
    }
}

/// `program` as the host must look it up when the command starts in `cwd`:
/// a relative path with a slash names a file under `cwd`, as `execve` after
/// a `chdir` would take it (and as Python's `subprocess` does); a bare name
/// is still searched in PATH.
pub(crate) fn program_in(program: &std::ffi::OsStr, cwd: Option<&Path>) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    match cwd {
        Some(dir) if program.as_bytes().contains(&b'/') && !Path::new(program).is_absolute() => {
            dir.join(program).into_os_string()
        }
        _ => program.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn relative_folders_resolve_against_the_current_folder() {
        let mut a = SpawnAttrs::new();
        assert_eq!(a.host_cwd().unwrap(), None);
        a.set_cwd(Some("src"));
        let got = a.host_cwd().unwrap().unwrap();
        assert!(got.is_absolute());
        assert_eq!(got, std::env::current_dir().unwrap().join("src"));
    }

    #[test]
    fn missing_folders_and_files_are_errors_naming_them() {
        let mut a = SpawnAttrs::new();
        a.set_cwd(Some("/rr-no-such-folder"));
        let e = a.host_cwd().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Spawn);
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(e.message().contains("/rr-no-such-folder"), "{e}");
        a.set_cwd(Some("/etc/passwd"));
        let e = a.host_cwd().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn relative_programs_with_a_slash_are_taken_from_the_folder() {
        let dir = Some(Path::new("/srv/w"));
        assert_eq!(program_in(OsStr::new("./t"), dir), "/srv/w/./t");
        assert_eq!(program_in(OsStr::new("bin/t"), dir), "/srv/w/bin/t");
        assert_eq!(program_in(OsStr::new("t"), dir), "t");
        assert_eq!(program_in(OsStr::new("/bin/t"), dir), "/bin/t");
        assert_eq!(program_in(OsStr::new("./t"), None), "./t");
    }
}
