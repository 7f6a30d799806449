//! What the profile-based runners (`firejail`, `sandbox-exec`) share: their
//! options, the checks every path goes through before it reaches a profile,
//! and the private temporary file a rendered profile lives in while its
//! process runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::env::EnvPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, TemplatedValue};
use crate::process::SpawnGuard;
use crate::template::Params;

/// Option keys both profile-based runners take: go-restricted-runner's,
/// then the environment keys.
pub(crate) const KEYS: &[&str] = &[
    "shell",
    "allow_networking",
    "allow_user_folders",
    "allow_read_folders",
    "allow_write_folders",
    "allow_read_files",
    "allow_write_files",
    "custom_profile",
    "inherit_env",
    "pass_env",
];

/// The options of a profile-based runner, as parsed once when the runner is
/// built; paths keep their `{{ .name }}` params until a spawn renders them.
#[derive(Debug, Clone)]
pub(crate) struct ProfileOptions {
    pub(crate) shell: Option<String>,
    pub(crate) allow_networking: bool,
    pub(crate) allow_user_folders: bool,
    /// Only firejail takes this key (its extra key); false elsewhere.
    pub(crate) allow_unix_sockets: bool,
    read_folders: Vec<TemplatedValue>,
    write_folders: Vec<TemplatedValue>,
    read_files: Vec<TemplatedValue>,
    write_files: Vec<TemplatedValue>,
    pub(crate) custom_profile: Option<String>,
    pub(crate) env: EnvPolicy,
}

/// The paths of one spawn, params filled in and checked by the runner's
/// profile language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PathLists {
    pub(crate) read_folders: Vec<String>,
    pub(crate) write_folders: Vec<String>,
    pub(crate) read_files: Vec<String>,
    pub(crate) write_files: Vec<String>,
}

impl ProfileOptions {
    /// Parses the options of the runner `kind`, whose keys are `keys`.
    /// Paths without params are checked with `check` at once, so a bad
    /// literal path fails when the runner is built rather than at its first
    /// spawn.
    /// Parses `json` for a runner that takes [`KEYS`] and `extra_keys`.
    pub(crate) fn parse(
        kind: &'static str,
        json: Option<&str>,
        extra_keys: &[&str],
        check: fn(&'static str, &str) -> Result<String>,
    ) -> Result<Self> {
        let keys: Vec<&str> = KEYS.iter().chain(extra_keys).copied().collect();
        let mut o = Options::parse(kind, json, &keys)?;
        let opts = ProfileOptions {
            shell: o.string("shell")?,
            allow_networking: o.bool("allow_networking")?.unwrap_or(false),
            allow_user_folders: o.bool("allow_user_folders")?.unwrap_or(false),
            allow_unix_sockets: o.bool("allow_unix_sockets")?.unwrap_or(false),
            read_folders: o.template_list("allow_read_folders")?,
            write_folders: o.template_list("allow_write_folders")?,
            read_files: o.template_list("allow_read_files")?,
            write_files: o.template_list("allow_write_files")?,
            custom_profile: o.string("custom_profile")?.filter(|s| !s.is_empty()),
            env: EnvPolicy::parse(&mut o)?,
        };
        for v in opts.all_values() {
            if v.is_literal() {
                check(v.key(), &v.render(&Params::new())?)?;
            }
        }
        Ok(opts)
    }

    fn all_values(&self) -> impl Iterator<Item = &TemplatedValue> {
        self.read_folders
            .iter()
            .chain(&self.write_folders)
            .chain(&self.read_files)
            .chain(&self.write_files)
    }

    /// Fills in `params` and checks every resulting path with `check`,
    /// leaving the options untouched.
    pub(crate) fn render_paths(
        &self,
        params: &Params,
        check: fn(&'static str, &str) -> Result<String>,
    ) -> Result<PathLists> {
        let render = |list: &[TemplatedValue]| -> Result<Vec<String>> {
            list.iter()
                .map(|v| {
                    check(v.key(), &v.render(params)?).map_err(|e| {
                        Error::new(e.kind(), format!("{}{}", e.message(), v.params_named()))
                    })
                })
                .collect()
        };
        Ok(PathLists {
            read_folders: render(&self.read_folders)?,
            write_folders: render(&self.write_folders)?,
            read_files: render(&self.read_files)?,
            write_files: render(&self.write_files)?,
        })
    }
}

/// The checks every profile language needs: a non-empty absolute path with no
/// control character (a newline would start a new directive, a NUL would cut
/// the path short) and no `..` component (which would make the path say one
/// thing and mean another). Returns the path without trailing slashes.
pub(crate) fn check_common(key: &str, path: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(Error::invalid_options(format!(
            "option {key:?}: path {path:?} {why}"
        )))
    };
    if path.is_empty() {
        return bad("is empty");
    }
    if !path.starts_with('/') {
        return bad("is relative; give an absolute path");
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return bad(&format!("contains the control character {c:?}"));
    }
    if path.split('/').any(|c| c == "..") {
        return bad("has a \"..\" component");
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

/// The guard of a spawn whose profile was written to a temporary file: the
/// file is removed after the process was reaped, on every path.
#[derive(Debug)]
pub(crate) struct ProfileFile {
    path: Option<TempPath>,
}

impl ProfileFile {
    /// Writes `text` to a new file in the temporary directory, named with
    /// `prefix` and readable and writable by its owner only.
    pub(crate) fn write(prefix: &str, suffix: &str, text: &str) -> Result<Self> {
        let dir = std::env::temp_dir();
        let io_err = |what: &str, e: &std::io::Error| {
            Error::from_io(
                ErrorKind::Io,
                format!("{what} a profile file in {}", dir.display()),
                e,
            )
        };
        // tempfile creates the file with O_EXCL and mode 0600.
        let mut file = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(&dir)
            .map_err(|e| io_err("creating", &e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| io_err("writing", &e))?;
        Ok(ProfileFile {
            path: Some(file.into_temp_path()),
        })
    }

    /// Where the profile is.
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
}

impl SpawnGuard for ProfileFile {
    fn cleanup(&mut self) -> Result<()> {
        match self.path.take() {
            Some(p) => {
                let shown: PathBuf = p.to_path_buf();
                p.close().map_err(|e| {
                    Error::from_io(
                        ErrorKind::Io,
                        format!("removing the profile file {}", shown.display()),
                        &e,
                    )
                })
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_checks_name_key_and_path() {
        for (bad, why) in [
            ("", "is empty"),
            ("rel/dir", "is relative"),
            ("/a\nb", "control character"),
            ("/a\0b", "control character"),
            ("/a/../etc", "\"..\" component"),
        ] {
            let e = check_common("allow_read_folders", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions);
            assert!(e.message().contains("\"allow_read_folders\""), "{e}");
            assert!(e.message().contains(why), "{bad:?}: {e}");
        }
        assert_eq!(check_common("k", "/a/b//").unwrap(), "/a/b");
        assert_eq!(check_common("k", "///").unwrap(), "/");
        assert_eq!(check_common("k", "/a..b").unwrap(), "/a..b");
    }

    #[test]
    fn profile_file_is_private_and_removed_by_cleanup() {
        use std::os::unix::fs::PermissionsExt;
        let mut f = ProfileFile::write("rr-unit-", ".profile", "net none\n").unwrap();
        let path = f.path().to_path_buf();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("rr-unit-"));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "net none\n");
        f.cleanup().unwrap();
        assert!(!path.exists());
        // A second cleanup has nothing left to do.
        f.cleanup().unwrap();
    }

    #[test]
    fn dropping_an_unused_profile_file_removes_it() {
        let f = ProfileFile::write("rr-unit-", ".profile", "x").unwrap();
        let path = f.path().to_path_buf();
        drop(f);
        assert!(!path.exists());
    }
}
