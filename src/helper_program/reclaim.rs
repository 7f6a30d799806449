//! `watch` and `reclaim`: ending and removing what the spawns of a dead
//! caller left behind, from the crash-safe record the library keeps of them
//! (src/record.rs describes the owner file this reads).
//!
//! - `watch DIR FILE` (fd 3: the caller's pidfd): the caller's watchdog.
//!   It first reclaims the records of owners that are already dead, then
//!   sleeps until the caller dies, however it dies, and reclaims its record
//!   at once: processes killed, containers removed, files and cgroups gone.
//! - `reclaim DIR FILE`: reclaims one dead owner's record now (the
//!   library's `rr_gc` runs this), printing how many spawns it reclaimed.
//!
//! A record is claimed before it is acted on, by renaming it to a name
//! carrying the claimer's pid and start time, so two reclaimers never act
//! on the same one, and one that died half-way is taken over by the next.

use crate::sys::{self, nr, sys, PollFd};

const HEADER: usize = 4096;
const SLOT: usize = 1024;
const MAGIC: &[u8] = b"restricted-runner owner 1\n";
const OWNER_SUFFIX: &[u8] = b".owner";
const CLAIM_MARK: &[u8] = b".reclaim-";
/// A record being made (its header written, nothing recorded in it yet),
/// renamed to `.owner` once whole.
const NEW_SUFFIX: &[u8] = b".new";

/// Room for one owner file (it grows with the number of spawns alive at
/// once: 4 MiB is 4000 of them); only the pages used are touched.
static mut FILE: [u8; 4 << 20] = [0; 4 << 20];
/// Room for a command line to run and its environment.
static mut EXEC: [u8; 64 << 10] = [0; 64 << 10];

/// A NUL-terminated path built in a buffer.
struct PathBuf {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf {
    fn new() -> Self {
        PathBuf {
            buf: [0; 4096],
            len: 0,
        }
    }

    fn push(&mut self, part: &[u8]) -> &mut Self {
        let n = part.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&part[..n]);
        self.len += n;
        self.buf[self.len] = 0;
        self
    }

    fn of(parts: &[&[u8]]) -> Self {
        let mut p = PathBuf::new();
        for part in parts {
            p.push(part);
        }
        p
    }

    fn ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn open(path: &PathBuf, flags: usize) -> isize {
    sys!(nr::OPENAT, sys::AT_FDCWD, path.ptr(), flags | sys::O_CLOEXEC, 0)
}

fn close(fd: isize) {
    if fd >= 0 {
        sys!(nr::CLOSE, fd);
    }
}

/// Reads the file at `path` into `buf`; the length read.
fn read_file(path: &PathBuf, buf: &mut [u8]) -> Option<usize> {
    let fd = open(path, sys::O_RDONLY);
    if fd < 0 {
        return None;
    }
    let mut got = 0;
    while got < buf.len() {
        let n = sys!(nr::READ, fd, buf[got..].as_mut_ptr(), buf.len() - got);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    close(fd);
    Some(got)
}

fn write_file(path: &PathBuf, data: &[u8]) -> bool {
    let fd = open(path, sys::O_WRONLY);
    if fd < 0 {
        return false;
    }
    let ok = sys::write_all(fd as i32, data);
    close(fd);
    ok
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    Some(v)
}

fn format_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &out[i..];
        }
    }
}

/// Undoes the record's %XX escapes in place; the new length.
fn unescape(s: &mut [u8]) -> usize {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let (mut r, mut w) = (0, 0);
    while r < s.len() {
        let b = s[r];
        if b == b'%' && r + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[r + 1]), hex(s[r + 2])) {
                s[w] = h * 16 + l;
                w += 1;
                r += 3;
                continue;
            }
        }
        s[w] = b;
        w += 1;
        r += 1;
    }
    w
}

/// The start time of a live `pid` (clock ticks since boot), from /proc;
/// None when it is gone or a zombie (dead, waiting to be reaped: where the
/// system's init does not reap orphans, a dead owner stays one).
fn start_time(pid: u64) -> Option<u64> {
    start_time_of(pid, false)
}

/// The start time of `pid`, a zombie's too when `zombies`.
fn start_time_of(pid: u64, zombies: bool) -> Option<u64> {
    let mut digits = [0u8; 20];
    let path = PathBuf::of(&[b"/proc/", format_u64(pid, &mut digits), b"/stat"]);
    let mut buf = [0u8; 1024];
    let n = read_file(&path, &mut buf)?;
    let stat = &buf[..n];
    let close_paren = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close_paren + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let dead = matches!(fields.next(), Some(b"Z") | Some(b"X"));
    if dead && !zombies {
        return None;
    }
    // Field 22 of the line, the 20th after the state.
    fields.nth(18).and_then(parse_u64)
}

fn boot_id(out: &mut [u8; 64]) -> &[u8] {
    let n = read_file(&PathBuf::of(&[b"/proc/sys/kernel/random/boot_id"]), out).unwrap_or(0);
    let mut s = &out[..n];
    while let [rest @ .., b'\n'] = s {
        s = rest;
    }
    s
}

fn header_field<'a>(header: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(key)?;
        rest.strip_prefix(b" ")
    })
}

/// Whether the owner a header describes is gone: of an earlier boot, or
/// its pid no longer that process.
fn owner_gone(header: &[u8]) -> bool {
    let mut b = [0u8; 64];
    let boot = boot_id(&mut b);
    if header_field(header, b"boot") != Some(boot) {
        return true;
    }
    let pid = header_field(header, b"pid").and_then(parse_u64);
    let start = header_field(header, b"start").and_then(parse_u64);
    match (pid, start) {
        (Some(pid), Some(start)) => start_time(pid) != Some(start),
        _ => true,
    }
}

/// Kills every process of a cgroup and removes it, within 2 s.
fn end_cgroup(path: &[u8]) {
    let kill_file = PathBuf::of(&[path, b"/cgroup.kill"]);
    let procs = PathBuf::of(&[path, b"/cgroup.procs"]);
    let dir = PathBuf::of(&[path]);
    let deadline = sys::now_ms() + 2000;
    loop {
        if !write_file(&kill_file, b"1") {
            // cgroup v1: no cgroup.kill.
            let mut buf = [0u8; 8192];
            if let Some(n) = read_file(&procs, &mut buf) {
                for line in buf[..n].split(|&b| b == b'\n') {
                    if let Some(pid) = parse_u64(line) {
                        sys!(nr::KILL, pid, sys::SIGKILL);
                    }
                }
            }
        }
        let rc = sys!(nr::UNLINKAT, sys::AT_FDCWD, dir.ptr(), sys::AT_REMOVEDIR);
        if rc == 0 || rc == -sys::ENOENT || sys::now_ms() >= deadline {
            return;
        }
        sys::sleep_ms(5);
    }
}

/// SIGKILLs `pid` and the process group it leads, if it is still the
/// process that started between `from` and `to` (clock ticks).
fn end_process(pid: u64, from: u64, to: u64) {
    if pid <= 1 {
        return;
    }
    // A zombie still leads its process group.
    match start_time_of(pid, true) {
        Some(s) if s >= from && s <= to => {
            sys!(nr::KILL, -(pid as isize), sys::SIGKILL);
            sys!(nr::KILL, pid, sys::SIGKILL);
        }
        _ => {}
    }
}

/// Runs `argv` (pointers, NULL-terminated) with the environment `envp`
/// (likewise), killing it after 30 s.
fn run(argv: &[*const u8], envp: &[*const u8]) {
    // A plain fork: this program's memory is small.
    let pid = sys!(nr::CLONE, sys::SIGCHLD, 0, 0, 0, 0);
    if pid == 0 {
        // What it prints is not ours to pass on: this program's stdout
        // carries the count `reclaim` reports.
        let null = open(&PathBuf::of(&[b"/dev/null"]), sys::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                sys!(nr::DUP3, null, fd, 0);
            }
            if null > 2 {
                close(null);
            }
        }
        sys!(nr::EXECVE, argv[0], argv.as_ptr(), envp.as_ptr());
        sys::exit(127);
    }
    if pid < 0 {
        return;
    }
    let deadline = sys::now_ms() + 30_000;
    loop {
        let mut status = 0i32;
        let r = sys!(nr::WAIT4, pid, &mut status as *mut i32, sys::WNOHANG, 0);
        if r == pid || (r < 0 && r != -sys::EINTR) {
            return;
        }
        if sys::now_ms() >= deadline {
            sys!(nr::KILL, pid, sys::SIGKILL);
            sys!(nr::WAIT4, pid, &mut status as *mut i32, 0, 0);
            return;
        }
        sys::sleep_ms(10);
    }
}

/// Acts on one slot's record; true when it recorded a spawn.
fn reclaim_slot(text: &mut [u8], environ: &[*const u8], dir: &[u8]) -> bool {
    let mut spawn = false;
    // Lines are handled in three passes: processes first, then commands
    // (container removal), then files.
    for pass in 0..3 {
        let mut env: [*const u8; 64] = [core::ptr::null(); 64];
        let mut nenv = 0;
        for e in environ.iter().take_while(|p| !p.is_null()) {
            if nenv < env.len() - 17 {
                env[nenv] = *e;
                nenv += 1;
            }
        }
        // SAFETY: this program is single-threaded; EXEC is only used here.
        let exec = unsafe { &mut *core::ptr::addr_of_mut!(EXEC) };
        let mut used = 0;
        for line in text.split_mut(|&b| b == b'\n') {
            let mut words = [(0usize, 0usize); 64];
            let mut nwords = 0;
            let mut i = 0;
            while i < line.len() && nwords < words.len() {
                while i < line.len() && line[i] == b' ' {
                    i += 1;
                }
                let start = i;
                while i < line.len() && line[i] != b' ' {
                    i += 1;
                }
                if i > start {
                    words[nwords] = (start, i);
                    nwords += 1;
                }
            }
            if nwords == 0 {
                continue;
            }
            let verb = &line[words[0].0..words[0].1];
            // Unescaped copies of the arguments, NUL-terminated, in EXEC.
            let mut args: [*const u8; 64] = [core::ptr::null(); 64];
            let mut fields: [&[u8]; 8] = [&[]; 8];
            for (k, (s, e)) in words[1..nwords].iter().enumerate() {
                let len = e - s;
                if used + len + 1 > exec.len() {
                    break;
                }
                exec[used..used + len].copy_from_slice(&line[*s..*e]);
                let n = unescape(&mut exec[used..used + len]);
                exec[used + n] = 0;
                args[k] = exec[used..].as_ptr();
                if k < fields.len() {
                    // SAFETY: points into EXEC, which outlives this line.
                    fields[k] = unsafe { core::slice::from_raw_parts(exec.as_ptr().add(used), n) };
                }
                used += n + 1;
            }
            match (pass, verb) {
                (0, b"spawn") => spawn = true,
                (0, b"cgroup") => end_cgroup(fields[0]),
                (0, b"pid") => {
                    if let (Some(p), Some(f), Some(t)) =
                        (parse_u64(fields[0]), parse_u64(fields[1]), parse_u64(fields[2]))
                    {
                        end_process(p, f, t);
                    }
                }
                (1, b"env") if nenv < env.len() - 1 => {
                    env[nenv] = args[0];
                    nenv += 1;
                }
                (1, b"run") if !args[0].is_null() => {
                    env[nenv] = core::ptr::null();
                    run(&args, &env[..=nenv]);
                }
                (2, b"unlink") => {
                    let p = PathBuf::of(&[fields[0]]);
                    sys!(nr::UNLINKAT, sys::AT_FDCWD, p.ptr(), 0);
                }
                (2, b"spill") => {
                    // The record did not fit its slot: it is in a file.
                    let p = PathBuf::of(&[dir, b"/", fields[0]]);
                    let mut buf = [0u8; 16384];
                    if let Some(n) = read_file(&p, &mut buf) {
                        let inner = reclaim_slot(&mut buf[..n], environ, dir);
                        spawn |= inner;
                    }
                    sys!(nr::UNLINKAT, sys::AT_FDCWD, p.ptr(), 0);
                }
                _ => {}
            }
        }
    }
    spawn
}

/// Claims `dir/file` (renaming it to carry this process's identity) and
/// reclaims everything it records; the number of spawns reclaimed.
fn reclaim_owner(dir: &[u8], file: &[u8], environ: &[*const u8]) -> u64 {
    let mut me_digits = [0u8; 20];
    let mut start_digits = [0u8; 20];
    let me = sys!(nr::GETPID) as u64;
    let my_start = start_time(me).unwrap_or(0);
    // The record's base name, without any earlier claim.
    let base_len = file
        .windows(CLAIM_MARK.len())
        .position(|w| w == CLAIM_MARK)
        .unwrap_or(file.len());
    let base = &file[..base_len];
    let from = PathBuf::of(&[dir, b"/", file]);
    let claimed = PathBuf::of(&[
        dir,
        b"/",
        base,
        CLAIM_MARK,
        format_u64(me, &mut me_digits),
        b"-",
        format_u64(my_start, &mut start_digits),
    ]);
    if from.bytes() != claimed.bytes()
        && sys!(nr::RENAMEAT2, sys::AT_FDCWD, from.ptr(), sys::AT_FDCWD, claimed.ptr(), sys::RENAME_NOREPLACE) != 0
    {
        return 0;
    }
    // SAFETY: single-threaded; FILE is only used here.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(FILE) };
    let n = read_file(&claimed, buf).unwrap_or(0);
    let mut count = 0;
    if n >= HEADER && buf.starts_with(MAGIC) {
        let mut off = HEADER;
        while off + SLOT <= n {
            let slot = &mut buf[off..off + SLOT];
            let state = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
            let len = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]) as usize;
            if state == 1 && len <= SLOT - 8 && reclaim_slot(&mut slot[8..8 + len], environ, dir) {
                count += 1;
            }
            off += SLOT;
        }
    }
    sys!(nr::UNLINKAT, sys::AT_FDCWD, claimed.ptr(), 0);
    count
}

/// Reclaims the records in `dir` whose owners are dead (or whose earlier
/// reclaimer died), except `skip`.
fn sweep(dir: &[u8], skip: &[u8], environ: &[*const u8]) -> u64 {
    let d = PathBuf::of(&[dir]);
    let fd = open(&d, sys::O_RDONLY | sys::O_DIRECTORY);
    if fd < 0 {
        return 0;
    }
    let mut total = 0;
    let mut entries = [0u8; 32768];
    // Names first (reclaiming renames entries while the folder is read).
    let mut names = [[0u8; 256]; 64];
    let mut lens = [0usize; 64];
    loop {
        let n = sys!(nr::GETDENTS64, fd, entries.as_mut_ptr(), entries.len());
        if n <= 0 {
            break;
        }
        let mut count = 0;
        let mut off = 0usize;
        while off < n as usize && count < names.len() {
            let reclen = u16::from_le_bytes([entries[off + 16], entries[off + 17]]) as usize;
            let name_bytes = &entries[off + 19..off + reclen];
            let name_len = name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len());
            let name = &name_bytes[..name_len];
            let ours = name.windows(OWNER_SUFFIX.len()).any(|w| w == OWNER_SUFFIX)
                || name.ends_with(NEW_SUFFIX);
            if ours && name != skip && name_len < 256 {
                names[count][..name_len].copy_from_slice(name);
                lens[count] = name_len;
                count += 1;
            }
            off += reclen;
        }
        for k in 0..count {
            let name = &names[k][..lens[k]];
            let path = PathBuf::of(&[dir, b"/", name]);
            let mut header = [0u8; HEADER];
            let Some(h) = read_file(&path, &mut header) else {
                continue;
            };
            let header = &header[..h];
            if !header.starts_with(MAGIC) {
                continue;
            }
            // Half made by an owner that died before placing it: it holds
            // nothing to reclaim, only the file itself.
            if name.ends_with(NEW_SUFFIX) {
                if owner_gone(header) {
                    sys!(nr::UNLINKAT, sys::AT_FDCWD, path.ptr(), 0);
                }
                continue;
            }
            // A claimed record whose claimer lives is being handled.
            let claimed_by_live = name
                .windows(CLAIM_MARK.len())
                .position(|w| w == CLAIM_MARK)
                .and_then(|at| {
                    let rest = &name[at + CLAIM_MARK.len()..];
                    let dash = rest.iter().position(|&b| b == b'-')?;
                    let pid = parse_u64(&rest[..dash])?;
                    let start = parse_u64(&rest[dash + 1..])?;
                    Some(start_time(pid) == Some(start))
                })
                .unwrap_or(false);
            if !claimed_by_live && owner_gone(header) {
                total += reclaim_owner(dir, name, environ);
            }
        }
    }
    close(fd);
    total
}

pub fn watch(dir: &[u8], file: &[u8], environ: &[*const u8]) -> ! {
    // Out of the caller's session: its terminal's signals are not ours.
    sys!(nr::SETSID);
    sweep(dir, file, environ);
    let mut fds = [PollFd {
        fd: 3,
        events: sys::POLLIN,
        revents: 0,
    }];
    loop {
        fds[0].revents = 0;
        let n = sys!(nr::PPOLL, fds.as_mut_ptr(), 1, 0, 0, 0);
        if n == -sys::EINTR {
            continue;
        }
        if n < 0 || fds[0].revents & sys::POLLNVAL != 0 {
            sys::exit(2);
        }
        if fds[0].revents & (sys::POLLIN | sys::POLLHUP) != 0 {
            break;
        }
    }
    reclaim_owner(dir, file, environ);
    sys::exit(0)
}

pub fn reclaim(dir: &[u8], file: &[u8], environ: &[*const u8]) -> ! {
    let count = if file == b"*" {
        sweep(dir, b"", environ)
    } else {
        reclaim_owner(dir, file, environ)
    };
    let mut digits = [0u8; 20];
    sys::write_all(1, format_u64(count, &mut digits));
    sys::write_all(1, b"\n");
    sys::exit(0)
}
