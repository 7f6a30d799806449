//! The crash-safe record of what each spawn made, and the watchdog that
//! acts on it when the caller dies.
//!
//! Before a spawn creates anything that can outlive the caller (a profile
//! file, a container, a cgroup, a process tree) it writes what that will
//! be, and how to end or remove it, into a slot of its owner's file,
//! `<runtime folder>/<pid>-<start time>.owner`; the wait frees the slot
//! with the resources. The runtime folder is
//! `$XDG_RUNTIME_DIR/restricted-runner`, else `/run/restricted-runner` for
//! root, else a private folder under the temp folder.
//!
//! The file is mapped shared: writing a slot is a few stores, no system
//! call, and the kernel keeps what was written when the process dies. Its
//! layout, which the helper program reads (src/helper_program/reclaim.rs):
//! a 4 KiB text header (`restricted-runner owner 1`, then `machine`,
//! `boot`, `pid`, `start` lines), then 1 KiB slots of `[state: u32 LE]
//! [length: u32 LE][text]`, state 1 meaning in use. The text is lines of
//! `verb args...`, arguments %XX-escaped:
//!
//! - `spawn KIND` marks the record of one spawn;
//! - `cgroup PATH`: kill every process in it, then remove it;
//! - `pid PID FROM TO`: SIGKILL PID and its process group if it is still
//!   the process that started between clock ticks FROM and TO;
//! - `env KEY=VALUE` then `run ARG...`: run a command (container removal);
//! - `unlink PATH`: remove a file;
//! - `spill NAME`: the record did not fit, it is in that file of the folder.
//!
//! Each process has a watchdog: the helper program in `watch` mode, started
//! with the first runner. It first reclaims what owners that are already
//! dead left, then sleeps on the caller's pidfd and, when the caller dies
//! (however it dies), ends and removes everything the caller's record
//! holds. [`gc`] does the same from any process for every dead owner, for
//! when the watchdog died too.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::owner::Owner;

const HEADER: usize = 4096;
const SLOT: usize = 1024;
const TEXT: usize = SLOT - 8;
const INITIAL_SLOTS: usize = 256;

/// The folder this user's records live in, made private if new.
pub(crate) fn runtime_dir() -> Result<PathBuf> {
    let euid = nix::unistd::geteuid().as_raw();
    let candidates: Vec<PathBuf> = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(x) if !x.is_empty() && Path::new(&x).is_absolute() => {
            vec![Path::new(&x).join("restricted-runner")]
        }
        _ if euid == 0 => vec![PathBuf::from("/run/restricted-runner")],
        _ => Vec::new(),
    };
    let fallback = std::env::temp_dir().join(format!("restricted-runner-{euid}"));
    let mut last = None;
    for dir in candidates.into_iter().chain([fallback]) {
        match private_dir(&dir, euid) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::internal("no runtime folder candidate")))
}

/// Makes `dir` (mode 0700) if missing, and checks it is a real folder of
/// `euid` that nobody else can enter.
fn private_dir(dir: &Path, euid: u32) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::from_io(
                ErrorKind::Io,
                format!("creating the record folder {}", dir.display()),
                &e,
            ))
        }
    }
    let m = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::from_io(ErrorKind::Io, format!("checking {}", dir.display()), &e))?;
    if !m.is_dir() || m.uid() != euid || m.permissions().mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the record folder {} is not a private folder of uid {euid}",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// One line of a record.
pub(crate) enum Line<'a> {
    Spawn(&'a str),
    #[cfg(target_os = "linux")]
    Cgroup(&'a Path),
    Pid {
        pid: i32,
        from: u64,
        to: u64,
    },
    Env(&'a OsStr, &'a OsStr),
    Run(&'a [&'a OsStr]),
    Unlink(&'a Path),
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if b <= b' ' || b == b'%' || b >= 0x7f {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

impl Line<'_> {
    fn render(&self, out: &mut Vec<u8>) {
        match self {
            Line::Spawn(kind) => {
                out.extend_from_slice(b"spawn ");
                escape(out, kind.as_bytes());
            }
            #[cfg(target_os = "linux")]
            Line::Cgroup(p) => {
                out.extend_from_slice(b"cgroup ");
                escape(out, p.as_os_str().as_bytes());
            }
            Line::Pid { pid, from, to } => {
                out.extend_from_slice(format!("pid {pid} {from} {to}").as_bytes())
            }
            Line::Env(k, v) => {
                out.extend_from_slice(b"env ");
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                escape(out, &kv);
            }
            Line::Run(args) => {
                out.extend_from_slice(b"run");
                for a in *args {
                    out.push(b' ');
                    escape(out, a.as_bytes());
                }
            }
            Line::Unlink(p) => {
                out.extend_from_slice(b"unlink ");
                escape(out, p.as_os_str().as_bytes());
            }
        }
        out.push(b'\n');
    }
}

/// The text of `lines`.
pub(crate) fn render(lines: &[Line<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        l.render(&mut out);
    }
    out
}

/// This process's owner file, mapped.
struct Store {
    dir: PathBuf,
    path: PathBuf,
    _file: File,
    map: *mut u8,
    slots: usize,
    free: Vec<usize>,
    owner: Owner,
    watchdog: Option<libc::pid_t>,
    spills: u64,
}

// SAFETY: the mapping is only touched under the STORE mutex.
unsafe impl Send for Store {}

impl Store {
    fn open(owner: Owner) -> Result<Store> {
        let dir = runtime_dir()?;
        let path = dir.join(format!("{}-{}.owner", owner.pid, owner.start));
        // Made whole under a name reclaimers skip, then renamed into place:
        // a reclaimer never reads a half-written header.
        let new = dir.join(format!("{}-{}.new", owner.pid, owner.start));
        let made = Store::make(&new, owner, dir.clone(), path.clone()).and_then(|store| {
            std::fs::rename(&new, &path)
                .map_err(|e| Store::io_error("placing the record", &path, e))?;
            Ok(store)
        });
        if made.is_err() {
            let _ = std::fs::remove_file(&new);
        }
        made
    }

    fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
        Error::from_io(ErrorKind::Io, format!("{what} {}", path.display()), &e)
    }

    /// The store's file at `at`, with its header and first slots.
    fn make(at: &Path, owner: Owner, dir: PathBuf, path: PathBuf) -> Result<Store> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(at)
            .map_err(|e| Store::io_error("creating the record", at, e))?;
        let mut header = format!(
            "restricted-runner owner 1\nmachine {}\nboot {}\npid {}\nstart {}\n",
            owner.machine, owner.boot, owner.pid, owner.start
        )
        .into_bytes();
        header.resize(HEADER, 0);
        file.write_all(&header)
            .map_err(|e| Store::io_error("writing the record", at, e))?;
        let mut store = Store {
            dir,
            path,
            _file: file,
            map: std::ptr::null_mut(),
            slots: 0,
            free: Vec::new(),
            owner,
            watchdog: None,
            spills: 0,
        };
        store.grow(INITIAL_SLOTS)?;
        Ok(store)
    }

    fn len(slots: usize) -> usize {
        HEADER + slots * SLOT
    }

    /// Maps the file with room for `slots` slots.
    fn grow(&mut self, slots: usize) -> Result<()> {
        let len = Store::len(slots);
        self._file
            .set_len(len as u64)
            .map_err(|e| Error::from_io(ErrorKind::Io, "growing the record", &e))?;
        // SAFETY: maps our own file shared; the old mapping (if any) is
        // unmapped only after the new one exists, and no pointer into it
        // outlives the STORE lock.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self._file.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(Error::from_errno(
                ErrorKind::Io,
                "mapping the record",
                Errno::last(),
            ));
        }
        if !self.map.is_null() {
            // SAFETY: the old mapping, of the old length.
            unsafe { libc::munmap(self.map as *mut libc::c_void, Store::len(self.slots)) };
        }
        self.map = map as *mut u8;
        self.free.extend((self.slots..slots).rev());
        self.slots = slots;
        Ok(())
    }

    fn slot(&mut self, i: usize) -> &mut [u8] {
        // SAFETY: i < slots, inside the live mapping.
        unsafe { std::slice::from_raw_parts_mut(self.map.add(HEADER + i * SLOT), SLOT) }
    }

    /// Writes `text` into slot `i` (length after text, state last, so a
    /// crash leaves either the old record or the new one).
    fn write(&mut self, i: usize, text: &[u8]) {
        let s = self.slot(i);
        s[8..8 + text.len()].copy_from_slice(text);
        s[4..8].copy_from_slice(&(text.len() as u32).to_le_bytes());
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        s[0..4].copy_from_slice(&1u32.to_le_bytes());
    }

    fn clear(&mut self, i: usize) {
        let s = self.slot(i);
        s[0..4].copy_from_slice(&0u32.to_le_bytes());
        self.free.push(i);
    }

    /// Puts `text` in a free slot (spilling into a file of its own when it
    /// does not fit one).
    fn put(&mut self, text: &[u8]) -> Result<usize> {
        if self.free.is_empty() {
            let more = self.slots * 2;
            self.grow(more)?;
        }
        let i = self
            .free
            .pop()
            .ok_or_else(|| Error::internal("no free record slot"))?;
        let text = if text.len() > TEXT {
            self.spills += 1;
            let name = format!(
                "{}-{}.{}.spill",
                self.owner.pid, self.owner.start, self.spills
            );
            let spill = self.dir.join(&name);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&spill)
                .and_then(|mut f| f.write_all(text))
                .map_err(|e| {
                    Error::from_io(ErrorKind::Io, format!("writing {}", spill.display()), &e)
                })?;
            render(&[Line::Unlink(&spill)])
                .into_iter()
                .chain(format!("spill {name}\n").into_bytes())
                .collect()
        } else {
            text.to_vec()
        };
        self.write(i, &text);
        Ok(i)
    }

    fn append(&mut self, i: usize, more: &[u8]) {
        let s = self.slot(i);
        let len = u32::from_le_bytes([s[4], s[5], s[6], s[7]]) as usize;
        if len + more.len() <= TEXT {
            s[8 + len..8 + len + more.len()].copy_from_slice(more);
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            s[4..8].copy_from_slice(&((len + more.len()) as u32).to_le_bytes());
        }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Starts the watchdog if it is not running (it may have been killed).
    fn ensure_watchdog(&mut self) {
        if let Some(pid) = self.watchdog {
            let mut status = 0;
            // SAFETY: polls our own child without blocking.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
                return;
            }
        }
        self.watchdog = start_watchdog(&self.dir, &self.file_name()).ok();
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.map.is_null() {
            // SAFETY: our mapping, of its length.
            unsafe { libc::munmap(self.map as *mut libc::c_void, Store::len(self.slots)) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_watchdog(_dir: &Path, _file: &str) -> Result<libc::pid_t> {
    Err(Error::requirements("the watchdog needs Linux"))
}

#[cfg(target_os = "linux")]
fn start_watchdog(dir: &Path, file: &str) -> Result<libc::pid_t> {
    let pidfd = crate::helper::caller_pidfd()?;
    let helper = crate::helper::helper_fd()?;
    let mut p = crate::helper::program(
        "restricted-runner-watchdog",
        [OsStr::new("watch"), dir.as_os_str(), OsStr::new(file)],
        4,
    )?;
    p.new_session();
    // SAFETY: a live fd of this process, only borrowed for the spawn.
    let caller = unsafe { std::os::fd::BorrowedFd::borrow_raw(pidfd) };
    let spawned = p.spawn_with_fds(&[caller, helper])?;
    Ok(spawned.child.pid())
}

/// The store, or why there is none; made again after a fork.
static STORE: Mutex<Option<std::result::Result<Store, Error>>> = Mutex::new(None);

fn with_store<T>(f: impl FnOnce(&mut Store) -> T) -> std::result::Result<T, Error> {
    if !cfg!(target_os = "linux") {
        // Nothing reads records elsewhere: there is no helper to act on them.
        return Err(Error::requirements("spawn records need Linux"));
    }
    let mut guard = STORE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id() as i32;
    let stale = matches!(guard.as_ref(), Some(Ok(s)) if s.owner.pid != pid);
    if stale || guard.is_none() {
        // A fork's child: the parent's mapping and watchdog are not ours;
        // dropping the store only unmaps this process's view of the file.
        drop(guard.take());
        let mut store = Store::open(Owner::current());
        if let Ok(s) = store.as_mut() {
            s.ensure_watchdog();
        }
        *guard = Some(store);
    }
    match guard.as_mut() {
        Some(Ok(s)) => Ok(f(s)),
        Some(Err(e)) => Err(e.clone()),
        None => Err(Error::internal("no record store")),
    }
}

/// Makes the record store and its watchdog now (at the first runner), so
/// that the first spawn does not pay for them, and dead owners' leftovers
/// are reclaimed in the background.
pub(crate) fn ensure() {
    let _ = with_store(|s| s.ensure_watchdog());
}

/// The record of one spawn: freed when dropped, kept (so that the
/// watchdog or `gc` reclaims it later) with [`Record::keep`].
#[derive(Debug)]
pub(crate) struct Record {
    slot: Option<usize>,
    pid: u32,
}

impl Record {
    /// Records `lines`, what a spawn is about to create. A system where no
    /// record can be written (no private runtime folder) gets an empty
    /// record, as does one without the helper program.
    pub(crate) fn begin(lines: &[Line<'_>]) -> Record {
        Record::make(lines, true)
    }

    /// Records `lines` for something idle between spawns (a pooled
    /// cgroup): the watchdog was checked by the spawn that used it.
    #[cfg(target_os = "linux")]
    pub(crate) fn begin_idle(lines: &[Line<'_>]) -> Record {
        Record::make(lines, false)
    }

    fn make(lines: &[Line<'_>], watch: bool) -> Record {
        let text = render(lines);
        let made = with_store(|s| {
            if watch {
                s.ensure_watchdog();
            }
            s.put(&text).map(|slot| (slot, s.owner.pid as u32))
        });
        match made {
            Ok(Ok((slot, pid))) => Record {
                slot: Some(slot),
                pid,
            },
            _ => Record {
                slot: None,
                pid: std::process::id(),
            },
        }
    }

    /// Adds a line (a pid, once the spawn made it).
    pub(crate) fn add(&self, line: Line<'_>) {
        if let Some(i) = self.slot {
            let text = render(&[line]);
            let _ = with_store(|s| {
                if s.owner.pid as u32 == self.pid {
                    s.append(i, &text)
                }
            });
        }
    }

    /// Leaves the record in place: what it names could not be removed, and
    /// the watchdog or `gc` will try again once this process is gone.
    pub(crate) fn keep(mut self) {
        self.slot = None;
    }

    /// Whether the spawn is recorded.
    pub(crate) fn is_recorded(&self) -> bool {
        self.slot.is_some()
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            let _ = with_store(|s| {
                if s.owner.pid as u32 == self.pid {
                    s.clear(i)
                }
            });
        }
    }
}

/// Nothing is recorded on this system.
#[cfg(not(target_os = "linux"))]
pub(crate) fn gc() -> Result<u32> {
    Ok(0)
}

/// Reclaims everything recorded by owners that are dead: kills leftover
/// processes, removes containers, profile files and cgroups. Never touches
/// a live owner's spawns. Returns how many spawns were reclaimed.
#[cfg(target_os = "linux")]
pub(crate) fn gc() -> Result<u32> {
    let dir = runtime_dir()?;
    let mut p = crate::helper::program(
        "restricted-runner-gc",
        [OsStr::new("reclaim"), dir.as_os_str(), OsStr::new("*")],
        3,
    )?;
    p.stdio([
        crate::spawn::Stdio::Null,
        crate::spawn::Stdio::Pipe,
        crate::spawn::Stdio::Null,
    ]);
    let spawned = p.spawn_with_fds(&[crate::helper::helper_fd()?])?;
    let process = crate::process::Process::new(spawned, Box::new(crate::process::PlainGuard));
    let out = crate::output::collect(process, Some(std::time::Duration::from_secs(300)))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "the reclaimer said {:?} ({})",
                    String::from_utf8_lossy(&out.stdout),
                    out.status
                ),
            )
        })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped_one_per_line() {
        let args = [
            OsStr::new("/usr/bin/podman"),
            OsStr::new("rm"),
            OsStr::new("a b%c\n"),
        ];
        let text = render(&[
            Line::Spawn("docker"),
            Line::Env(OsStr::new("DOCKER_HOST"), OsStr::new("unix:///x y")),
            Line::Run(&args),
            Line::Pid {
                pid: 42,
                from: 7,
                to: 9,
            },
            Line::Cgroup(Path::new("/sys/fs/cgroup/x")),
            Line::Unlink(Path::new("/tmp/é")),
        ]);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "spawn docker\nenv DOCKER_HOST=unix:///x%20y\nrun /usr/bin/podman rm a%20b%25c%0A\n\
             pid 42 7 9\ncgroup /sys/fs/cgroup/x\nunlink /tmp/%C3%A9\n"
        );
    }
}
