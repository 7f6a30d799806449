//! The namespace layer: which namespaces a spawn gets, and the mount view
//! the command sees in its own mount namespace.
//!
//! The view is a fresh tmpfs root holding only what the policy names: each
//! allowed path bind-mounted at its own place (read-only unless a write
//! grant names it, `noexec` unless an exec grant does, always `nosuid` and
//! `nodev`), the symlinks that lead to it, a minimal `/dev` and the
//! sandbox's own `/proc`. A path, file or unix socket the policy does not
//! name is not there; nothing outside the write grants can change, content
//! or metadata, whoever the command runs as.
//!
//! Planning ([`plan_view`]) is pure and golden-tested: it only looks paths
//! up through [`Lookup`]. [`View::compile`] turns a plan into the C strings
//! and operations the sandbox's first process runs ([`View::apply`]), with
//! system calls only.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use landlock::{AccessFs, BitFlags};

use super::rules::{Grant, PathRule};
use crate::error::{Error, Result};

pub(crate) const ATTR_RDONLY: u64 = 0x1;
pub(crate) const ATTR_NOSUID: u64 = 0x2;
pub(crate) const ATTR_NODEV: u64 = 0x4;
pub(crate) const ATTR_NOEXEC: u64 = 0x8;

/// The namespaces of a spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Namespaces {
    pub(crate) user: bool,
    pub(crate) mount: bool,
    pub(crate) pid: bool,
    pub(crate) network: bool,
    pub(crate) ipc: bool,
    pub(crate) uts: bool,
    pub(crate) cgroup: bool,
}

impl Namespaces {
    /// No namespace at all (the fallback where none can be made).
    pub(crate) const NONE: Namespaces = Namespaces {
        user: false,
        mount: false,
        pid: false,
        network: false,
        ipc: false,
        uts: false,
        cgroup: false,
    };

    /// The `clone` flags.
    pub(crate) fn clone_flags(self) -> libc::c_int {
        let mut f = 0;
        for (on, flag) in [
            (self.user, libc::CLONE_NEWUSER),
            (self.mount, libc::CLONE_NEWNS),
            (self.pid, libc::CLONE_NEWPID),
            (self.network, libc::CLONE_NEWNET),
            (self.ipc, libc::CLONE_NEWIPC),
            (self.uts, libc::CLONE_NEWUTS),
            (self.cgroup, libc::CLONE_NEWCGROUP),
        ] {
            if on {
                f |= flag;
            }
        }
        f
    }

    /// The names of the namespaces in use, for reports.
    pub(crate) fn names(self) -> Vec<&'static str> {
        [
            (self.user, "user"),
            (self.mount, "mount"),
            (self.pid, "pid"),
            (self.network, "network"),
            (self.ipc, "ipc"),
            (self.uts, "uts"),
            (self.cgroup, "cgroup"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n)
        .collect()
    }
}

/// What a path is on the host, as far as the view cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    /// Anything that is neither a folder nor a symlink: bound as a file.
    File,
    Symlink(PathBuf),
    Missing,
}

/// Looks paths up on the host without following a final symlink.
pub(crate) trait Lookup {
    fn node(&self, path: &Path) -> Node;

    /// The names in the root folder that may be symlinks (all of them
    /// where the file system does not say).
    fn root_names(&self) -> Vec<OsString>;
}

/// A lookup that asks `inner` about each path once: a plan meets the same
/// folders many times (every rule's parents, the root's symlinks), and
/// each question is a system call or two.
struct Memo<'a> {
    inner: &'a dyn Lookup,
    seen: std::cell::RefCell<BTreeMap<PathBuf, Node>>,
}

impl Lookup for Memo<'_> {
    fn node(&self, path: &Path) -> Node {
        if let Some(n) = self.seen.borrow().get(path) {
            return n.clone();
        }
        let n = self.inner.node(path);
        self.seen.borrow_mut().insert(path.to_path_buf(), n.clone());
        n
    }

    fn root_names(&self) -> Vec<OsString> {
        self.inner.root_names()
    }
}

/// The real file system.
pub(crate) struct Host;

impl Lookup for Host {
    fn node(&self, path: &Path) -> Node {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(path) {
                Ok(t) => Node::Symlink(t),
                Err(_) => Node::Missing,
            },
            Ok(m) if m.is_dir() => Node::Dir,
            Ok(_) => Node::File,
            Err(_) => Node::Missing,
        }
    }

    fn root_names(&self) -> Vec<OsString> {
        // The entry's type comes with the listing on most file systems:
        // no stat of every folder in /.
        std::fs::read_dir("/")
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().map_or(true, |t| t.is_symlink()))
                    .map(|e| e.file_name())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The options of the sandbox's own /proc: only the processes the command
/// may trace are there, so never its PID 1 (see `start_init` in
/// `launch`). This is `hidepid=ptraceable` (Linux 5.8), whatever the
/// groups: `invisible` lets the members of the mount's group (root's, by
/// default) see everything.
pub(crate) const PROC_OPTIONS: &std::ffi::CStr = c"hidepid=4";

/// A path of the host shown at the same place in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind {
    /// The host path, without symlinks.
    pub(crate) path: PathBuf,
    pub(crate) dir: bool,
    /// `MOUNT_ATTR_*` flags.
    pub(crate) attrs: u64,
    /// The option (or "minimal /dev") it comes from.
    pub(crate) origin: &'static str,
}

/// A Landlock rule whose path only exists inside the view (the sandbox's
/// own /proc, /dev/pts, /dev/shm): the sandbox's first process adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewRule {
    pub(crate) path: PathBuf,
    pub(crate) access: BitFlags<AccessFs>,
}

/// The planned view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct View {
    /// Folders to create in the tmpfs root (parents first).
    pub(crate) dirs: Vec<PathBuf>,
    /// Symlinks to create: (path, target as on the host).
    pub(crate) symlinks: Vec<(PathBuf, PathBuf)>,
    /// Binds, parents before children.
    pub(crate) binds: Vec<Bind>,
    pub(crate) view_rules: Vec<ViewRule>,
    /// Bind /proc/sys and friends read-only over the sandbox's /proc: uid 0
    /// without a user namespace could otherwise write host sysctls.
    pub(crate) read_only_proc: bool,
}

/// Device nodes of the minimal /dev, bound from the host.
pub(crate) const DEV_NODES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];
/// Symlinks of the minimal /dev.
const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];
/// Parts of /proc that uid 0 could use to change the host, bound read-only
/// when there is no user namespace.
pub(crate) const PROC_READ_ONLY: [&str; 4] = ["sys", "sysrq-trigger", "irq", "bus"];

/// True for paths that only exist inside the view: the sandbox's own
/// /proc, its /dev, /dev/pts and /dev/shm.
pub(crate) fn inside_view(path: &Path) -> bool {
    let proc = path.starts_with("/proc");
    let dev = path == Path::new("/dev")
        || path.starts_with("/dev/pts")
        || path.starts_with("/dev/shm")
        || path == Path::new("/dev/ptmx");
    proc || dev
}

/// Mount flags for a grant: read-only unless it writes, noexec unless it
/// executes; never set-user-ID or device files.
fn attrs_of(grant: Grant) -> u64 {
    let base = ATTR_NOSUID | ATTR_NODEV;
    match grant {
        Grant::ReadFolder | Grant::ReadFile => base | ATTR_RDONLY | ATTR_NOEXEC,
        Grant::ReadExecFolder => base | ATTR_RDONLY,
        Grant::WriteFolder | Grant::WriteFile => base | ATTR_NOEXEC,
        Grant::WriteExecFolder => base,
        // Device nodes keep working (no nodev), never executable.
        Grant::DeviceRead => ATTR_NOSUID | ATTR_RDONLY | ATTR_NOEXEC,
        Grant::DeviceReadWrite => ATTR_NOSUID | ATTR_NOEXEC,
    }
}

/// Resolves `path` on the host the way the kernel would, recording each
/// symlink met on the way so the view can hold it too. Returns the path
/// without symlinks, or None when it does not exist.
fn resolve(
    path: &Path,
    lookup: &dyn Lookup,
    links: &mut Vec<(PathBuf, PathBuf)>,
) -> Option<PathBuf> {
    let mut todo: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&name);
        match lookup.node(&next) {
            Node::Missing => return None,
            Node::Dir | Node::File => cur = next,
            Node::Symlink(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                links.push((next.clone(), target.clone()));
                let base = if target.is_absolute() {
                    PathBuf::from("/")
                } else {
                    cur.clone()
                };
                cur = base;
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => todo.push(n.to_os_string()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
        }
    }
    Some(cur)
}

/// Plans the view for the rules of one spawn.
pub(crate) fn plan_view(
    rules: &[PathRule],
    lookup: &dyn Lookup,
    best_effort: bool,
    user_namespace: bool,
) -> Result<View> {
    let memo = Memo {
        inner: lookup,
        seen: Default::default(),
    };
    let lookup: &dyn Lookup = &memo;
    let mut view = View {
        read_only_proc: !user_namespace,
        ..View::default()
    };
    // Canonical path -> (attrs, dir, origin), attrs merged as the most
    // permissive of the grants naming it.
    let mut binds: BTreeMap<PathBuf, (u64, bool, &'static str)> = BTreeMap::new();
    let mut links = Vec::new();
    for rule in rules {
        if inside_view(&rule.path) {
            view.view_rules.push(ViewRule {
                path: rule.path.clone(),
                access: rule.access,
            });
            continue;
        }
        if DEV_NODES
            .iter()
            .any(|n| rule.path == Path::new("/dev").join(n))
        {
            // In the minimal /dev already.
            continue;
        }
        let mut found = Vec::new();
        let Some(canon) = resolve(&rule.path, lookup, &mut found) else {
            if best_effort || rule.grant.wants_folder().is_none() {
                continue;
            }
            return Err(Error::invalid_options(format!(
                "option {:?}: {} does not exist",
                rule.grant.origin(),
                rule.path.display()
            )));
        };
        links.extend(found);
        let dir = lookup.node(&canon) == Node::Dir;
        let mut attrs = attrs_of(rule.grant);
        if canon.starts_with("/dev") {
            // A device the policy names must stay usable.
            attrs &= !ATTR_NODEV;
        }
        binds
            .entry(canon)
            .and_modify(|(a, _, _)| *a &= attrs)
            .or_insert((attrs, dir, rule.grant.origin()));
    }
    // Parents first; a bind already covered by an ancestor that is at least
    // as permissive adds nothing.
    let mut ordered: Vec<(PathBuf, (u64, bool, &'static str))> = binds.into_iter().collect();
    ordered.sort_by(|a, b| (a.0.components().count(), &a.0).cmp(&(b.0.components().count(), &b.0)));
    for (path, (attrs, dir, origin)) in ordered {
        let covered = view
            .binds
            .iter()
            .any(|b| b.dir && path.starts_with(&b.path) && b.attrs & !attrs == 0);
        if !covered {
            view.binds.push(Bind {
                path,
                dir,
                attrs,
                origin,
            });
        }
    }
    // The root's own symlinks into what the view shows (a merged-/usr
    // system's /bin, /lib, /lib64, /sbin) come along: they grant nothing
    // the view does not, and programs name their interpreter through them.
    let mut names = lookup.root_names();
    names.sort();
    for name in names {
        let path = Path::new("/").join(&name);
        if let Node::Symlink(target) = lookup.node(&path) {
            let mut found = Vec::new();
            if let Some(canon) = resolve(&path, lookup, &mut found) {
                if view
                    .binds
                    .iter()
                    .any(|b| b.dir && canon.starts_with(&b.path))
                {
                    links.push((path, target));
                }
            }
        }
    }
    for (path, target) in links {
        let visible = view.binds.iter().any(|b| path.starts_with(&b.path));
        if !visible && !view.symlinks.iter().any(|(p, _)| *p == path) {
            view.symlinks.push((path, target));
        }
    }
    // Folders holding each mount point and symlink, outside any bind.
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut need = |p: &Path, binds: &[Bind]| {
        for anc in p.ancestors().skip(1) {
            if anc == Path::new("/") || binds.iter().any(|b| anc.starts_with(&b.path)) {
                continue;
            }
            if !dirs.iter().any(|d| d == anc) {
                dirs.push(anc.to_path_buf());
            }
        }
    };
    for b in &view.binds {
        if !view
            .binds
            .iter()
            .any(|o| o.path != b.path && b.path.starts_with(&o.path))
        {
            need(&b.path, &view.binds);
        }
    }
    for (p, _) in &view.symlinks {
        need(p, &view.binds);
    }
    dirs.sort_by(|a, b| (a.components().count(), a).cmp(&(b.components().count(), b)));
    view.dirs = dirs;
    Ok(view)
}

/// How the view is built in the sandbox's first process: every path as a
/// C string under the staging folder, prepared before the clone.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    staging: CString,
    /// Host paths to clone (`open_tree`), in the order of `attach`.
    sources: Vec<(CString, bool)>,
    /// Where each cloned tree goes, and its flags.
    attach: Vec<(CString, u64)>,
    dirs: Vec<CString>,
    /// Folders under /dev, made once /dev is.
    dev_dirs: Vec<CString>,
    files: Vec<CString>,
    symlinks: Vec<(CString, CString)>,
    dev: CString,
    dev_pts: CString,
    dev_shm: CString,
    dev_links: Vec<(CString, CString)>,
    proc_: CString,
    proc_read_only: Vec<CString>,
    view_rules: Vec<(CString, u64)>,
    /// Where the cloned trees' fds go, filled in by the child.
    pub(crate) trees: Vec<libc::c_int>,
}

fn c(p: impl AsRef<OsStr>) -> Result<CString> {
    CString::new(p.as_ref().as_bytes())
        .map_err(|_| Error::invalid_options(format!("path {:?} contains a NUL byte", p.as_ref())))
}

/// `staging` + `path` (absolute) as one path.
fn under(staging: &Path, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    staging.join(rel)
}

/// Folders the view's tmpfs can be mounted on while it is built; it is
/// moved to `/` afterwards, so any existing folder does.
const STAGING_CANDIDATES: [&str; 5] = ["/tmp", "/mnt", "/var/tmp", "/run", "/opt"];

pub(crate) fn staging_folder(lookup: &dyn Lookup) -> Result<PathBuf> {
    STAGING_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| lookup.node(p) == Node::Dir)
        .ok_or_else(|| {
            Error::requirements(format!(
                "the mount namespace needs one of {} to exist as a folder",
                STAGING_CANDIDATES.join(", ")
            ))
        })
}

impl View {
    /// Compiles the plan for a staging folder.
    pub(crate) fn compile(&self, staging: &Path) -> Result<Compiled> {
        let mut sources = Vec::new();
        let mut attach = Vec::new();
        let mut files = Vec::new();
        for b in &self.binds {
            sources.push((c(&b.path)?, b.dir));
            attach.push((c(under(staging, &b.path))?, b.attrs));
        }
        for node in DEV_NODES {
            let host = Path::new("/dev").join(node);
            sources.push((c(&host)?, false));
            attach.push((c(under(staging, &host))?, attrs_of(Grant::DeviceReadWrite)));
            files.push(c(under(staging, &host))?);
        }
        // Mount points: inside a bound folder they exist already; elsewhere
        // they are made in the tmpfs root (after their parents).
        let mut mount_dirs = Vec::new();
        for b in &self.binds {
            let nested = self
                .binds
                .iter()
                .any(|o| o.dir && o.path != b.path && b.path.starts_with(&o.path));
            if nested {
                continue;
            }
            let target = c(under(staging, &b.path))?;
            if b.dir {
                mount_dirs.push((b.path.starts_with("/dev"), target));
            } else {
                files.push(target);
            }
        }
        let dev = under(staging, Path::new("/dev"));
        let trees = vec![-1; sources.len()];
        Ok(Compiled {
            staging: c(staging)?,
            sources,
            attach,
            dirs: self
                .dirs
                .iter()
                .filter(|d| !d.starts_with("/dev") && !d.starts_with("/proc"))
                .map(|d| c(under(staging, d)))
                .chain(
                    mount_dirs
                        .iter()
                        .filter(|(dev, _)| !dev)
                        .map(|(_, t)| Ok(t.clone())),
                )
                .collect::<Result<_>>()?,
            dev_dirs: self
                .dirs
                .iter()
                .filter(|d| d.starts_with("/dev") && d.as_path() != Path::new("/dev"))
                .map(|d| c(under(staging, d)))
                .chain(
                    mount_dirs
                        .iter()
                        .filter(|(dev, _)| *dev)
                        .map(|(_, t)| Ok(t.clone())),
                )
                .collect::<Result<_>>()?,
            files,
            symlinks: self
                .symlinks
                .iter()
                .map(|(p, t)| Ok((c(under(staging, p))?, c(t)?)))
                .collect::<Result<_>>()?,
            dev_pts: c(dev.join("pts"))?,
            dev_shm: c(dev.join("shm"))?,
            dev_links: DEV_LINKS
                .iter()
                .map(|(name, target)| Ok((c(dev.join(name))?, c(target)?)))
                .collect::<Result<_>>()?,
            dev: c(&dev)?,
            proc_: c(under(staging, Path::new("/proc")))?,
            proc_read_only: if self.read_only_proc {
                PROC_READ_ONLY
                    .iter()
                    .map(|p| c(under(staging, &Path::new("/proc").join(p))))
                    .collect::<Result<_>>()?
            } else {
                Vec::new()
            },
            view_rules: self
                .view_rules
                .iter()
                .map(|r| Ok((c(under(staging, &r.path))?, r.access.bits())))
                .collect::<Result<_>>()?,
            trees,
        })
    }
}

/// A step of building the view, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewStep {
    Private,
    Clone,
    Staging,
    Skeleton,
    Attach,
    Dev,
    Proc,
    LandlockRule,
    Seal,
    Pivot,
}

impl ViewStep {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ViewStep::Private => "making the mount namespace private (mount MS_PRIVATE)",
            ViewStep::Clone => "cloning an allowed path for the view (open_tree)",
            ViewStep::Staging => "mounting the view's tmpfs root",
            ViewStep::Skeleton => "creating the view's folders, files and symlinks",
            ViewStep::Attach => "mounting an allowed path in the view (mount_setattr, move_mount)",
            ViewStep::Dev => "building the view's /dev (device nodes, devpts, shm)",
            ViewStep::Proc => "mounting the sandbox's /proc",
            ViewStep::LandlockRule => "adding a Landlock rule for /proc or /dev inside the view",
            ViewStep::Seal => "making the view's root read-only",
            ViewStep::Pivot => "switching to the view (pivot_root)",
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

impl Compiled {
    /// Builds the view and moves into it. Returns the failed step and errno.
    ///
    /// # Safety
    /// Runs in the sandbox's first process (a vfork-style child in new
    /// mount, and maybe user, namespaces): system calls only, on data
    /// prepared before the clone; `trees` is written.
    pub(crate) unsafe fn apply(
        &mut self,
        ruleset_fd: libc::c_int,
    ) -> std::result::Result<(), (ViewStep, i32)> {
        // SAFETY: system calls on the prepared C strings, per the contract.
        unsafe {
            let errno = || *libc::__errno_location();
            let fail = |s: ViewStep| Err((s, errno()));
            let null = std::ptr::null::<libc::c_char>();
            if libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return fail(ViewStep::Private);
            }
            // Clone every tree before the staging tmpfs can hide any of them.
            for (i, (src, dir)) in self.sources.iter().enumerate() {
                let flags = OPEN_TREE_CLONE
                    | libc::O_CLOEXEC as libc::c_uint
                    | if *dir { AT_RECURSIVE } else { 0 };
                let fd = libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, src.as_ptr(), flags);
                if fd < 0 {
                    return fail(ViewStep::Clone);
                }
                self.trees[i] = fd as libc::c_int;
            }
            let mode = c"mode=0755";
            if libc::mount(
                c"tmpfs".as_ptr(),
                self.staging.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                mode.as_ptr() as *const libc::c_void,
            ) != 0
            {
                return fail(ViewStep::Staging);
            }
            for d in &self.dirs {
                if libc::mkdir(d.as_ptr(), 0o755) != 0 && errno() != libc::EEXIST {
                    return fail(ViewStep::Skeleton);
                }
            }
            for (path, target) in &self.symlinks {
                if libc::symlink(target.as_ptr(), path.as_ptr()) != 0 && errno() != libc::EEXIST {
                    return fail(ViewStep::Skeleton);
                }
            }
            // /dev: a folder of the root (read-only with it) holding the
            // device nodes bound from the host, a private devpts and shm,
            // and the usual symlinks. A tmpfs of its own would cost a mount
            // and add nothing: nothing can be created in it either way.
            if libc::mkdir(self.dev.as_ptr(), 0o755) != 0 {
                return fail(ViewStep::Dev);
            }
            for d in &self.dev_dirs {
                if libc::mkdir(d.as_ptr(), 0o755) != 0 && errno() != libc::EEXIST {
                    return fail(ViewStep::Dev);
                }
            }
            for f in &self.files {
                let fd = libc::open(
                    f.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    if errno() == libc::EEXIST {
                        continue;
                    }
                    return fail(ViewStep::Skeleton);
                }
                libc::close(fd);
            }
            for (i, (target, attrs)) in self.attach.iter().enumerate() {
                let attr = MountAttr {
                    attr_set: *attrs,
                    attr_clr: 0,
                    propagation: libc::MS_PRIVATE,
                    userns_fd: 0,
                };
                let tree = self.trees[i];
                let recursive = if self.sources[i].1 { AT_RECURSIVE } else { 0 };
                if libc::syscall(
                    libc::SYS_mount_setattr,
                    tree,
                    c"".as_ptr(),
                    libc::AT_EMPTY_PATH as libc::c_uint | recursive,
                    &attr as *const MountAttr,
                    std::mem::size_of::<MountAttr>(),
                ) != 0
                {
                    return fail(ViewStep::Attach);
                }
                if libc::syscall(
                    libc::SYS_move_mount,
                    tree,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
                {
                    return fail(ViewStep::Attach);
                }
                libc::close(tree);
                self.trees[i] = -1;
            }
            let pts_opts = c"newinstance,ptmxmode=0666,mode=620";
            if libc::mkdir(self.dev_pts.as_ptr(), 0o755) != 0
                || libc::mount(
                    c"devpts".as_ptr(),
                    self.dev_pts.as_ptr(),
                    c"devpts".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    pts_opts.as_ptr() as *const libc::c_void,
                ) != 0
            {
                return fail(ViewStep::Dev);
            }
            let shm_opts = c"mode=1777";
            if libc::mkdir(self.dev_shm.as_ptr(), 0o1777) != 0
                || libc::mount(
                    c"tmpfs".as_ptr(),
                    self.dev_shm.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    shm_opts.as_ptr() as *const libc::c_void,
                ) != 0
            {
                return fail(ViewStep::Dev);
            }
            for (path, target) in &self.dev_links {
                if libc::symlink(target.as_ptr(), path.as_ptr()) != 0 {
                    return fail(ViewStep::Dev);
                }
            }
            if libc::mkdir(self.proc_.as_ptr(), 0o555) != 0
                || libc::mount(
                    c"proc".as_ptr(),
                    self.proc_.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    PROC_OPTIONS.as_ptr() as *const libc::c_void,
                ) != 0
            {
                return fail(ViewStep::Proc);
            }
            for p in &self.proc_read_only {
                if libc::mount(
                    p.as_ptr(),
                    p.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) != 0
                {
                    if errno() == libc::ENOENT {
                        continue;
                    }
                    return fail(ViewStep::Proc);
                }
                let flags = libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC;
                if libc::mount(null, p.as_ptr(), null, flags, std::ptr::null()) != 0 {
                    return fail(ViewStep::Proc);
                }
            }
            if ruleset_fd >= 0 {
                for (path, access) in &self.view_rules {
                    let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                    if fd < 0 {
                        return fail(ViewStep::LandlockRule);
                    }
                    let attr = PathBeneathAttr {
                        allowed_access: *access,
                        parent_fd: fd,
                    };
                    let rc = libc::syscall(
                        libc::SYS_landlock_add_rule,
                        ruleset_fd,
                        LANDLOCK_RULE_PATH_BENEATH,
                        &attr as *const PathBeneathAttr,
                        0u32,
                    );
                    libc::close(fd);
                    if rc != 0 {
                        return fail(ViewStep::LandlockRule);
                    }
                }
            }
            let root_ro = MountAttr {
                attr_set: ATTR_RDONLY,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            };
            if libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                self.staging.as_ptr(),
                0u32,
                &root_ro as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            ) != 0
            {
                return fail(ViewStep::Seal);
            }
            if libc::chdir(self.staging.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                return fail(ViewStep::Pivot);
            }
            Ok(())
        }
    }
}

/// The user namespace's id maps: the caller's own uid and gid, nothing else.
#[derive(Debug)]
pub(crate) struct IdMaps {
    uid_map: CString,
    gid_map: CString,
}

impl IdMaps {
    pub(crate) fn current() -> IdMaps {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        IdMaps {
            uid_map: CString::new(format!("{uid} {uid} 1\n")).unwrap_or_default(),
            gid_map: CString::new(format!("{gid} {gid} 1\n")).unwrap_or_default(),
        }
    }

    /// Writes the maps of the calling process's new user namespace.
    ///
    /// # Safety
    /// System calls only; for the vfork-style child.
    pub(crate) unsafe fn write(&self) -> std::result::Result<(), i32> {
        // SAFETY: plain system calls on prepared strings.
        unsafe {
            for (file, text) in [
                (c"/proc/self/setgroups", c"deny\n"),
                (c"/proc/self/uid_map", self.uid_map.as_c_str()),
                (c"/proc/self/gid_map", self.gid_map.as_c_str()),
            ] {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(*libc::__errno_location());
                }
                let bytes = text.to_bytes();
                let n = libc::write(fd, bytes.as_ptr() as *const libc::c_void, bytes.len());
                let e = *libc::__errno_location();
                libc::close(fd);
                if n != bytes.len() as isize {
                    return Err(if n < 0 { e } else { libc::EIO });
                }
            }
            Ok(())
        }
    }
}

/// Brings the loopback of a new network namespace up, so programs that talk
/// to themselves over 127.0.0.1 keep working.
///
/// # Safety
/// System calls only; for the vfork-style child.
pub(crate) unsafe fn loopback_up() -> std::result::Result<(), i32> {
    // SAFETY: plain system calls on a local ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(*libc::__errno_location());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut rc = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(s, libc::SIOCSIFFLAGS, &req);
        }
        let e = *libc::__errno_location();
        libc::close(s);
        if rc != 0 {
            return Err(e);
        }
        Ok(())
    }
}

/// A path in the view, displayed.
pub(crate) fn display(p: &Path) -> String {
    String::from_utf8_lossy(&p.as_os_str().to_os_string().into_vec()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use landlock::ABI;
    use std::fmt::Write;

    /// A fake host: folders, files and symlinks by path.
    struct Fake(Vec<(&'static str, Node)>);

    impl Lookup for Fake {
        fn node(&self, path: &Path) -> Node {
            self.0
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, n)| n.clone())
                .unwrap_or(Node::Missing)
        }

        fn root_names(&self) -> Vec<OsString> {
            self.0
                .iter()
                .filter(|(p, _)| Path::new(p).parent() == Some(Path::new("/")))
                .map(|(p, _)| Path::new(p).file_name().unwrap().to_os_string())
                .collect()
        }
    }

    fn debian() -> Fake {
        Fake(vec![
            ("/usr", Node::Dir),
            ("/usr/lib", Node::Dir),
            ("/usr/lib64", Node::Dir),
            ("/usr/bin", Node::Dir),
            ("/usr/local", Node::Dir),
            ("/usr/local/work", Node::Dir),
            ("/bin", Node::Symlink("usr/bin".into())),
            ("/lib", Node::Symlink("usr/lib".into())),
            ("/lib64", Node::Symlink("usr/lib64".into())),
            ("/etc", Node::Dir),
            ("/etc/hosts", Node::File),
            ("/tmp", Node::Dir),
            ("/tmp/job", Node::Dir),
            ("/var", Node::Dir),
            ("/var/run", Node::Symlink("/run".into())),
            ("/run", Node::Dir),
            ("/run/app", Node::Dir),
            ("/srv", Node::Dir),
            ("/srv/data", Node::Dir),
            ("/srv/link", Node::Symlink("../srv/data".into())),
        ])
    }

    fn rules(list: &[(&str, Grant)]) -> Vec<PathRule> {
        list.iter()
            .map(|(p, g)| PathRule {
                path: p.into(),
                grant: *g,
                access: g.access(ABI::V7),
            })
            .collect()
    }

    fn flags(a: u64) -> String {
        let mut s = String::new();
        for (bit, name) in [
            (ATTR_RDONLY, "ro"),
            (ATTR_NOSUID, "nosuid"),
            (ATTR_NODEV, "nodev"),
            (ATTR_NOEXEC, "noexec"),
        ] {
            if a & bit != 0 {
                if !s.is_empty() {
                    s.push(',');
                }
                s.push_str(name);
            }
        }
        if s.is_empty() {
            "rw".into()
        } else if a & ATTR_RDONLY == 0 {
            format!("rw,{s}")
        } else {
            s
        }
    }

    fn render(v: &View) -> String {
        let mut s = String::new();
        for d in &v.dirs {
            writeln!(s, "dir {}", d.display()).unwrap();
        }
        for (p, t) in &v.symlinks {
            writeln!(s, "symlink {} -> {}", p.display(), t.display()).unwrap();
        }
        for b in &v.binds {
            let kind = if b.dir { "folder" } else { "file" };
            writeln!(
                s,
                "bind {} {kind} {} ({})",
                b.path.display(),
                flags(b.attrs),
                b.origin
            )
            .unwrap();
        }
        for r in &v.view_rules {
            writeln!(s, "view rule {}", r.path.display()).unwrap();
        }
        writeln!(s, "read-only proc: {}", v.read_only_proc).unwrap();
        s
    }

    #[test]
    fn a_typical_policy_golden() {
        let v = plan_view(
            &rules(&[
                ("/usr", Grant::ReadExecFolder),
                ("/bin", Grant::ReadExecFolder),
                ("/lib", Grant::ReadExecFolder),
                ("/lib64", Grant::ReadExecFolder),
                ("/etc", Grant::ReadFolder),
                ("/tmp/job", Grant::WriteFolder),
                ("/proc", Grant::ReadFolder),
                ("/dev/null", Grant::DeviceReadWrite),
            ]),
            &debian(),
            false,
            true,
        )
        .unwrap();
        assert_eq!(
            render(&v),
            "dir /tmp
symlink /bin -> usr/bin
symlink /lib -> usr/lib
symlink /lib64 -> usr/lib64
bind /etc folder ro,nosuid,nodev,noexec (allow_read_folders)
bind /usr folder ro,nosuid,nodev (allow_read_exec_folders)
bind /tmp/job folder rw,nosuid,nodev,noexec (allow_write_folders)
view rule /proc
read-only proc: false
"
        );
    }

    #[test]
    fn nested_grants_and_symlinked_parents() {
        let v = plan_view(
            &rules(&[
                ("/usr", Grant::ReadFolder),
                ("/usr/local/work", Grant::WriteExecFolder),
                ("/usr/lib", Grant::ReadFolder),
                ("/var/run/app", Grant::WriteFolder),
                ("/srv/link", Grant::ReadFolder),
                ("/etc/hosts", Grant::ReadFile),
                ("/etc/hosts", Grant::WriteFile),
            ]),
            &debian(),
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            render(&v),
            "dir /etc
dir /run
dir /srv
dir /var
symlink /var/run -> /run
symlink /srv/link -> ../srv/data
symlink /bin -> usr/bin
symlink /lib -> usr/lib
symlink /lib64 -> usr/lib64
bind /usr folder ro,nosuid,nodev,noexec (allow_read_folders)
bind /etc/hosts file rw,nosuid,nodev,noexec (allow_read_files)
bind /run/app folder rw,nosuid,nodev,noexec (allow_write_folders)
bind /srv/data folder ro,nosuid,nodev,noexec (allow_read_folders)
bind /usr/local/work folder rw,nosuid,nodev (allow_write_exec_folders)
read-only proc: true
"
        );
    }

    #[test]
    fn missing_paths_fail_unless_best_effort() {
        let r = rules(&[("/nope", Grant::ReadFolder)]);
        let e = plan_view(&r, &debian(), false, true).unwrap_err();
        assert!(e.message().contains("allow_read_folders"), "{e}");
        assert!(e.message().contains("/nope"), "{e}");
        assert!(plan_view(&r, &debian(), true, true)
            .unwrap()
            .binds
            .is_empty());
    }

    #[test]
    fn namespace_flags() {
        let all = Namespaces {
            user: true,
            mount: true,
            pid: true,
            network: true,
            ipc: true,
            uts: true,
            cgroup: true,
        };
        assert_eq!(all.names().len(), 7);
        assert_eq!(Namespaces::NONE.clone_flags(), 0);
        assert_ne!(all.clone_flags() & libc::CLONE_NEWPID, 0);
    }
}
