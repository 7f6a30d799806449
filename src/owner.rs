//! Who owns a spawn: this process, named so that a dead owner can be told
//! from a live one without mistaking a reused pid for it (machine, boot,
//! pid and the process's start time).

use std::sync::Mutex;

/// A process that spawned commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) machine: String,
    pub(crate) boot: String,
    pub(crate) pid: i32,
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    pub(crate) start: u64,
}

impl Owner {
    /// This process. Computed again after a fork, where it is another one.
    pub(crate) fn current() -> Owner {
        static ME: Mutex<Option<Owner>> = Mutex::new(None);
        let pid = std::process::id() as i32;
        let mut me = ME.lock().unwrap_or_else(|p| p.into_inner());
        match me.as_ref() {
            Some(o) if o.pid == pid => o.clone(),
            _ => {
                let o = Owner {
                    machine: read_id(&["/etc/machine-id", "/var/lib/dbus/machine-id"]),
                    boot: boot_id(),
                    pid,
                    start: start_time(pid).unwrap_or(0),
                };
                *me = Some(o.clone());
                o
            }
        }
    }

    /// The label value, `machine:boot:pid:start`.
    pub(crate) fn label(&self) -> String {
        format!("{}:{}:{}:{}", self.machine, self.boot, self.pid, self.start)
    }

    /// Parses a label value; `None` for anything this library did not write.
    pub(crate) fn parse(value: &str) -> Option<Owner> {
        let mut it = value.split(':');
        let (machine, boot, pid, start) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        Some(Owner {
            machine: machine.to_string(),
            boot: boot.to_string(),
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }

    /// Whether this owner (of this machine) no longer runs: a process of an
    /// earlier boot, or a pid that is gone or now another process's.
    /// `start_of` gives a pid's start time (None: no such process).
    pub(crate) fn is_gone(&self, me: &Owner, start_of: impl Fn(i32) -> Option<u64>) -> bool {
        if self.machine != me.machine || self.machine.is_empty() {
            return false;
        }
        if self.boot != me.boot {
            return true;
        }
        start_of(self.pid) != Some(self.start)
    }
}

fn read_id(paths: &[&str]) -> String {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().replace(':', ""))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// This boot's id.
pub(crate) fn boot_id() -> String {
    read_id(&["/proc/sys/kernel/random/boot_id"])
}

/// A process's start time in clock ticks since boot, from /proc.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Now, in the clock ticks start times are counted in (CLOCK_BOOTTIME at
/// `_SC_CLK_TCK` per second), so a child's start can be bracketed without
/// reading /proc.
pub(crate) fn now_ticks() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[cfg(target_os = "linux")]
    let clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(target_os = "linux"))]
    let clock = libc::CLOCK_MONOTONIC;
    // SAFETY: writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ts.tv_sec as u64 * hz + ts.tv_nsec as u64 * hz / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(machine: &str, boot: &str, pid: i32, start: u64) -> Owner {
        Owner {
            machine: machine.into(),
            boot: boot.into(),
            pid,
            start,
        }
    }

    #[test]
    fn label_round_trips() {
        let o = owner("abc", "b-1", 42, 777);
        assert_eq!(o.label(), "abc:b-1:42:777");
        assert_eq!(Owner::parse(&o.label()), Some(o));
        for bad in ["", "a:b:c", "a:b:x:1", "a:b:1:2:3", "a:b:1:-2"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_dead_owners_of_this_machine_are_gone() {
        let me = owner("m", "boot", 10, 100);
        let alive = |pid: i32| (pid == 20).then_some(500);
        assert!(!owner("m", "boot", 20, 500).is_gone(&me, alive));
        assert!(
            owner("m", "boot", 20, 499).is_gone(&me, alive),
            "pid reused"
        );
        assert!(owner("m", "boot", 21, 500).is_gone(&me, alive), "pid gone");
        assert!(owner("m", "old", 20, 500).is_gone(&me, alive));
        assert!(!owner("other", "boot", 21, 1).is_gone(&me, alive));
        let anon = owner("", "boot", 10, 100);
        assert!(!owner("", "boot", 21, 1).is_gone(&anon, alive));
    }

    #[test]
    fn this_process_is_identified_and_its_start_bracketed() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id() as i32);
        assert_eq!(start_time(me.pid), Some(me.start));
        assert!(me.start <= now_ticks());
        assert!(!me.is_gone(&me, start_time));
    }
}
