//! The firejail profile: a pure function of the options, the spawn's paths
//! and a few facts about the host.
//!
//! firejail 0.9.72 reads a profile with `fgets(buf, 8192, file)`, so a line
//! of more than 8190 bytes is read in pieces, each piece after the first as
//! a line of its own. It then treats `#` as the start of a comment, cuts the
//! line at `\n` or `\r`, drops leading blanks, folds runs of blanks into one,
//! expands `${...}` macros and globs (`*`, `?`, `[`), and rejects some
//! characters outright (`,`, `%`, `"`, `\`, `&`, `;`, `<`, `!`, `{`, `^` and
//! any `..`). A path that any of this would touch, or that could make a line
//! longer than firejail reads at once, is refused here instead, so every
//! path reaches firejail exactly as given and no path can add, drop or
//! change a directive.

use crate::backend::profile_file::{check_common, PathLists};
use crate::error::{Error, Result};

/// The user folders the profile hides unless `allow_user_folders` is set.
pub(crate) const USER_FOLDERS: [&str; 6] = [
    "Documents",
    "Desktop",
    "Downloads",
    "Pictures",
    "Videos",
    "Music",
];

/// The folders that hold users' files, hidden unless `allow_user_folders`
/// is set or a listed path opens part of them; the caller's home joins them.
const HOME_FOLDERS: [&str; 2] = ["/home", "/root"];

/// The longest line firejail 0.9.72 reads as one: `fgets` into 8192 bytes
/// reads at most 8191, the newline included.
pub(crate) const MAX_LINE_BYTES: usize = 8190;

/// The most a profile line adds around a value: the longest directive with
/// its blank (`read-write `) before it, and a user folder (`/Downloads`)
/// after a home folder.
const LINE_OVERHEAD: usize = "read-write ".len() + "/Downloads".len();

/// Characters a path may not hold, on top of control characters.
const REJECTED: &[char] = &[
    '\\', '&', '!', '"', '\'', '<', '>', '%', '^', '(', ')', '{', '}', ';', ',', '*', '?', '[',
    ']', '$', '#', '`',
];

/// Why `path` cannot be written into a firejail profile, if it cannot.
fn unsafe_reason(path: &str) -> Option<String> {
    if path.len() + LINE_OVERHEAD > MAX_LINE_BYTES {
        return Some(format!(
            "is {} bytes long: a profile line holding it could reach {} bytes, and firejail \
             reads at most {MAX_LINE_BYTES} bytes as one line (the rest would be read as \
             another line)",
            path.len(),
            path.len() + LINE_OVERHEAD
        ));
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Some(format!("contains the control character {c:?}"));
    }
    if let Some(c) = path.chars().find(|c| REJECTED.contains(c)) {
        return Some(format!(
            "contains {c:?}, which a firejail profile cannot carry as plain text"
        ));
    }
    if path.contains("..") {
        return Some("contains \"..\", which firejail refuses in paths".into());
    }
    if path.contains("  ") || path.ends_with(' ') {
        return Some("has a run of blanks or a trailing blank, which firejail would fold".into());
    }
    None
}

/// `path` as an error message shows it: whole, or its start when it is long.
fn shown(path: &str) -> String {
    const SHOWN: usize = 64;
    if path.len() <= 2 * SHOWN {
        return format!("{path:?}");
    }
    let mut end = SHOWN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &path[..end], path.len())
}

/// Checks one path given in option `key` and returns it as the profile will
/// hold it.
pub(crate) fn check_path(key: &'static str, path: &str) -> Result<String> {
    let path = check_common(key, path)?;
    match unsafe_reason(&path) {
        Some(why) => Err(Error::invalid_options(format!(
            "option {key:?} of the firejail runner: path {} {why}",
            shown(&path)
        ))),
        None => Ok(path),
    }
}

/// The options that are not paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) allow_networking: bool,
    pub(crate) allow_user_folders: bool,
    pub(crate) allow_unix_sockets: bool,
    /// Refuse the io_uring calls in the seccomp filter, which makes
    /// firejail rebuild it at each spawn; otherwise the jail's
    /// locked-memory limit of 0 keeps io_uring out of reach.
    pub(crate) io_uring_seccomp: bool,
}

/// What the profile needs to know about the host, gathered at spawn time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host<'a> {
    /// The home folder firejail itself uses (the passwd entry's).
    pub(crate) passwd_home: Option<&'a str>,
    /// `HOME` in the caller's environment.
    pub(crate) caller_home: Option<&'a str>,
    /// `HOME` in the command's environment, where its programs look.
    pub(crate) env_home: Option<&'a str>,
    /// The absolute path of the program to run.
    pub(crate) program: Option<&'a str>,
    /// The mount points of the host, as `/proc/self/mountinfo` lists them.
    pub(crate) mounts: &'a [String],
}

fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// firejail refuses to whitelist `/` or a top-level folder (nothing would
/// be hidden anyway: such a path is listed for its read-only or read-write
/// line).
fn whitelistable(path: &str) -> bool {
    path.trim_start_matches('/').contains('/')
}

/// The folder firejail replaces with a tmpfs when `path` is whitelisted:
/// the user's home, `/run/user/UID`, `/usr/share`, or the top-level folder.
fn whitelist_root(path: &str, home: Option<&str>) -> String {
    if let Some(h) = home.filter(|h| *h != "/" && is_under(path, h)) {
        return h.to_string();
    }
    for deep in ["/run/user", "/usr/share"] {
        if let Some(rest) = path.strip_prefix(deep).and_then(|r| r.strip_prefix('/')) {
            return if deep == "/run/user" {
                format!("{deep}/{}", rest.split('/').next().unwrap_or(""))
            } else {
                deep.to_string()
            };
        }
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("/{first}")
}

/// The host mount points to make read-only, each as given or, when it cannot
/// be written in a profile, its nearest ancestor that can (read-only applies
/// to everything below a path). `/` is handled on its own, the folders
/// firejail replaces (`/proc`, `/sys`, `/dev`, `/tmp`) need nothing, and
/// `/run` is covered as a whole.
fn read_only_mounts(mounts: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in mounts {
        if ["/proc", "/sys", "/dev", "/tmp", "/run"]
            .iter()
            .any(|d| is_under(m, d))
            || m == "/"
            || !m.starts_with('/')
        {
            continue;
        }
        let mut p = m.trim_end_matches('/');
        while unsafe_reason(p).is_some() {
            match p.rfind('/') {
                Some(i) if i > 0 => p = &p[..i],
                _ => {
                    return Err(Error::requirements(format!(
                        "the host mount point {m:?} cannot be made read-only in a firejail profile \
                         (its top-level folder has characters a profile cannot carry); \
                         use the custom_profile option"
                    )))
                }
            }
        }
        out.push(p.to_string());
    }
    out.sort();
    out.dedup();
    let mut kept: Vec<String> = Vec::with_capacity(out.len());
    for p in out {
        if !kept.iter().any(|k| is_under(&p, k)) {
            kept.push(p);
        }
    }
    Ok(kept)
}

fn host_value<'a>(what: &str, value: Option<&'a str>) -> Result<Option<&'a str>> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let why = if v.starts_with('/') {
        unsafe_reason(v)
    } else {
        Some("is not an absolute path".to_string())
    };
    match why {
        None => Ok(Some(v)),
        Some(why) => Err(Error::invalid_options(format!(
            "{what} {} {why}; the firejail runner cannot name it in a profile",
            shown(v)
        ))),
    }
}

/// Renders the profile for one spawn. `paths` must have passed
/// [`check_path`]; the host values are checked here.
pub(crate) fn render(settings: Settings, paths: &PathLists, host: &Host<'_>) -> Result<String> {
    for list in [
        &paths.read_folders,
        &paths.write_folders,
        &paths.read_files,
        &paths.write_files,
    ] {
        for p in list {
            if let Some(why) = unsafe_reason(p)
                .or_else(|| (!p.starts_with('/')).then(|| "is not an absolute path".to_string()))
            {
                return Err(Error::internal(format!(
                    "path {p:?} reached the firejail profile unchecked: it {why}"
                )));
            }
        }
    }
    let env_home = host_value("HOME", host.env_home)?;
    let passwd_home = host.passwd_home.map(|h| h.trim_end_matches('/'));
    let program = host_value("the command", host.program)?;
    let mounts = read_only_mounts(host.mounts)?;

    let read: Vec<&str> = paths
        .read_folders
        .iter()
        .chain(&paths.read_files)
        .map(String::as_str)
        .collect();
    let write: Vec<&str> = paths
        .write_folders
        .iter()
        .chain(&paths.write_files)
        .map(String::as_str)
        .collect();
    let listed: Vec<&str> = read.iter().chain(&write).copied().collect();

    // The folders holding users' files, hidden unless allowed: /home, /root
    // and the caller's home (never `/`, which holds everything).
    let mut homes: Vec<&str> = Vec::new();
    if !settings.allow_user_folders {
        for h in HOME_FOLDERS
            .into_iter()
            .chain(host.passwd_home)
            .chain(host.caller_home)
            .filter(|h| h.starts_with('/'))
            .map(|h| h.trim_end_matches('/'))
            .filter(|h| !h.is_empty())
        {
            if !homes.contains(&h) {
                homes.push(h);
            }
        }
    }

    // Whitelisting replaces a folder with a tmpfs holding only what is
    // listed; the program itself must stay visible when it lives there, in
    // /tmp (private otherwise) or in a hidden home.
    let program_whitelist = program.filter(|p| {
        !listed.iter().any(|l| is_under(p, l))
            && (is_under(p, "/tmp")
                || homes.iter().any(|h| is_under(p, h))
                || listed.iter().any(|l| {
                    whitelist_root(l, host.passwd_home) == whitelist_root(p, host.passwd_home)
                }))
    });
    let visible: Vec<&str> = listed.iter().copied().chain(program_whitelist).collect();
    // A home that holds a visible path is left to the whitelist, which
    // hides the rest of it; one inside a listed folder was opened on purpose.
    homes.retain(|h| !visible.iter().any(|v| is_under(v, h) || is_under(h, v)));
    let all_homes = homes.clone();
    homes.retain(|h| !all_homes.iter().any(|o| o != h && is_under(h, o)));
    for h in &homes {
        if let Some(why) = unsafe_reason(h) {
            return Err(Error::invalid_options(format!(
                "the caller's home {} {why}; the firejail runner cannot hide it in a profile \
                 (set allow_user_folders, or list a folder inside it)",
                shown(h)
            )));
        }
    }
    // Whitelisting anything under /tmp already gives the jail a /tmp of its
    // own; listing /tmp itself asks for the host's.
    let tmp_listed = visible.iter().any(|p| is_under(p, "/tmp"));

    let mut out = String::from("# firejail profile rendered by restricted-runner\n");
    let mut line = |directive: &str, arg: &str| {
        out.push_str(directive);
        if !arg.is_empty() {
            out.push(' ');
            out.push_str(arg);
        }
        out.push('\n');
    };
    if !settings.allow_networking {
        line("net none", "");
    }
    for h in &homes {
        line("blacklist", h);
    }
    if !settings.allow_user_folders {
        // A user folder holding a visible path is left to the whitelist too.
        let hides = |folder: &str| !visible.iter().any(|v| is_under(v, folder));
        let hidden = |home: &str| homes.iter().any(|h| is_under(home, h));
        if !passwd_home.is_some_and(hidden) {
            for f in USER_FOLDERS {
                if passwd_home.map_or(true, |h| hides(&format!("{h}/{f}"))) {
                    line("blacklist", &format!("${{HOME}}/{f}"));
                }
            }
        }
        if let Some(h) = env_home
            .map(|h| h.trim_end_matches('/'))
            .filter(|h| Some(*h) != passwd_home.map(|p| p.trim_end_matches('/')) && !hidden(h))
        {
            for f in USER_FOLDERS {
                let folder = format!("{h}/{f}");
                if hides(&folder) {
                    line("blacklist", &folder);
                }
            }
        }
    }
    for p in &visible {
        if whitelistable(p) {
            line("whitelist", p);
        }
    }
    if !tmp_listed {
        line("private-tmp", "");
    }
    line("private-dev", "");
    line("read-only", "/");
    line("read-only", "/run");
    // firejail writes its own per-sandbox tmpfs there after the profile is
    // applied; it is not the host's.
    line("read-write", "/run/firejail/mnt");
    for m in &mounts {
        line("read-only", m);
    }
    for p in &write {
        line("read-write", p);
    }
    for p in read.iter().chain(program_whitelist.iter()) {
        line("read-only", p);
    }
    // io_uring performs system calls without passing the seccomp filter.
    if settings.io_uring_seccomp {
        line("seccomp", "io_uring_setup,io_uring_enter,io_uring_register");
    } else {
        line("seccomp", "");
    }
    if !settings.allow_unix_sockets {
        // A socket of any other family cannot be made, so no host unix
        // socket can be reached (a read-only mount does not stop connect).
        // The filter checks socket(2) of the native architecture only: the
        // 32-bit entry points, socketcall(2) among them, are refused.
        line("seccomp.block-secondary", "");
        line("protocol", "inet,inet6,netlink");
    }
    line("caps.drop", "all");
    line("nonewprivs", "");
    line("noroot", "");
    if let Some(long) = out.lines().find(|l| l.len() > MAX_LINE_BYTES) {
        return Err(Error::internal(format!(
            "a firejail profile line of {} bytes was rendered (at most {MAX_LINE_BYTES}): {}",
            long.len(),
            shown(long)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn lists(rf: &[&str], wf: &[&str], rfi: &[&str], wfi: &[&str]) -> PathLists {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        PathLists {
            read_folders: v(rf),
            write_folders: v(wf),
            read_files: v(rfi),
            write_files: v(wfi),
        }
    }

    const HEAD: &str = "# firejail profile rendered by restricted-runner\n";
    const HOMES: &str = "blacklist /home\nblacklist /root\n";
    const BLACKLIST: &str = "blacklist ${HOME}/Documents\n\
        blacklist ${HOME}/Desktop\n\
        blacklist ${HOME}/Downloads\n\
        blacklist ${HOME}/Pictures\n\
        blacklist ${HOME}/Videos\n\
        blacklist ${HOME}/Music\n";
    const BASE_RO: &str = "read-only /\nread-only /run\nread-write /run/firejail/mnt\n";
    const SECCOMP: &str = "seccomp\n";
    const NO_UNIX: &str = "seccomp.block-secondary\nprotocol inet,inet6,netlink\n";
    const PRIVS: &str = "caps.drop all\nnonewprivs\nnoroot\n";

    fn tail() -> String {
        format!("{SECCOMP}{NO_UNIX}{PRIVS}")
    }

    /// What every default profile starts with: no network, the homes and
    /// the user folders hidden.
    fn start() -> String {
        format!("{HEAD}net none\n{HOMES}{BLACKLIST}")
    }

    fn render_default(paths: &PathLists) -> String {
        render(Settings::default(), paths, &Host::default()).unwrap()
    }

    #[test]
    fn golden_defaults() {
        let want = format!("{}private-tmp\nprivate-dev\n{BASE_RO}{}", start(), tail());
        assert_eq!(render_default(&PathLists::default()), want);
    }

    #[test]
    fn golden_networking_user_folders_and_unix_sockets_allowed() {
        let s = Settings {
            allow_networking: true,
            allow_user_folders: true,
            allow_unix_sockets: true,
            io_uring_seccomp: false,
        };
        let want = format!("{HEAD}private-tmp\nprivate-dev\n{BASE_RO}{SECCOMP}{PRIVS}");
        assert_eq!(
            render(s, &PathLists::default(), &Host::default()).unwrap(),
            want
        );
        let s = Settings {
            allow_unix_sockets: true,
            ..Settings::default()
        };
        let want = format!(
            "{}private-tmp\nprivate-dev\n{BASE_RO}{SECCOMP}{PRIVS}",
            start()
        );
        assert_eq!(
            render(s, &PathLists::default(), &Host::default()).unwrap(),
            want
        );
    }

    #[test]
    fn golden_io_uring_refused_by_seccomp() {
        let s = Settings {
            io_uring_seccomp: true,
            ..Settings::default()
        };
        let want = format!(
            "{}private-tmp\nprivate-dev\n{BASE_RO}\
             seccomp io_uring_setup,io_uring_enter,io_uring_register\n{NO_UNIX}{PRIVS}",
            start()
        );
        assert_eq!(
            render(s, &PathLists::default(), &Host::default()).unwrap(),
            want
        );
    }

    #[test]
    fn golden_read_folders_and_files() {
        let p = lists(&["/srv/data"], &[], &["/etc/app.conf"], &[]);
        let want = format!(
            "{}whitelist /srv/data\nwhitelist /etc/app.conf\n\
             private-tmp\nprivate-dev\n{BASE_RO}\
             read-only /srv/data\nread-only /etc/app.conf\n{}",
            start(),
            tail()
        );
        assert_eq!(render_default(&p), want);
    }

    #[test]
    fn golden_write_folders_and_files() {
        let p = lists(&[], &["/srv/out"], &[], &["/var/log/app.log"]);
        let want = format!(
            "{}whitelist /srv/out\nwhitelist /var/log/app.log\n\
             private-tmp\nprivate-dev\n{BASE_RO}\
             read-write /srv/out\nread-write /var/log/app.log\n{}",
            start(),
            tail()
        );
        assert_eq!(render_default(&p), want);
    }

    #[test]
    fn golden_tmp_whitelist_replaces_private_tmp() {
        let p = lists(&[], &["/tmp/work"], &[], &[]);
        let want = format!(
            "{}whitelist /tmp/work\nprivate-dev\n{BASE_RO}read-write /tmp/work\n{}",
            start(),
            tail()
        );
        assert_eq!(render_default(&p), want);
    }

    #[test]
    fn golden_top_level_folders_are_not_whitelisted() {
        let p = lists(&["/srv"], &["/tmp"], &[], &[]);
        let want = format!(
            "{}private-dev\n{BASE_RO}read-write /tmp\nread-only /srv\n{}",
            start(),
            tail()
        );
        assert_eq!(render_default(&p), want);
    }

    fn as_root<'a>() -> Host<'a> {
        Host {
            passwd_home: Some("/root"),
            caller_home: Some("/root"),
            ..Host::default()
        }
    }

    #[test]
    fn golden_the_callers_home_is_hidden_with_home_and_root() {
        // Hidden as a whole, its user folders need no line of their own.
        let out = render(Settings::default(), &PathLists::default(), &as_root()).unwrap();
        assert_eq!(
            out,
            format!(
                "{HEAD}net none\n{HOMES}private-tmp\nprivate-dev\n{BASE_RO}{}",
                tail()
            )
        );
        // A home elsewhere, in the passwd entry or in the caller's HOME.
        for host in [
            Host {
                passwd_home: Some("/var/lib/svc/"),
                ..Host::default()
            },
            Host {
                passwd_home: Some("/home/u"),
                caller_home: Some("/var/lib/svc"),
                ..Host::default()
            },
        ] {
            let out = render(Settings::default(), &PathLists::default(), &host).unwrap();
            assert_eq!(
                out,
                format!(
                    "{HEAD}net none\n{HOMES}blacklist /var/lib/svc\n\
                     private-tmp\nprivate-dev\n{BASE_RO}{}",
                    tail()
                ),
                "{host:?}"
            );
        }
        // `/` is never hidden.
        let host = Host {
            caller_home: Some("/"),
            ..Host::default()
        };
        assert_eq!(
            render(Settings::default(), &PathLists::default(), &host).unwrap(),
            render_default(&PathLists::default())
        );
    }

    #[test]
    fn golden_a_listed_path_opens_part_of_a_home() {
        // Whitelisted: firejail hides the rest of the home itself.
        let p = lists(&["/root/project"], &[], &[], &[]);
        let out = render(Settings::default(), &p, &as_root()).unwrap();
        assert_eq!(
            out,
            format!(
                "{HEAD}net none\nblacklist /home\n{BLACKLIST}whitelist /root/project\n\
                 private-tmp\nprivate-dev\n{BASE_RO}read-only /root/project\n{}",
                tail()
            )
        );
        // Inside a user folder: that folder is left to the whitelist too.
        let p = lists(&[], &["/root/Documents/notes"], &[], &[]);
        let out = render(Settings::default(), &p, &as_root()).unwrap();
        assert!(!out.contains("/Documents\n"), "{out}");
        assert!(out.contains("blacklist ${HOME}/Desktop\n"), "{out}");
        assert!(out.contains("whitelist /root/Documents/notes\n"), "{out}");
        // A listed folder holding a home opens it.
        let p = lists(&["/home"], &[], &[], &[]);
        let out = render(Settings::default(), &p, &as_root()).unwrap();
        assert!(out.contains("\nblacklist /root\n"), "{out}");
        assert!(!out.contains("blacklist /home"), "{out}");
        assert!(out.contains("\nread-only /home\n"), "{out}");
        let p = lists(&["/"], &[], &[], &[]);
        let out = render(Settings::default(), &p, &as_root()).unwrap();
        assert!(!out.contains("blacklist /home\n"), "{out}");
        assert!(!out.contains("blacklist /root\n"), "{out}");
    }

    #[test]
    fn golden_a_program_in_a_hidden_home_stays_visible() {
        let host = Host {
            program: Some("/root/bin/tool"),
            ..as_root()
        };
        let out = render(Settings::default(), &PathLists::default(), &host).unwrap();
        assert_eq!(
            out,
            format!(
                "{HEAD}net none\nblacklist /home\n{BLACKLIST}whitelist /root/bin/tool\n\
                 private-tmp\nprivate-dev\n{BASE_RO}read-only /root/bin/tool\n{}",
                tail()
            )
        );
    }

    #[test]
    fn golden_env_home_user_folders_blacklisted_too() {
        let host = Host {
            env_home: Some("/srv/u/"),
            ..as_root()
        };
        let out = render(Settings::default(), &PathLists::default(), &host).unwrap();
        let want = format!(
            "{HEAD}net none\n{HOMES}blacklist /srv/u/Documents\nblacklist /srv/u/Desktop\n\
             blacklist /srv/u/Downloads\nblacklist /srv/u/Pictures\nblacklist /srv/u/Videos\n\
             blacklist /srv/u/Music\nprivate-tmp\nprivate-dev\n{BASE_RO}{}",
            tail()
        );
        assert_eq!(out, want);
        // A home that is hidden anyway adds nothing.
        for env_home in ["/root", "/home/u"] {
            let host = Host {
                env_home: Some(env_home),
                ..as_root()
            };
            assert_eq!(
                render(Settings::default(), &PathLists::default(), &host).unwrap(),
                render(Settings::default(), &PathLists::default(), &as_root()).unwrap()
            );
        }
    }

    #[test]
    fn golden_host_mounts_made_read_only() {
        let mounts: Vec<String> = [
            "/",
            "/proc",
            "/sys/fs/cgroup",
            "/dev/shm",
            "/tmp",
            "/run/netns",
            "/home",
            "/home/u/disk",
            "/var/lib/x",
            "/mnt/a,b/c",
            "/mnt/ok",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let host = Host {
            mounts: &mounts,
            ..Host::default()
        };
        let out = render(Settings::default(), &PathLists::default(), &host).unwrap();
        let want = format!(
            "{}private-tmp\nprivate-dev\n{BASE_RO}\
             read-only /home\nread-only /mnt\nread-only /var/lib/x\n{}",
            start(),
            tail()
        );
        assert_eq!(out, want);
        let bad = vec!["/a,b".to_string()];
        let host = Host {
            mounts: &bad,
            ..Host::default()
        };
        let e = render(Settings::default(), &PathLists::default(), &host).unwrap_err();
        assert!(e.message().contains("\"/a,b\""), "{e}");
    }

    #[test]
    fn golden_program_kept_visible_next_to_whitelists() {
        // In /tmp, which is private otherwise.
        let host = Host {
            program: Some("/tmp/bin/tool"),
            ..Host::default()
        };
        let out = render(Settings::default(), &PathLists::default(), &host).unwrap();
        let want = format!(
            "{}whitelist /tmp/bin/tool\nprivate-dev\n{BASE_RO}read-only /tmp/bin/tool\n{}",
            start(),
            tail()
        );
        assert_eq!(out, want);
        // Beside a whitelisted folder under the same top-level folder.
        let host = Host {
            program: Some("/opt/tool/bin/run"),
            ..Host::default()
        };
        let p = lists(&["/opt/data"], &[], &[], &[]);
        let out = render(Settings::default(), &p, &host).unwrap();
        assert!(
            out.contains("whitelist /opt/data\nwhitelist /opt/tool/bin/run\n"),
            "{out}"
        );
        assert!(
            out.contains("read-only /opt/data\nread-only /opt/tool/bin/run\n"),
            "{out}"
        );
        // Inside a listed folder, or far from any: nothing to add.
        for prog in ["/opt/data/run", "/usr/bin/cat"] {
            let host = Host {
                program: Some(prog),
                ..Host::default()
            };
            assert_eq!(
                render(Settings::default(), &p, &host).unwrap(),
                render_default(&p),
                "{prog}"
            );
        }
    }

    #[test]
    fn whitelist_roots_follow_firejail() {
        let home = Some("/home/u");
        assert_eq!(whitelist_root("/home/u/a/b", home), "/home/u");
        assert_eq!(whitelist_root("/run/user/1000/x", home), "/run/user/1000");
        assert_eq!(whitelist_root("/usr/share/doc", home), "/usr/share");
        assert_eq!(whitelist_root("/usr/bin/cat", home), "/usr");
        assert_eq!(whitelist_root("/tmp/x", None), "/tmp");
    }

    #[test]
    fn unsafe_paths_are_rejected_with_key_and_path() {
        for bad in [
            "/a\nnet none",
            "/a\rb",
            "/a\0b",
            "/a,b",
            "/a..b",
            "/a/../b",
            "/a#b",
            "/${HOME}/x",
            "/a*",
            "/a?",
            "/a[1]",
            "/a  b",
            "/a ",
            "/a\tb",
            "/a\"b",
            "/a'b",
            "/a\\b",
            "/a;b",
            "relative/path",
            "",
        ] {
            let e = check_path("allow_write_folders", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{bad:?}");
            assert!(e.message().contains("\"allow_write_folders\""), "{e}");
        }
        for good in ["/a b", "/é/ü", "/a:b", "/a=b+c@d~e|f-g_h", "/.hidden/x"] {
            assert_eq!(check_path("k", good).unwrap(), good);
        }
    }

    /// The longest value a line can hold is accepted and one byte more is
    /// not, and a line with the longest value still fits what firejail
    /// reads at once.
    #[test]
    fn values_are_bounded_by_firejails_line_length() {
        let longest = MAX_LINE_BYTES - LINE_OVERHEAD;
        let fits = format!("/{}", "a".repeat(longest - 1));
        assert_eq!(check_path("allow_read_folders", &fits).unwrap(), fits);
        let too_long = format!("{fits}b");
        let e = check_path("allow_read_folders", &too_long).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("\"allow_read_folders\""), "{e}");
        assert!(e.message().contains("8170 bytes long"), "{e}");
        assert!(e.message().len() < 400, "the message quotes all of it: {e}");
        // Host values too: a HOME is written with a user folder after it.
        let home = format!("/{}", "h".repeat(longest - 1));
        let host = Host {
            env_home: Some(&home),
            ..Host::default()
        };
        let out = render(Settings::default(), &lists(&[&fits], &[], &[], &[]), &host).unwrap();
        assert!(out.lines().all(|l| l.len() <= MAX_LINE_BYTES));
        assert!(out.contains(&format!("blacklist {home}/Downloads\n")));
        let home = format!("{home}h");
        let host = Host {
            env_home: Some(&home),
            ..Host::default()
        };
        let e = render(Settings::default(), &PathLists::default(), &host).unwrap_err();
        assert!(e.message().contains("HOME"), "{e}");
    }

    #[test]
    fn bad_host_values_are_named() {
        let host = Host {
            env_home: Some("/home/a,b"),
            ..Host::default()
        };
        let e = render(Settings::default(), &PathLists::default(), &host).unwrap_err();
        assert!(e.message().contains("HOME \"/home/a,b\""), "{e}");
        let host = Host {
            program: Some("/bin/a#b"),
            ..Host::default()
        };
        let e = render(Settings::default(), &PathLists::default(), &host).unwrap_err();
        assert!(e.message().contains("the command \"/bin/a#b\""), "{e}");
        let host = Host {
            caller_home: Some("/srv/a;b"),
            ..Host::default()
        };
        let e = render(Settings::default(), &PathLists::default(), &host).unwrap_err();
        assert!(
            e.message().contains("the caller's home \"/srv/a;b\""),
            "{e}"
        );
        // Inside a folder hidden anyway, it needs no line of its own.
        let host = Host {
            caller_home: Some("/home/a;b"),
            passwd_home: Some("/root/a,b"),
            ..Host::default()
        };
        assert_eq!(
            render(Settings::default(), &PathLists::default(), &host).unwrap(),
            render_default(&PathLists::default()).replace(BLACKLIST, "")
        );
    }

    /// firejail 0.9.72's own reading of a profile: `fgets` into 8192 bytes
    /// (so at most 8191 bytes, up to and including a newline, per read), a
    /// `#` ends the line, so do `\n` and `\r`, blanks are trimmed and folded;
    /// an empty result is no directive.
    fn firejail_lines(profile: &str) -> Vec<String> {
        const READ: usize = MAX_LINE_BYTES + 1;
        let bytes = profile.as_bytes();
        let mut lines = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let limit = bytes.len().min(at + READ);
            let end = bytes[at..limit]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(limit, |i| at + i + 1);
            let piece = &bytes[at..end];
            at = end;
            let piece = piece.split(|&b| b == b'#').next().unwrap_or(&[]);
            let piece = piece
                .split(|&b| b == b'\n' || b == b'\r')
                .next()
                .unwrap_or(&[]);
            let text = String::from_utf8_lossy(piece);
            let line = text
                .split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if !line.is_empty() {
                lines.push(line);
            }
        }
        lines
    }

    #[test]
    fn the_model_reads_long_lines_in_pieces_as_firejail_does() {
        let pad = "a".repeat(MAX_LINE_BYTES + 1 - "read-only /".len());
        let profile = format!("read-only /{pad}read-write /srv\n#x\nnet none\n");
        assert_eq!(
            firejail_lines(&profile),
            [
                format!("read-only /{pad}"),
                "read-write /srv".into(),
                "net none".into()
            ]
        );
        let exact = format!("read-only /{}\n", "a".repeat(MAX_LINE_BYTES - 11));
        assert_eq!(firejail_lines(&exact).len(), 1);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A path long enough that a line holding it reaches firejail's
        /// read size, ending with a directive where the line would be cut.
        fn long_path() -> impl Strategy<Value = String> {
            (
                MAX_LINE_BYTES - 40..MAX_LINE_BYTES + 10,
                prop_oneof![
                    Just("read-write /srv"),
                    Just("ignore seccomp"),
                    Just("ignore caps.drop"),
                    Just("/x"),
                ],
            )
                .prop_map(|(len, tail)| format!("/{}{tail}", "a".repeat(len)))
        }

        fn any_path() -> impl Strategy<Value = String> {
            prop_oneof![
                // Anything at all, including separators and macros.
                any::<String>(),
                // Mostly plausible paths with a sprinkling of specials.
                "(/[a-zA-Z0-9 ._,#$*?\\[\\]{}\n\r\t\"'\\\\-]{0,6}){1,4}",
                long_path(),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever the paths, the profile either is refused or holds
            /// exactly the directives the list lengths call for, each path
            /// read back by firejail exactly as given.
            #[test]
            fn no_path_adds_or_removes_a_directive(
                rf in proptest::collection::vec(any_path(), 0..3),
                wf in proptest::collection::vec(any_path(), 0..3),
                rfi in proptest::collection::vec(any_path(), 0..2),
                wfi in proptest::collection::vec(any_path(), 0..2),
            ) {
                let checked = |key, v: &Vec<String>| -> Option<Vec<String>> {
                    v.iter().map(|p| check_path(key, p).ok()).collect()
                };
                let (Some(rf), Some(wf), Some(rfi), Some(wfi)) = (
                    checked("allow_read_folders", &rf),
                    checked("allow_write_folders", &wf),
                    checked("allow_read_files", &rfi),
                    checked("allow_write_files", &wfi),
                ) else {
                    return Ok(());
                };
                let paths = PathLists {
                    read_folders: rf.clone(),
                    write_folders: wf.clone(),
                    read_files: rfi.clone(),
                    write_files: wfi.clone(),
                };
                let profile = render(Settings::default(), &paths, &Host::default()).unwrap();
                let got = firejail_lines(&profile);

                // The same shape with harmless names (top-level folders are
                // never whitelisted, so they keep their depth; `/` and the
                // homes decide which homes are hidden, so they stay).
                let plain = |v: &Vec<String>, tag: &str| -> Vec<String> {
                    v.iter()
                        .enumerate()
                        .map(|(i, p)| {
                            if p == "/" || HOME_FOLDERS.iter().any(|h| is_under(p, h)) {
                                p.clone()
                            } else if whitelistable(p) {
                                format!("/tmp/{tag}{i}")
                            } else {
                                format!("/{tag}{i}")
                            }
                        })
                        .collect()
                };
                let shape = PathLists {
                    read_folders: plain(&rf, "rf"),
                    write_folders: plain(&wf, "wf"),
                    read_files: plain(&rfi, "rfi"),
                    write_files: plain(&wfi, "wfi"),
                };
                let reference = firejail_lines(
                    &render(Settings::default(), &shape, &Host::default()).unwrap(),
                );
                let directive = |l: &String| l.split(' ').next().unwrap_or("").to_string();
                let no_tmp = |v: Vec<String>| -> Vec<String> {
                    v.into_iter().filter(|l| l != "private-tmp").collect()
                };
                prop_assert_eq!(
                    no_tmp(got.clone()).iter().map(directive).collect::<Vec<_>>(),
                    no_tmp(reference).iter().map(directive).collect::<Vec<_>>()
                );
                // Every path comes back whole, on its own line.
                let all: Vec<&String> = rf.iter().chain(&wf).chain(&rfi).chain(&wfi).collect();
                for p in all {
                    let want = if whitelistable(p) {
                        format!("whitelist {p}")
                    } else if wf.contains(p) || wfi.contains(p) {
                        format!("read-write {p}")
                    } else {
                        format!("read-only {p}")
                    };
                    prop_assert!(got.contains(&want), "{} missing from {:?}", want, got);
                }
                // No path argument holds anything firejail would expand.
                for l in &got {
                    if let Some((d, arg)) = l.split_once(' ') {
                        if ["whitelist", "read-only", "read-write"].contains(&d) {
                            prop_assert!(!arg.contains(['$', '*', '?', '[', '#', ',']), "{}", l);
                        }
                    }
                }
            }
        }
    }
}
