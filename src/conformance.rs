//! What each runner guarantees to block, as one table: the escapes a
//! command may try, and for each runner the ones it declares blocked.
//!
//! `tests/conformance.rs` tries every escape for real against every runner
//! the machine has and fails when a declared guarantee does not hold;
//! `docs/conformance.md` is generated from this table (a test fails when it
//! drifts); `restricted-runner doctor` shows it. A runner only declares
//! what it blocks with the careful policy the test uses (read+exec on the
//! system folders, one read folder, one write folder, networking off, the
//! limits set where the runner has an option for them), and only what holds
//! whoever the caller is; what a runner happens to block on one machine
//! but not everywhere is not declared.

use crate::runner::Kind;

/// One thing a sandboxed command may try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// A stable identifier (`read_outside`, ...).
    pub id: &'static str,
    /// What the command tries, in a few words.
    pub attempt: &'static str,
}

/// Every behaviour, in table order.
pub const BEHAVIOURS: [Behaviour; 16] = [
    Behaviour {
        id: "read_outside",
        attempt: "read a file outside the policy's folders",
    },
    Behaviour {
        id: "write_outside",
        attempt: "write or create a file outside the write folders",
    },
    Behaviour {
        id: "metadata_outside",
        attempt: "chmod, chown or utime a file outside the write folders",
    },
    Behaviour {
        id: "host_unix_socket",
        attempt: "connect to a host unix socket (in /tmp, in /run, abstract)",
    },
    Behaviour {
        id: "loopback_tcp",
        attempt: "connect to a TCP listener on the host's 127.0.0.1, networking off",
    },
    Behaviour {
        id: "loopback_udp",
        attempt: "send a UDP datagram to the host's 127.0.0.1, networking off",
    },
    Behaviour {
        id: "signal_host",
        attempt: "kill a process of the host (same user)",
    },
    Behaviour {
        id: "ptrace_host",
        attempt: "ptrace-attach to a process of the host (same user)",
    },
    Behaviour {
        id: "terminal_injection",
        attempt: "push input into the caller's terminal (TIOCSTI)",
    },
    Behaviour {
        id: "daemon_after_wait",
        attempt: "leave a setsid'd grandchild running after the wait",
    },
    Behaviour {
        id: "caller_env",
        attempt: "read the caller's environment variables",
    },
    Behaviour {
        id: "capabilities",
        attempt: "hold any capability (CapEff not zero)",
    },
    Behaviour {
        id: "memory_limit",
        attempt: "use more memory than the memory limit",
    },
    Behaviour {
        id: "process_limit",
        attempt: "start more processes than the process limit",
    },
    Behaviour {
        id: "open_files_limit",
        attempt: "open more files than the open-files limit",
    },
    Behaviour {
        id: "cpu_limit",
        attempt: "use more CPU time than the CPU-time limit",
    },
];

/// What one runner declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declaration {
    /// The runner.
    pub kind: Kind,
    /// The behaviours it guarantees to block.
    pub blocks: &'static [&'static str],
    /// The option that sets each limit it has, by behaviour.
    pub limit_options: &'static [(&'static str, &'static str)],
    /// Remarks for the table.
    pub notes: &'static [&'static str],
}

/// The declarations, one per runner kind.
pub const DECLARATIONS: [Declaration; 5] = [
    Declaration {
        kind: Kind::Exec,
        blocks: &[],
        limit_options: &[],
        notes: &[
            "No isolation. Where the caller may create cgroups (root, or a delegated cgroup v2 \
             subtree) the tree is contained in a cgroup leaf and no setsid'd grandchild outlives \
             the wait; elsewhere only the process group is killed.",
        ],
    },
    Declaration {
        kind: Kind::Landrun,
        blocks: &[
            "read_outside",
            "write_outside",
            "metadata_outside",
            "host_unix_socket",
            "loopback_tcp",
            "loopback_udp",
            "signal_host",
            "ptrace_host",
            "terminal_injection",
            "daemon_after_wait",
            "capabilities",
            "memory_limit",
            "process_limit",
            "open_files_limit",
            "cpu_limit",
        ],
        limit_options: &[
            ("memory_limit", "max_memory_bytes"),
            ("process_limit", "max_processes"),
            ("open_files_limit", "max_open_files"),
            ("cpu_limit", "max_cpu_seconds"),
        ],
        notes: &["The command inherits the caller's environment."],
    },
    Declaration {
        kind: Kind::Firejail,
        blocks: &[
            "write_outside",
            "metadata_outside",
            "host_unix_socket",
            "loopback_tcp",
            "loopback_udp",
            "signal_host",
            "ptrace_host",
            "terminal_injection",
            "daemon_after_wait",
            "capabilities",
        ],
        limit_options: &[],
        notes: &[
            "Reading outside the policy is not guaranteed blocked: the system folders stay \
             visible (read-only); /home, /root and the caller's home are hidden unless a \
             listed folder or allow_user_folders opens part of them, /tmp and /dev are \
             private (docs/runner-firejail.md).",
            "Unix sockets: the jail cannot create one (`protocol inet,inet6,netlink`) \
             unless allow_unix_sockets is set.",
            "Capabilities: the profile drops them all (`caps.drop all`); a custom_profile \
             decides for itself.",
            "The command inherits the caller's environment.",
        ],
    },
    Declaration {
        kind: Kind::Docker,
        blocks: &[
            "read_outside",
            "write_outside",
            "metadata_outside",
            "host_unix_socket",
            "loopback_tcp",
            "loopback_udp",
            "signal_host",
            "ptrace_host",
            "terminal_injection",
            "daemon_after_wait",
            "caller_env",
            "memory_limit",
            "process_limit",
        ],
        limit_options: &[("memory_limit", "memory"), ("process_limit", "pids_limit")],
        notes: &[
            "The container keeps the engine's default capabilities (use cap_drop).",
            "Only what `mounts` names is shared with the host.",
        ],
    },
    Declaration {
        kind: Kind::SandboxExec,
        blocks: &[],
        limit_options: &[],
        notes: &["macOS only: not run by this table's test, so nothing is declared here."],
    },
];

/// The declaration of `kind`.
pub fn declaration(kind: Kind) -> &'static Declaration {
    DECLARATIONS
        .iter()
        .find(|d| d.kind == kind)
        .unwrap_or(&DECLARATIONS[0])
}

/// Whether `kind` guarantees to block behaviour `id`.
pub fn blocks(kind: Kind, id: &str) -> bool {
    declaration(kind).blocks.contains(&id)
}

/// The option of `kind` that sets the limit of behaviour `id`, if it has one.
pub fn limit_option(kind: Kind, id: &str) -> Option<&'static str> {
    declaration(kind)
        .limit_options
        .iter()
        .find(|(b, _)| *b == id)
        .map(|(_, o)| *o)
}

/// The table as Markdown: `docs/conformance.md`.
pub fn markdown() -> String {
    let kinds = [
        Kind::Exec,
        Kind::Landrun,
        Kind::Firejail,
        Kind::Docker,
        Kind::SandboxExec,
    ];
    let mut out = String::from(
        "# What each runner blocks\n\n\
         Generated from `src/conformance.rs` (regenerate with \
         `RR_BLESS=1 cargo test --release --test conformance`). \
         `tests/conformance.rs` tries every escape below for real against every \
         runner of the test machine (docker through both the podman and the docker \
         CLI) and fails when a guarantee marked here does not hold; \
         `restricted-runner doctor` shows the same table.\n\n\
         The policy is the careful user's: read and execute on the system \
         folders, one read folder, one write folder, networking off, and each \
         limit set where the runner has an option for it.\n\n\
         **blocked**: guaranteed blocked. **-**: not guaranteed (it may work).\n\n",
    );
    out.push_str("| the command tries to | ");
    out.push_str(
        &kinds
            .iter()
            .map(|k| format!("`{}`", k.name()))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n| --- |");
    out.push_str(&" --- |".repeat(kinds.len()));
    out.push('\n');
    for b in BEHAVIOURS {
        out.push_str(&format!("| {} (`{}`) |", b.attempt, b.id));
        for k in kinds {
            let cell = match (blocks(k, b.id), limit_option(k, b.id)) {
                (true, Some(opt)) => format!(" **blocked** (`{opt}`) |"),
                (true, None) => " **blocked** |".to_string(),
                (false, _) => " - |".to_string(),
            };
            out.push_str(&cell);
        }
        out.push('\n');
    }
    out.push_str("\n## Notes\n\n");
    for k in kinds {
        for n in declaration(k).notes {
            out.push_str(&format!("- `{}`: {n}\n", k.name()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_id_is_a_behaviour() {
        for d in DECLARATIONS {
            for id in d
                .blocks
                .iter()
                .chain(d.limit_options.iter().map(|(b, _)| b))
            {
                assert!(BEHAVIOURS.iter().any(|b| b.id == *id), "{id}");
            }
        }
        for k in Kind::ALL {
            assert_eq!(declaration(k).kind, k);
        }
    }
}
