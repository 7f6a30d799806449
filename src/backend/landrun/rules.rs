//! The landrun options and the rule plan they give for one spawn: which
//! accesses the Landlock ruleset handles (everything the kernel's ABI knows,
//! unless an option lifts a whole class) and which paths and ports it
//! allows. Pure: nothing is opened here; `ruleset` turns a plan into a
//! kernel ruleset.

use std::collections::BTreeMap;
use std::path::PathBuf;

use landlock::{Access, AccessFs, AccessNet, BitFlags, Scope, ABI};

use crate::env::EnvPolicy;
use crate::error::{Error, Result};
use crate::options::{Options, TemplatedValue};
use crate::template::Params;

/// Option keys of the `landrun` runner: the reference's keys, single files,
/// resource limits and network isolation.
pub(crate) const KEYS: &[&str] = &[
    "allow_read_folders",
    "allow_read_exec_folders",
    "allow_write_folders",
    "allow_write_exec_folders",
    "allow_read_files",
    "allow_write_files",
    "allow_bind_tcp",
    "allow_connect_tcp",
    "allow_networking",
    "unrestricted_filesystem",
    "best_effort",
    "isolate_network",
    "max_memory_bytes",
    "max_processes",
    "max_open_files",
    "max_cpu_seconds",
    "inherit_env",
    "pass_env",
];

/// What a path rule grants. Nothing here grants execution unless its name
/// says so, and "write" includes reading (a write-only folder is rarely
/// what anyone means, and the reference granted both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    ReadFolder,
    ReadExecFolder,
    WriteFolder,
    WriteExecFolder,
    ReadFile,
    WriteFile,
    /// Read and write of a device node, granted whatever the options say.
    DeviceReadWrite,
    /// Read of a device node, granted whatever the options say.
    DeviceRead,
}

/// The option key of each path list, in the order rules are listed.
const PATH_OPTIONS: [(&str, Grant); 6] = [
    ("allow_read_folders", Grant::ReadFolder),
    ("allow_read_exec_folders", Grant::ReadExecFolder),
    ("allow_write_folders", Grant::WriteFolder),
    ("allow_write_exec_folders", Grant::WriteExecFolder),
    ("allow_read_files", Grant::ReadFile),
    ("allow_write_files", Grant::WriteFile),
];

/// Devices every program expects to use: shells redirect to `/dev/null`
/// constantly, and opening a device for writing needs the write right.
pub(crate) const ALWAYS_ALLOWED: [(&str, Grant); 3] = [
    ("/dev/null", Grant::DeviceReadWrite),
    ("/dev/zero", Grant::DeviceRead),
    ("/dev/urandom", Grant::DeviceRead),
];

impl Grant {
    /// The option key the rule came from, for error messages.
    pub(crate) fn origin(self) -> &'static str {
        match self {
            Grant::DeviceReadWrite | Grant::DeviceRead => "always allowed",
            g => PATH_OPTIONS
                .iter()
                .find(|(_, x)| *x == g)
                .map(|(k, _)| *k)
                .unwrap_or("?"),
        }
    }

    /// Whether the path must be a folder (`Some(true)`), must not be one
    /// (`Some(false)`), or may be either.
    pub(crate) fn wants_folder(self) -> Option<bool> {
        match self {
            Grant::ReadFolder
            | Grant::ReadExecFolder
            | Grant::WriteFolder
            | Grant::WriteExecFolder => Some(true),
            Grant::ReadFile | Grant::WriteFile => Some(false),
            Grant::DeviceReadWrite | Grant::DeviceRead => None,
        }
    }

    /// The access rights this grant gives under `abi`.
    pub(crate) fn access(self, abi: ABI) -> BitFlags<AccessFs> {
        let all = AccessFs::from_all(abi);
        let file = AccessFs::from_file(abi);
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        let granted = match self {
            Grant::ReadFolder => read,
            Grant::ReadExecFolder => read | AccessFs::Execute,
            Grant::WriteFolder => all & !AccessFs::Execute,
            Grant::WriteExecFolder => all,
            Grant::ReadFile | Grant::DeviceRead => AccessFs::ReadFile.into(),
            Grant::WriteFile => file & !AccessFs::Execute,
            Grant::DeviceReadWrite => AccessFs::ReadFile | AccessFs::WriteFile,
        };
        granted & all
    }
}

/// Resource limits applied in the child (each one both soft and hard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `RLIMIT_AS`, bytes of address space.
    pub(crate) memory_bytes: Option<u64>,
    /// `RLIMIT_NPROC`, processes of the child's real uid.
    pub(crate) processes: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub(crate) open_files: Option<u64>,
    /// `RLIMIT_CPU`, seconds of CPU time.
    pub(crate) cpu_seconds: Option<u64>,
}

/// The parsed options of a landrun runner.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) paths: Vec<(Grant, TemplatedValue)>,
    pub(crate) bind_tcp: Vec<u16>,
    pub(crate) connect_tcp: Vec<u16>,
    pub(crate) allow_networking: bool,
    pub(crate) unrestricted_filesystem: bool,
    pub(crate) best_effort: bool,
    pub(crate) isolate_network: bool,
    pub(crate) limits: Limits,
    pub(crate) env: EnvPolicy,
}

impl Settings {
    /// Reads the options; unknown keys and wrong types are errors.
    pub(crate) fn parse(json: Option<&str>) -> Result<Self> {
        let mut o = Options::parse("landrun", json, KEYS)?;
        let mut paths = Vec::new();
        for (key, grant) in PATH_OPTIONS {
            for value in o.template_list(key)? {
                paths.push((grant, value));
            }
        }
        let ports = |o: &mut Options, key: &str| -> Result<Vec<u16>> {
            Ok(o.u64_list(key, u16::MAX.into())?
                .into_iter()
                .map(|p| p as u16)
                .collect())
        };
        let limit = |o: &mut Options, key: &str| -> Result<Option<u64>> {
            match o.u64(key)? {
                Some(0) => Err(Error::invalid_options(format!(
                    "option {key:?} of the landrun runner: must be at least 1 (0 would stop every command)"
                ))),
                v => Ok(v),
            }
        };
        Ok(Settings {
            paths,
            bind_tcp: ports(&mut o, "allow_bind_tcp")?,
            connect_tcp: ports(&mut o, "allow_connect_tcp")?,
            allow_networking: o.bool("allow_networking")?.unwrap_or(false),
            unrestricted_filesystem: o.bool("unrestricted_filesystem")?.unwrap_or(false),
            best_effort: o.bool("best_effort")?.unwrap_or(false),
            isolate_network: o.bool("isolate_network")?.unwrap_or(false),
            limits: Limits {
                memory_bytes: limit(&mut o, "max_memory_bytes")?,
                processes: limit(&mut o, "max_processes")?,
                open_files: limit(&mut o, "max_open_files")?,
                cpu_seconds: limit(&mut o, "max_cpu_seconds")?,
            },
            env: EnvPolicy::parse(&mut o)?,
        })
    }

    /// Whether TCP must be cut, by Landlock or by an empty network namespace.
    pub(crate) fn restricts_tcp(&self) -> bool {
        !self.allow_networking
    }

    /// Whether the sandbox gets a network namespace of its own: asked for,
    /// or networking off with no TCP port to keep reachable.
    pub(crate) fn network_isolated(&self) -> bool {
        self.isolate_network
            || (!self.allow_networking && self.bind_tcp.is_empty() && self.connect_tcp.is_empty())
    }
}

/// One path and what the ruleset allows beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathRule {
    pub(crate) path: PathBuf,
    pub(crate) grant: Grant,
    pub(crate) access: BitFlags<AccessFs>,
}

/// The Landlock ruleset of one spawn, before any file is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) handled_fs: BitFlags<AccessFs>,
    pub(crate) handled_net: BitFlags<AccessNet>,
    pub(crate) scopes: BitFlags<Scope>,
    pub(crate) paths: Vec<PathRule>,
    pub(crate) ports: Vec<(u16, BitFlags<AccessNet>)>,
}

impl Plan {
    /// True when the ruleset would restrict nothing, so none is created.
    pub(crate) fn is_empty(&self) -> bool {
        self.handled_fs.is_empty() && self.handled_net.is_empty() && self.scopes.is_empty()
    }
}

/// The plan for one spawn: `settings` with `params` filled in, for a kernel
/// of Landlock `abi` (`ABI::Unsupported` gives an empty plan). With a
/// network namespace of its own (`netns`) the sandbox has no network to cut
/// TCP from, and keeps the use of its loopback.
pub(crate) fn plan(settings: &Settings, params: &Params, abi: ABI, netns: bool) -> Result<Plan> {
    let handled_fs = if settings.unrestricted_filesystem {
        BitFlags::EMPTY
    } else {
        AccessFs::from_all(abi)
    };
    let mut paths = Vec::new();
    if !handled_fs.is_empty() {
        for (path, grant) in ALWAYS_ALLOWED {
            paths.push(PathRule {
                path: path.into(),
                grant,
                access: grant.access(abi),
            });
        }
        for (grant, value) in &settings.paths {
            let path = value.render(params)?;
            if path.is_empty() {
                return Err(Error::invalid_options(format!(
                    "option {:?}: value {:?} is an empty path",
                    value.key(),
                    value.source()
                )));
            }
            paths.push(PathRule {
                path: path.into(),
                grant: *grant,
                access: grant.access(abi),
            });
        }
    }

    let handled_net = if settings.restricts_tcp() && !netns {
        AccessNet::from_all(abi)
    } else {
        BitFlags::EMPTY
    };
    let mut ports: BTreeMap<u16, BitFlags<AccessNet>> = BTreeMap::new();
    if !handled_net.is_empty() {
        for p in &settings.bind_tcp {
            *ports.entry(*p).or_default() |= AccessNet::BindTcp;
        }
        for p in &settings.connect_tcp {
            *ports.entry(*p).or_default() |= AccessNet::ConnectTcp;
        }
    }

    // Signals and abstract unix sockets reach processes outside the sandbox:
    // cut them along with the filesystem and the network respectively.
    let mut scopes = BitFlags::EMPTY;
    if !settings.unrestricted_filesystem {
        scopes |= Scope::Signal;
    }
    if !settings.allow_networking {
        scopes |= Scope::AbstractUnixSocket;
    }
    scopes &= Scope::from_all(abi);

    Ok(Plan {
        handled_fs,
        handled_net,
        scopes,
        paths,
        ports: ports.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::fmt::Write;

    fn names<T>(flags: BitFlags<T>) -> String
    where
        T: enumflags2::BitFlag + std::fmt::Debug,
    {
        if flags.is_empty() {
            return "-".into();
        }
        flags
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn render(p: &Plan) -> String {
        let mut s = String::new();
        writeln!(s, "fs: {}", names(p.handled_fs)).unwrap();
        writeln!(s, "net: {}", names(p.handled_net)).unwrap();
        writeln!(s, "scopes: {}", names(p.scopes)).unwrap();
        for r in &p.paths {
            writeln!(
                s,
                "path {} ({}): {}",
                r.path.display(),
                r.grant.origin(),
                names(r.access)
            )
            .unwrap();
        }
        for (port, access) in &p.ports {
            writeln!(s, "port {port}: {}", names(*access)).unwrap();
        }
        s
    }

    fn plan_of(json: &str, params: &[(&str, &str)], abi: ABI) -> Result<String> {
        let settings = Settings::parse(Some(json))?;
        let mut ps = Params::new();
        for (k, v) in params {
            ps.insert(*k, *v);
        }
        plan(&settings, &ps, abi, false).map(|p| render(&p))
    }

    const ALL_FS_V7: &str = "Execute WriteFile ReadFile ReadDir RemoveDir RemoveFile MakeChar MakeDir MakeReg MakeSock MakeFifo MakeBlock MakeSym Refer Truncate IoctlDev";

    #[test]
    fn every_path_option_golden_abi7() {
        let got = plan_of(
            r#"{"allow_read_folders": ["/r"], "allow_read_exec_folders": ["/rx"],
                "allow_write_folders": ["/w"], "allow_write_exec_folders": ["/wx"],
                "allow_read_files": ["/f/r"], "allow_write_files": ["/f/w"]}"#,
            &[],
            ABI::V7,
        )
        .unwrap();
        let want = format!(
            "fs: {ALL_FS_V7}
net: BindTcp ConnectTcp
scopes: AbstractUnixSocket Signal
path /dev/null (always allowed): WriteFile ReadFile
path /dev/zero (always allowed): ReadFile
path /dev/urandom (always allowed): ReadFile
path /r (allow_read_folders): ReadFile ReadDir
path /rx (allow_read_exec_folders): Execute ReadFile ReadDir
path /w (allow_write_folders): WriteFile ReadFile ReadDir RemoveDir RemoveFile MakeChar MakeDir MakeReg MakeSock MakeFifo MakeBlock MakeSym Refer Truncate IoctlDev
path /wx (allow_write_exec_folders): {ALL_FS_V7}
path /f/r (allow_read_files): ReadFile
path /f/w (allow_write_files): WriteFile ReadFile Truncate IoctlDev
"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_is_granted_that_options_do_not_name() {
        // No /tmp, no /dev beyond three devices, no TCP port, no exec.
        let got = plan_of("{}", &[], ABI::V7).unwrap();
        assert_eq!(
            got,
            format!(
                "fs: {ALL_FS_V7}
net: BindTcp ConnectTcp
scopes: AbstractUnixSocket Signal
path /dev/null (always allowed): WriteFile ReadFile
path /dev/zero (always allowed): ReadFile
path /dev/urandom (always allowed): ReadFile
"
            )
        );
    }

    #[test]
    fn ports_are_merged_and_networking_off_handles_tcp() {
        let got = plan_of(
            r#"{"unrestricted_filesystem": true, "allow_bind_tcp": [8080, 53],
                "allow_connect_tcp": [443, 8080]}"#,
            &[],
            ABI::V7,
        )
        .unwrap();
        assert_eq!(
            got,
            "fs: -
net: BindTcp ConnectTcp
scopes: AbstractUnixSocket
port 53: BindTcp
port 443: ConnectTcp
port 8080: BindTcp ConnectTcp
"
        );
    }

    #[test]
    fn allow_networking_drops_net_rules_but_keeps_the_filesystem() {
        let got = plan_of(
            r#"{"allow_networking": true, "allow_connect_tcp": [443],
                "allow_read_exec_folders": ["/usr"]}"#,
            &[],
            ABI::V7,
        )
        .unwrap();
        assert_eq!(
            got,
            format!(
                "fs: {ALL_FS_V7}
net: -
scopes: Signal
path /dev/null (always allowed): WriteFile ReadFile
path /dev/zero (always allowed): ReadFile
path /dev/urandom (always allowed): ReadFile
path /usr (allow_read_exec_folders): Execute ReadFile ReadDir
"
            )
        );
    }

    #[test]
    fn both_unrestricted_is_an_empty_plan() {
        let settings = Settings::parse(Some(
            r#"{"allow_networking": true, "unrestricted_filesystem": true}"#,
        ))
        .unwrap();
        assert!(plan(&settings, &Params::new(), ABI::V7, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn older_abis_handle_only_what_they_know() {
        let json = r#"{"allow_write_folders": ["/w"], "allow_write_files": ["/f"], "allow_connect_tcp": [80]}"#;
        let got = plan_of(json, &[], ABI::V1).unwrap();
        let v1 = "WriteFile ReadFile ReadDir RemoveDir RemoveFile MakeChar MakeDir MakeReg MakeSock MakeFifo MakeBlock MakeSym";
        assert_eq!(
            got,
            format!(
                "fs: Execute {v1}
net: -
scopes: -
path /dev/null (always allowed): WriteFile ReadFile
path /dev/zero (always allowed): ReadFile
path /dev/urandom (always allowed): ReadFile
path /w (allow_write_folders): {v1}
path /f (allow_write_files): WriteFile ReadFile
"
            )
        );
        let got = plan_of(json, &[], ABI::V4).unwrap();
        assert!(
            got.contains("net: BindTcp ConnectTcp\nscopes: -\n"),
            "{got}"
        );
        assert!(got.contains("port 80: ConnectTcp\n"), "{got}");
        assert!(
            got.contains("path /f (allow_write_files): WriteFile ReadFile Truncate\n"),
            "{got}"
        );
        let unsupported = plan(
            &Settings::parse(Some(json)).unwrap(),
            &Params::new(),
            ABI::Unsupported,
            false,
        );
        assert!(unsupported.unwrap().is_empty());
    }

    #[test]
    fn params_fill_paths_per_plan() {
        let json = r#"{"allow_write_folders": ["{{ .work }}/out"]}"#;
        let a = plan_of(json, &[("work", "/a")], ABI::V7).unwrap();
        let b = plan_of(json, &[("work", "/b")], ABI::V7).unwrap();
        assert!(a.contains("path /a/out (allow_write_folders)"), "{a}");
        assert!(b.contains("path /b/out (allow_write_folders)"), "{b}");
        let e = plan_of(json, &[], ABI::V7).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("allow_write_folders"), "{e}");
        let e = plan_of(json.replace("/out", "").as_str(), &[("work", "")], ABI::V7).unwrap_err();
        assert!(e.message().contains("empty path"), "{e}");
    }

    #[test]
    fn options_are_strict() {
        let e = Settings::parse(Some(r#"{"allow_read_folder": []}"#)).unwrap_err();
        assert!(e.message().contains("\"allow_read_folder\""), "{e}");
        let e = Settings::parse(Some(r#"{"allow_bind_tcp": [70000]}"#)).unwrap_err();
        assert!(e.message().contains("allow_bind_tcp"), "{e}");
        let e = Settings::parse(Some(r#"{"max_processes": 0}"#)).unwrap_err();
        assert!(e.message().contains("max_processes"), "{e}");
        let s = Settings::parse(Some(
            r#"{"max_memory_bytes": 1e9, "max_processes": 10, "max_open_files": 64, "max_cpu_seconds": 2,
                "best_effort": true, "isolate_network": true}"#,
        ))
        .unwrap();
        assert_eq!(
            s.limits,
            Limits {
                memory_bytes: Some(1_000_000_000),
                processes: Some(10),
                open_files: Some(64),
                cpu_seconds: Some(2),
            }
        );
        assert!(s.best_effort && s.isolate_network && !s.allow_networking);
    }
}
