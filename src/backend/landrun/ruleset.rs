//! Turning a rule plan into a kernel Landlock ruleset, in the caller:
//! opening the paths and creating the ruleset both allocate, and the child
//! may only make the one `landlock_restrict_self` call. The ruleset is made
//! before the clone (the children need its fd), its rules are added while
//! the kernel makes the sandbox's namespaces.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use landlock::{
    CompatLevel, Compatible, NetPort, PathBeneath, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, ABI,
};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};

use super::rules::{PathRule, Plan};
use crate::error::{Error, ErrorKind, Result};
use crate::spawn::lift_above_stdio;

/// The Landlock ABI of the running kernel, asked of the kernel itself
/// (`/sys/kernel/security` is often not mounted). `Err` holds the errno
/// when Landlock is missing or disabled.
pub(crate) fn detect_abi() -> std::result::Result<ABI, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attribute, size 0 and the VERSION flag the call
    // only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        return Err(Errno::last());
    }
    match i32::try_from(v) {
        Ok(v) if v > 0 => Ok(ABI::from(v)),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// A created ruleset whose rules are still to be added (see [`begin`]).
pub(crate) struct Rules(RulesetCreated);

/// Creates the ruleset of `plan`, still empty, and a copy of its fd for the
/// sandbox (above stdio, which the command's process replaces): None when
/// the plan restricts nothing. The fd can go to a child before the rules
/// are added: both name the same kernel ruleset, which only the
/// `landlock_restrict_self` at the end of the spawn reads.
pub(crate) fn begin(plan: &Plan) -> Result<Option<(OwnedFd, Rules)>> {
    if plan.is_empty() {
        return Ok(None);
    }
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    if !plan.handled_fs.is_empty() {
        ruleset = ruleset
            .handle_access(plan.handled_fs)
            .map_err(landlock_error)?;
    }
    if !plan.handled_net.is_empty() {
        ruleset = ruleset
            .handle_access(plan.handled_net)
            .map_err(landlock_error)?;
    }
    if !plan.scopes.is_empty() {
        ruleset = ruleset.scope(plan.scopes).map_err(landlock_error)?;
    }
    let created = ruleset.create().map_err(landlock_error)?;
    let copy = created
        .try_clone()
        .map_err(|e| Error::from_io(ErrorKind::Spawn, "copying the Landlock ruleset's fd", &e))?;
    match Option::<OwnedFd>::from(copy) {
        Some(fd) => Ok(Some((lift_above_stdio(fd)?, Rules(created)))),
        None => Err(Error::requirements(
            "the kernel did not create a Landlock ruleset",
        )),
    }
}

impl Rules {
    /// Adds the rules of `plan`, with every path opened and checked except
    /// those `later` names (paths that only exist inside the sandbox's
    /// mount view, whose rules the sandbox adds itself). A missing path is
    /// an error naming its option, or skipped with `best_effort`; the
    /// always-allowed devices are skipped when missing.
    pub(crate) fn add(
        self,
        plan: &Plan,
        best_effort: bool,
        later: impl Fn(&Path) -> bool,
    ) -> Result<()> {
        let mut created = self.0;
        for rule in plan.paths.iter().filter(|r| !later(&r.path)) {
            let Some(fd) = open_rule_path(rule, best_effort)? else {
                continue;
            };
            created = created
                .add_rule(PathBeneath::new(fd, rule.access))
                .map_err(landlock_error)?;
        }
        for (port, access) in &plan.ports {
            created = created
                .add_rule(NetPort::new(*port, *access))
                .map_err(landlock_error)?;
        }
        Ok(())
    }
}

/// Checks, without opening anything for long, that `path` exists and is of
/// the kind `rule` needs; the error names the option and the path.
pub(crate) fn check_path(rule: &PathRule) -> Result<()> {
    open_checked(rule).map(drop)
}

fn open_rule_path(rule: &PathRule, best_effort: bool) -> Result<Option<OwnedFd>> {
    match open_checked(rule) {
        Ok(fd) => Ok(Some(fd)),
        Err(e)
            if e.raw_os_error() == Some(libc::ENOENT)
                && (best_effort || rule.grant.wants_folder().is_none()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn open_checked(rule: &PathRule) -> Result<OwnedFd> {
    let path: &Path = &rule.path;
    let origin = rule.grant.origin();
    let fd =
        nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
            let what = if e == Errno::ENOENT {
                "does not exist".to_string()
            } else {
                format!("cannot be opened ({})", io::Error::from(e))
            };
            Error::from_errno(
                ErrorKind::InvalidOptions,
                format!("option {origin:?}: {} {what}", path.display()),
                e,
            )
        })?;
    let st = fstat(fd.as_fd())
        .map_err(|e| Error::from_errno(ErrorKind::Io, format!("checking {}", path.display()), e))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
    match rule.grant.wants_folder() {
        Some(true) if !is_dir => Err(Error::invalid_options(format!(
            "option {origin:?}: {} is not a folder (single files go in allow_read_files or allow_write_files)",
            path.display()
        ))),
        Some(false) if is_dir => Err(Error::invalid_options(format!(
            "option {origin:?}: {} is a folder (folders go in the allow_*_folders options)",
            path.display()
        ))),
        _ => Ok(fd),
    }
}

fn landlock_error(e: RulesetError) -> Error {
    Error::new(
        ErrorKind::Spawn,
        format!("building the Landlock ruleset: {e}"),
    )
}
