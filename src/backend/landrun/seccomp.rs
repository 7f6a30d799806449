//! The seccomp layer: a baseline in the spirit of Docker's default profile,
//! built with seccompiler before the spawn and installed by the command's
//! process just before exec (two `seccomp` calls, no allocation).
//!
//! Denied with EPERM: kernel keyrings, BPF, perf, userfaultfd, io_uring
//! (whose operations bypass seccomp), module and kexec loading, every mount
//! and namespace call, `clone` with a namespace flag, reboot, swap, clocks,
//! syslog, handles to files by number, reading or writing another process's
//! memory, the `TIOCSTI`/`TIOCLINUX` ioctls (pushing input into a
//! terminal), and setting a set-user-ID or set-group-ID bit. `clone3` gets
//! ENOSYS, which makes the C library fall back to `clone`, whose flags a
//! filter can see. With TCP ports listed and no network namespace, UDP, raw
//! and packet sockets are denied too. Any other architecture's system
//! calls (a 32-bit x86 `int 0x80`, say) kill the process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Error, Result};

/// What the baseline also denies, beyond its fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Extra {
    /// Deny UDP, raw and packet sockets (TCP is left to Landlock's rules).
    pub(crate) deny_udp_and_raw: bool,
}

/// The two filters of a spawn, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Filters {
    /// Everything denied with EPERM.
    pub(crate) deny: BpfProgram,
    /// `clone3` denied with ENOSYS.
    pub(crate) clone3: BpfProgram,
}

/// System calls denied outright, by name (for reports) and number.
fn denied_calls() -> Vec<(&'static str, i64)> {
    macro_rules! calls {
        ($($name:ident),* $(,)?) => {
            vec![$((stringify!($name), libc::$name)),*]
        };
    }
    let mut v = calls![
        SYS_acct,
        SYS_add_key,
        SYS_bpf,
        SYS_clock_adjtime,
        SYS_clock_settime,
        SYS_delete_module,
        SYS_finit_module,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fsopen,
        SYS_fspick,
        SYS_init_module,
        SYS_io_uring_enter,
        SYS_io_uring_register,
        SYS_io_uring_setup,
        SYS_kexec_file_load,
        SYS_kexec_load,
        SYS_keyctl,
        SYS_lookup_dcookie,
        SYS_mount,
        SYS_mount_setattr,
        SYS_move_mount,
        SYS_name_to_handle_at,
        SYS_nfsservctl,
        SYS_open_by_handle_at,
        SYS_open_tree,
        SYS_perf_event_open,
        SYS_pivot_root,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_quotactl,
        SYS_quotactl_fd,
        SYS_reboot,
        SYS_request_key,
        SYS_setns,
        SYS_settimeofday,
        SYS_swapoff,
        SYS_swapon,
        SYS_syslog,
        SYS_umount2,
        SYS_unshare,
        SYS_userfaultfd,
        SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend(calls![
        SYS_ioperm,
        SYS_iopl,
        SYS_modify_ldt,
        SYS_sysfs,
        SYS_uselib,
        SYS_ustat,
        SYS__sysctl,
    ]);
    v
}

/// The names of the system calls the baseline denies outright, for the
/// enforcement report.
pub(crate) fn denied_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = denied_calls()
        .into_iter()
        .map(|(n, _)| n.trim_start_matches("SYS_"))
        .collect();
    names.extend(["clone (namespace flags)", "clone3 (ENOSYS)"]);
    names.extend([
        "ioctl TIOCSTI",
        "ioctl TIOCLINUX",
        "chmod with S_ISUID or S_ISGID",
    ]);
    names.sort_unstable();
    names
}

/// `fchmodat2` (Linux 6.6), not yet named by the libc crate on every
/// architecture; the generic number is the same on x86_64 and aarch64.
const SYS_FCHMODAT2: i64 = 452;

/// x32 system calls carry this bit and the x86_64 architecture value, so a
/// filter matching numbers must list them too where the kernel runs x32
/// programs (most distributions build x32 in but leave it disabled).
#[cfg(target_arch = "x86_64")]
const X32_BIT: i64 = 0x4000_0000;

/// Whether this kernel runs x32 system calls: an x32 `getpid` answers
/// ENOSYS when it does not. The filter's size, and so its cost at every
/// spawn (the kernel converts, JIT-compiles and pre-evaluates it), halves
/// without the x32 copies.
#[cfg(target_arch = "x86_64")]
fn x32_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        // SAFETY: getpid takes no arguments and has no effect.
        let r = unsafe { libc::syscall(X32_BIT | libc::SYS_getpid) };
        !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
    })
}

fn cond(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition> {
    SeccompCondition::new(arg, len, op, value).map_err(seccomp_error)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule> {
    SeccompRule::new(conditions).map_err(seccomp_error)
}

fn seccomp_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("building the seccomp filter: {e}"))
}

fn target_arch() -> Result<TargetArch> {
    std::env::consts::ARCH.try_into().map_err(|_| {
        Error::requirements(format!(
            "the seccomp layer does not support the {} architecture",
            std::env::consts::ARCH
        ))
    })
}

/// Compiles the filters of a spawn.
pub(crate) fn build(extra: Extra) -> Result<Filters> {
    use SeccompCmpArgLen::{Dword, Qword};
    use SeccompCmpOp::{Eq, MaskedEq};

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in denied_calls() {
        rules.insert(nr, Vec::new());
    }

    // clone with any namespace flag (arg 0 on x86_64 and aarch64).
    let ns_flags = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWCGROUP,
    ];
    let mut clone_rules = Vec::new();
    for f in ns_flags {
        let f = f as u64;
        clone_rules.push(rule(vec![cond(0, Qword, MaskedEq(f), f)?])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);

    let ioctl_rules = vec![
        rule(vec![cond(1, Dword, Eq, libc::TIOCSTI)?])?,
        rule(vec![cond(1, Dword, Eq, libc::TIOCLINUX)?])?,
    ];
    rules.insert(libc::SYS_ioctl, ioctl_rules);

    let setid = |arg: u8| -> Result<Vec<SeccompRule>> {
        let suid = libc::S_ISUID as u64;
        let sgid = libc::S_ISGID as u64;
        Ok(vec![
            rule(vec![cond(arg, Dword, MaskedEq(suid), suid)?])?,
            rule(vec![cond(arg, Dword, MaskedEq(sgid), sgid)?])?,
        ])
    };
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(libc::SYS_chmod, setid(1)?);
    }
    rules.insert(libc::SYS_fchmod, setid(1)?);
    rules.insert(libc::SYS_fchmodat, setid(2)?);
    rules.insert(SYS_FCHMODAT2, setid(2)?);

    if extra.deny_udp_and_raw {
        let mut socket_rules = Vec::new();
        for family in [libc::AF_INET, libc::AF_INET6] {
            for kind in [libc::SOCK_DGRAM, libc::SOCK_RAW] {
                socket_rules.push(rule(vec![
                    cond(0, Dword, Eq, family as u64)?,
                    // The low bits are the type; SOCK_CLOEXEC and
                    // SOCK_NONBLOCK live above them.
                    cond(1, Dword, MaskedEq(0xf), kind as u64)?,
                ])?);
            }
        }
        socket_rules.push(rule(vec![cond(0, Dword, Eq, libc::AF_PACKET as u64)?])?);
        rules.insert(libc::SYS_socket, socket_rules);
    }

    #[cfg(target_arch = "x86_64")]
    if x32_enabled() {
        let x32: Vec<(i64, Vec<SeccompRule>)> = rules
            .iter()
            .map(|(nr, r)| (nr | X32_BIT, r.clone()))
            .collect();
        rules.extend(x32);
        // x32's own ioctl entry.
        let ioctl = rules.get(&(libc::SYS_ioctl)).cloned().unwrap_or_default();
        rules.insert(514 | X32_BIT, ioctl);
    }

    let arch = target_arch()?;
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(seccomp_error)?;

    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    let clone3 = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(seccomp_error)?;
    Ok(Filters { deny, clone3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_within_the_kernel_limit() {
        let f = build(Extra::default()).unwrap();
        assert!(f.deny.len() < 4096, "{}", f.deny.len());
        let g = build(Extra {
            deny_udp_and_raw: true,
        })
        .unwrap();
        assert!(g.deny.len() > f.deny.len());
        assert!(!f.clone3.is_empty());
    }

    #[test]
    fn the_report_names_the_dangerous_calls() {
        let names = denied_names();
        for n in ["keyctl", "bpf", "mount", "ptrace"] {
            assert_eq!(names.contains(&n), n != "ptrace", "{n}");
        }
        assert!(names.contains(&"ioctl TIOCSTI"));
    }
}
