//! Per-spawn cgroups: finding where the caller may create one, creating a
//! leaf under the caller's own cgroup (so whatever manages the caller, a
//! systemd unit or a container, still sees and stops the spawn), and
//! removing it once its processes are gone.
//!
//! Both cgroup v2 and the v1 hierarchies are handled (machines run hybrids:
//! v2 at /sys/fs/cgroup/unified next to v1 controllers); where each lives is
//! read from /proc/self/mountinfo, never assumed.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

use crate::error::{Error, ErrorKind, Result};

/// Which hierarchy a cgroup is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// A mounted hierarchy and the caller's cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub(crate) version: Version,
    /// The caller's cgroup, as a folder.
    pub(crate) dir: PathBuf,
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            out.push(
                field[i + 1..i + 4]
                    .iter()
                    .fold(0u8, |a, d| a.wrapping_mul(8).wrapping_add(d - b'0')),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// The hierarchy holding `controller` ("" for plain cgroup v2, which
/// `cgroup.kill` and `cgroup.procs` need no controller for), from the texts
/// of /proc/self/mountinfo and /proc/self/cgroup.
pub(crate) fn find_in(mountinfo: &str, cgroups: &str, controller: &str) -> Option<Hierarchy> {
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(fstype), Some(root), Some(mount)) =
            (fields.get(sep + 1), fields.get(3), fields.get(4))
        else {
            continue;
        };
        let opts = fields.get(sep + 3).copied().unwrap_or("");
        let mount = PathBuf::from(OsString::from_vec(unescape(mount.as_bytes())));
        let (version, wanted) = match *fstype {
            "cgroup2" => (Version::V2, true),
            "cgroup" if !controller.is_empty() => {
                (Version::V1, opts.split(',').any(|o| o == controller))
            }
            _ => continue,
        };
        if !wanted {
            continue;
        }
        // The caller's path in that hierarchy, relative to the mount's root.
        let path = cgroups.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches = match version {
                Version::V2 => list.is_empty(),
                Version::V1 => list.split(',').any(|c| c == controller),
            };
            matches.then(|| path.to_string())
        })?;
        let rel = Path::new(&path).strip_prefix(root).ok()?;
        let dir = mount.join(rel);
        if version == Version::V2 && !controller.is_empty() {
            // A v2 controller is usable in a child only when the caller's
            // cgroup hands it down.
            let Ok(control) = std::fs::read_to_string(dir.join("cgroup.subtree_control")) else {
                continue;
            };
            if !control.split_whitespace().any(|c| c == controller) {
                continue;
            }
        }
        return Some(Hierarchy { version, dir });
    }
    None
}

/// The hierarchy holding `controller` for this process.
pub(crate) fn find(controller: &str) -> Option<Hierarchy> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    find_in(&mountinfo, &cgroups, controller)
}

/// A cgroup made for one spawn; removed when dropped (after its processes
/// are gone).
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) version: Version,
    pub(crate) dir: PathBuf,
    /// The folder, opened as a path: what `CLONE_INTO_CGROUP` takes, and
    /// where the control files below are opened.
    dir_fd: OwnedFd,
    /// `cpu.stat` and `cgroup.events`, opened at their first reading and
    /// kept while the leaf is in use: a later reading is one `pread`.
    stat: OnceLock<Option<File>>,
    events: OnceLock<Option<File>>,
    /// Whether the leaf is never to be reused, but removed at its finish:
    /// - `cgroup.kill` was written: on some kernels (6.18 here) a child
    ///   forked into a cgroup with `CLONE_INTO_CGROUP` is killed at once
    ///   when that cgroup was ever killed and the caller's was not (the
    ///   kernel compares the two cgroups' kill counts);
    /// - or it could not be thawed (see [`Leaf::settle_populated_notice`]),
    ///   and a child forked into it would never run.
    retired: std::sync::atomic::AtomicBool,
    /// `cpu.stat`'s user and system microseconds when the leaf was last
    /// free: a reused leaf's counts go on from there. None when unknown: a
    /// spawn that did not measure its usage left it, and the next one that
    /// does reads it when it takes the leaf.
    cpu_base: Option<(u64, u64)>,
    /// Whether the spawn using the leaf measures its CPU time.
    measure_cpu: bool,
    /// When the leaf was last given back empty (None for a new one): the
    /// kernel told its emptying to `cgroup.events` watchers then or a little
    /// later (see [`Leaf::settle_populated_notice`]).
    emptied: Option<Instant>,
    /// The last `cpu.stat` reading, which becomes the next base when the
    /// leaf was already empty at its finish.
    cpu_last: std::sync::Mutex<Option<(u64, u64)>>,
}

impl Leaf {
    /// Creates a leaf in `h`, named after this process and a counter.
    pub(crate) fn create(h: &Hierarchy, what: &str) -> Result<Leaf> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "restricted-runner-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = h.dir.join(name);
        std::fs::create_dir(&dir).map_err(|e| {
            Error::from_io(
                ErrorKind::Requirements,
                format!("{what}: creating the cgroup {}", dir.display()),
                &e,
            )
        })?;
        let leaf = Leaf::open(h.version, dir, Some((0, 0))).map_err(|(dir, e)| {
            let _ = std::fs::remove_dir(&dir);
            Error::from_errno(
                ErrorKind::Requirements,
                format!("{what}: opening the cgroup {}", dir.display()),
                e,
            )
        })?;
        if h.version == Version::V2 {
            leaf.stop_pressure_accounting();
        }
        Ok(leaf)
    }

    /// Turns off the leaf's own pressure accounting (PSI, Linux 6.1), where
    /// the kernel keeps it: nothing reads a spawn's leaf's pressure, its
    /// processes still count in the caller's cgroup and every one above,
    /// and the accounting of a cgroup other than the caller's weighs on
    /// every sleep and wake-up of the command: 1,000 lines through `cat`,
    /// one at a time, took 50.9 ms with it and 40.8 ms without on a 2-CPU
    /// machine booted with psi=1. Best effort: older kernels have no such
    /// file.
    fn stop_pressure_accounting(&self) {
        if let Ok(fd) = openat(
            &self.dir_fd,
            "cgroup.pressure",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            let _ = File::from(fd).write_all(b"0");
        }
    }

    /// The leaf at `dir`, which exists; gives the folder back if it cannot
    /// be opened.
    fn open(
        version: Version,
        dir: PathBuf,
        cpu_base: Option<(u64, u64)>,
    ) -> std::result::Result<Leaf, (PathBuf, nix::errno::Errno)> {
        match open(
            &dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(dir_fd) => Ok(Leaf {
                version,
                dir,
                dir_fd,
                stat: OnceLock::new(),
                events: OnceLock::new(),
                retired: std::sync::atomic::AtomicBool::new(false),
                cpu_base,
                measure_cpu: true,
                emptied: None,
                cpu_last: std::sync::Mutex::new(None),
            }),
            Err(e) => Err((dir, e)),
        }
    }

    /// Writes `value` to the leaf's file `name`.
    pub(crate) fn write(&self, name: &str, value: &str) -> Result<()> {
        let path = self.dir.join(name);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|e| Error::from_io(ErrorKind::Io, format!("writing {}", path.display()), &e))
    }

    /// Opens `cgroup.procs` for writing: a process joins by writing "0".
    pub(crate) fn procs_fd(&self) -> Result<OwnedFd> {
        let path = self.dir.join("cgroup.procs");
        OpenOptions::new()
            .write(true)
            .open(&path)
            .map(OwnedFd::from)
            .map_err(|e| Error::from_io(ErrorKind::Io, format!("opening {}", path.display()), &e))
    }

    /// The leaf's folder, opened as a path (what `CLONE_INTO_CGROUP` takes).
    pub(crate) fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir_fd.as_fd()
    }

    /// Has the kernel tell `cgroup.events` watchers of a change in the
    /// leaf now, and lets the kernel worker that tells them run, so that
    /// the fork into the leaf that follows wakes no worker beside its child.
    ///
    /// Why: when an empty cgroup gets a process, the kernel tells its
    /// `cgroup.events` watchers from a worker it queues on the CPU of the
    /// process that forks. Runnable there when the child is placed, that
    /// worker makes the scheduler start the command on another CPU far more
    /// often than a plain `posix_spawn`'s child (started on the caller's
    /// CPU in 25-75% of forks against 87-95%, in a C reproduction); then
    /// every write to its stdin and every read of its stdout wakes a CPU,
    /// and an interactive exchange is slower. The kernel tells a cgroup's
    /// watchers at most once per 10 ms (`CGROUP_FILE_NOTIFY_MIN_INTV`) and
    /// tells a later change from a timer. Freezing and thawing the empty
    /// leaf is such a change: made here, its worker runs when this thread
    /// yields, and the fork's notice is left to the timer.
    ///
    /// 1,000 lines through `cat`, one at a time, from Python, as root on 2
    /// CPUs: a median of 25.0-28.2 ms against `subprocess.Popen`'s
    /// 25.6-28.3 ms in the same process (0.96-1.01x); 34.3-36.7 ms without
    /// this (1.27-1.35x). On a later day, paired run by run against
    /// `Popen`: 0.99-1.02x with it, 1.06-1.07x without. Starting the child
    /// on the caller's CPU alone (pinned for the clone) does not do this:
    /// the command then moves to the other CPU at its first wake-ups.
    ///
    /// Skipped where the leaf was given back less than 5 ms before (its
    /// emptying was just told, so the fork's notice comes from the timer
    /// anyway: back-to-back spawns pay nothing), and where the kernel has
    /// no `cgroup.freeze` (before Linux 5.2). It costs about 6 us otherwise,
    /// plus what the yield gives to other runnable tasks on a busy CPU:
    /// `run(["true"])` every 20 ms with both CPUs kept busy took 1.00-1.01x
    /// `subprocess.run` with it, 0.99-1.00x without. Without the yield the
    /// worker often still runs beside the child: the round trip above was
    /// 1.03-1.05x `Popen` on average.
    ///
    /// Errors: the leaf was frozen and could not be thawed (a child forked
    /// into it would never run); it is then not reused.
    pub(crate) fn settle_populated_notice(&self) -> Result<()> {
        const TOLD_RECENTLY: Duration = Duration::from_millis(5);
        if self.version != Version::V2 || self.emptied.is_some_and(|t| t.elapsed() < TOLD_RECENTLY)
        {
            return Ok(());
        }
        let Ok(fd) = openat(
            &self.dir_fd,
            "cgroup.freeze",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            return Ok(());
        };
        let freeze = File::from(fd);
        if freeze.write_at(b"1", 0).is_err() {
            return Ok(());
        }
        freeze.write_at(b"0", 0).map_err(|e| {
            self.retired.store(true, Ordering::Relaxed);
            Error::from_io(
                ErrorKind::Spawn,
                format!("thawing the cgroup {}", self.dir.display()),
                &e,
            )
        })?;
        drop(freeze);
        // SAFETY: no arguments; it only gives up the CPU.
        unsafe { libc::sched_yield() };
        Ok(())
    }

    /// Opens the control files the end of a spawn reads (`cpu.stat`,
    /// `cgroup.events`), while its command starts: its end then only reads
    /// them.
    pub(crate) fn open_controls(&self) {
        self.control(&self.stat, "cpu.stat");
        self.control(&self.events, "cgroup.events");
    }

    fn control<'a>(&self, slot: &'a OnceLock<Option<File>>, name: &str) -> Option<&'a File> {
        slot.get_or_init(|| {
            openat(
                &self.dir_fd,
                name,
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()
            .map(File::from)
        })
        .as_ref()
    }

    /// Reads the control file `name` into `buf`, keeping it open in `slot`.
    fn read_control<'a>(
        &self,
        slot: &OnceLock<Option<File>>,
        name: &str,
        buf: &'a mut [u8],
    ) -> Option<&'a str> {
        let file = self.control(slot, name)?;
        // cgroup files are generated whole on a read from offset 0: one
        // system call, no size query.
        let n = file.read_at(buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()
    }

    /// Kills every process in the leaf and removes it, waiting up to
    /// `within` for the kernel to finish.
    pub(crate) fn remove(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    self.kill_all();
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => {
                    return Err(Error::from_io(
                        ErrorKind::Io,
                        format!("removing the cgroup {}", self.dir.display()),
                        &e,
                    ))
                }
            }
        }
    }

    /// SIGKILLs every process in the leaf.
    pub(crate) fn kill_all(&self) {
        self.retired.store(true, Ordering::Relaxed);
        if self.version == Version::V2 && self.write("cgroup.kill", "1").is_ok() {
            return;
        }
        if let Ok(text) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill takes plain integers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = self.remove(Duration::from_secs(2));
        }
    }
}

/// Where per-spawn leaves can be made to contain a tree: the caller's own
/// cgroup v2 folder, when it may create children there (root, or a
/// delegated subtree). Probed once per process by making one.
pub(crate) fn containment() -> Option<&'static Hierarchy> {
    static FOUND: std::sync::OnceLock<Option<Hierarchy>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let h = find("")?;
            let probe = Leaf::create(&h, "probing cgroup containment").ok()?;
            drop(probe);
            Some(h)
        })
        .as_ref()
}

/// Empty leaves kept for the next spawns: making and removing a cgroup costs
/// more than the rest of a spawn's bookkeeping together. Each carries a
/// record, so a crashed process's idle leaves are removed too.
///
/// The leaf given back last stays open (its folder and its two control
/// files): the next spawn, in a caller that spawns one command after
/// another, then opens nothing, where three opens and closes on the cgroup
/// file system cost about a tenth of what the library adds to a spawn.
/// The others hold no fd, so that the caller's fd count after its spawns
/// ended is the same whatever their number: that of the open one.
static POOL: std::sync::Mutex<Pool> = std::sync::Mutex::new(Pool {
    pid: 0,
    leaves: Vec::new(),
});

/// The pool and the process it belongs to.
struct Pool {
    pid: u32,
    leaves: Vec<(Pooled, crate::record::Record)>,
}

/// The pool of this process, locked. A fork's child inherits its parent's
/// pool, whose leaves the parent goes on using: the child forgets them
/// (removing nothing) and makes its own.
fn pool() -> std::sync::MutexGuard<'static, Pool> {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if pool.pid != pid {
        for (pooled, record) in pool.leaves.drain(..) {
            if let Pooled::Open(mut leaf) = pooled {
                // The parent's: dropped without removing it.
                leaf.dir = PathBuf::new();
            }
            // The parent's record, which the child's store does not hold.
            record.keep();
        }
        pool.pid = pid;
    }
    pool
}

/// A leaf in the pool: the last one given back still open, the others as
/// folders only.
enum Pooled {
    Open(Leaf),
    Closed(Idle),
}

impl Pooled {
    /// Keeps the leaf as a folder only, closing its fds.
    fn close(&mut self) {
        if let Pooled::Open(leaf) = self {
            let idle = Idle {
                version: leaf.version,
                // Taken out of the leaf, whose drop then removes nothing.
                dir: std::mem::take(&mut leaf.dir),
                cpu_base: leaf.cpu_base,
                emptied: leaf.emptied,
            };
            *self = Pooled::Closed(idle);
        }
    }

    /// Opens the leaf again, if it can be (else it stays a folder, opened
    /// when taken, which then names the problem).
    fn open(&mut self) {
        if let Pooled::Closed(idle) = self {
            let taken = Idle {
                dir: std::mem::take(&mut idle.dir),
                ..*idle
            };
            match taken.reopen() {
                Ok(leaf) => {
                    leaf.open_controls();
                    *self = Pooled::Open(leaf);
                }
                Err(dir) => idle.dir = dir,
            }
        }
    }
}

/// After a leaf was removed rather than given back: the pool's open leaf,
/// if that was the one, is replaced, by the leaf given back last before it
/// or by a new one, so that the caller's fd count is the same as before
/// that spawn. Only killed trees come here, whose end costs more anyway.
fn replace_open_leaf() {
    let mut pool = pool();
    if let Some((top, _)) = pool.leaves.last_mut() {
        top.open();
        return;
    }
    let Some(leaf) = containment().and_then(|h| Leaf::create(h, "replacing a cgroup").ok()) else {
        return;
    };
    leaf.open_controls();
    let record = crate::record::Record::begin_idle(&[crate::record::Line::Cgroup(&leaf.dir)]);
    pool.leaves.push((Pooled::Open(leaf), record));
}

/// A leaf in the pool, without fds.
struct Idle {
    version: Version,
    dir: PathBuf,
    /// Its `cpu.stat` counts when it was given back, where known.
    cpu_base: Option<(u64, u64)>,
    /// When it was given back.
    emptied: Option<Instant>,
}

impl Idle {
    /// The leaf again, with what it knew when given back; its folder if it
    /// cannot be opened.
    fn reopen(self) -> std::result::Result<Leaf, PathBuf> {
        let mut leaf = Leaf::open(self.version, self.dir, self.cpu_base).map_err(|(dir, _)| dir)?;
        leaf.emptied = self.emptied;
        Ok(leaf)
    }
}

/// Idle leaves kept at most.
const POOL_SIZE: usize = 16;

impl Leaf {
    /// An empty leaf in `h`, from the pool or new, for a spawn that
    /// measures its CPU time or not.
    pub(crate) fn take(h: &Hierarchy, measure_cpu: bool) -> Result<Leaf> {
        let mut leaf = Leaf::take_any(h)?;
        leaf.measure_cpu = measure_cpu;
        if measure_cpu && leaf.cpu_base.is_none() {
            leaf.cpu_base = leaf.cpu_usec();
        }
        Ok(leaf)
    }

    fn take_any(h: &Hierarchy) -> Result<Leaf> {
        let pooled = pool().leaves.pop();
        if let Some((pooled, record)) = pooled {
            let stale = match pooled {
                // Not checked again: a leaf removed from outside while idle
                // fails its spawn, which then tries a new one (see `gone`).
                Pooled::Open(leaf) if leaf.dir.starts_with(&h.dir) => return Ok(leaf),
                Pooled::Open(mut leaf) => std::mem::take(&mut leaf.dir),
                Pooled::Closed(idle) if idle.dir.starts_with(&h.dir) => match idle.reopen() {
                    Ok(leaf) => return Ok(leaf),
                    Err(dir) => dir,
                },
                Pooled::Closed(idle) => idle.dir,
            };
            // Gone, or elsewhere: the record stays if it cannot be removed.
            match std::fs::remove_dir(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => record.keep(),
                _ => drop(record),
            }
        }
        Leaf::create(h, "containing the command's tree")
    }

    /// `cpu.stat`'s user and system microseconds (cgroup v2 keeps them for
    /// every cgroup, whatever controllers are enabled).
    fn cpu_usec(&self) -> Option<(u64, u64)> {
        let mut buf = [0u8; 1024];
        let text = self.read_control(&self.stat, "cpu.stat", &mut buf)?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        let got = (field("user_usec ")?, field("system_usec ")?);
        *self.cpu_last.lock().unwrap_or_else(|p| p.into_inner()) = Some(got);
        Some(got)
    }

    /// The CPU time the leaf's processes used since it was taken: the whole
    /// tree, orphans included. None for a spawn that does not measure it.
    pub(crate) fn cpu_used(&self) -> Option<(Duration, Duration)> {
        let (u0, s0) = self.cpu_base.filter(|_| self.measure_cpu)?;
        let (u, s) = self.cpu_usec()?;
        Some((
            Duration::from_micros(u.saturating_sub(u0)),
            Duration::from_micros(s.saturating_sub(s0)),
        ))
    }

    /// Whether a process is left in the leaf (`cgroup.events` of v2).
    pub(crate) fn populated(&self) -> bool {
        self.events_populated()
            .unwrap_or_else(|| self.procs_populated())
    }

    /// Whether `cgroup.procs` lists a process (where `cgroup.events` cannot
    /// be read).
    fn procs_populated(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|p| !p.trim().is_empty())
            .unwrap_or(false)
    }

    /// Whether the leaf was removed from outside (its files answer ENODEV
    /// and its folder is gone).
    pub(crate) fn gone(&self) -> bool {
        self.gone_by(self.events_populated())
    }

    /// [`gone`](Leaf::gone), given a reading of `cgroup.events`.
    fn gone_by(&self, events: Option<bool>) -> bool {
        events.is_none() && !self.dir.exists()
    }

    /// What `cgroup.events` says of a process left in the leaf; None when
    /// it cannot be read (no such file, or the leaf is gone).
    fn events_populated(&self) -> Option<bool> {
        let mut buf = [0u8; 256];
        let events = self.read_control(&self.events, "cgroup.events", &mut buf)?;
        Some(events.lines().any(|l| l == "populated 1"))
    }

    /// Ends what is left in the leaf, and gives it back to the pool once
    /// empty (or removes it).
    pub(crate) fn finish(self) -> Result<()> {
        let events = self.events_populated();
        if self.gone_by(events) {
            // Removed from outside: nothing to give back.
            drop(self);
            replace_open_leaf();
            return Ok(());
        }
        // Empty already: the last reading (the wait's) is where the next
        // spawn's counts start; a spawn that measured nothing leaves them
        // unknown, for the next one that does to read.
        let mut base = self
            .cpu_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut populated = events.unwrap_or_else(|| self.procs_populated());
        if populated {
            base = None;
            self.kill_all();
            let deadline = Instant::now() + Duration::from_secs(2);
            while populated && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                populated = self.populated();
            }
        }
        if populated || self.retired.load(Ordering::Relaxed) {
            let removed = self.remove(Duration::from_secs(2));
            drop(self);
            replace_open_leaf();
            return removed;
        }
        let mut leaf = self;
        leaf.cpu_base = base.or_else(|| leaf.measure_cpu.then(|| leaf.cpu_usec()).flatten());
        *leaf.cpu_last.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
        leaf.emptied = Some(Instant::now());
        let mut pool = pool();
        if pool.leaves.len() < POOL_SIZE {
            let record =
                crate::record::Record::begin_idle(&[crate::record::Line::Cgroup(&leaf.dir)]);
            if let Some((top, _)) = pool.leaves.last_mut() {
                top.close();
            }
            pool.leaves.push((Pooled::Open(leaf), record));
            Ok(())
        } else {
            drop(pool);
            leaf.remove(Duration::from_secs(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
29 22 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
30 29 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
38 29 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,pids
39 29 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,memory
";
    const CGROUPS: &str = "8:pids:/user.slice\n4:memory:/a/b\n0::/user.slice/session-1.scope\n";

    #[test]
    fn hybrid_hierarchies_are_found_from_mountinfo() {
        let pids = find_in(HYBRID, CGROUPS, "pids").unwrap();
        assert_eq!(pids.version, Version::V1);
        assert_eq!(pids.dir, Path::new("/sys/fs/cgroup/pids/user.slice"));
        let v2 = find_in(HYBRID, CGROUPS, "").unwrap();
        assert_eq!(v2.version, Version::V2);
        assert_eq!(
            v2.dir,
            Path::new("/sys/fs/cgroup/unified/user.slice/session-1.scope")
        );
        assert!(find_in(HYBRID, CGROUPS, "cpu").is_none());
    }
}
