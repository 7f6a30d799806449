//! The Seatbelt profile of the `sandbox-exec` runner: a pure function of the
//! options, the spawn's paths and the user's home.
//!
//! Paths go into SBPL string literals, where `\` and `"` are escaped; control
//! characters are refused (see `check_common`), so a path is always exactly
//! one string and can never close its form or open another.

use crate::backend::profile_file::{check_common, PathLists};
use crate::error::Result;

/// The user folders denied for reading unless `allow_user_folders` is set.
pub(crate) const USER_FOLDERS: [&str; 6] = [
    "Documents",
    "Desktop",
    "Downloads",
    "Pictures",
    "Movies",
    "Music",
];

/// System folders no command may write to.
const SYSTEM_SUBPATHS: [&str; 12] = [
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/etc",
    "/System",
    "/Library",
    "/var/db",
    "/private/etc",
    "/private/var/db",
];

/// Checks one path given in option `key`.
pub(crate) fn check_path(key: &'static str, path: &str) -> Result<String> {
    check_common(key, path)
}

/// The options that are not paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) allow_networking: bool,
    pub(crate) allow_user_folders: bool,
}

/// `s` as an SBPL string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Renders the profile for one spawn. `paths` must have passed
/// [`check_path`]; `home` is the user's home folder, if known.
pub(crate) fn render(settings: Settings, paths: &PathLists, home: Option<&str>) -> Result<String> {
    let home = home
        .filter(|h| !h.is_empty())
        .map(|h| check_common("HOME", h))
        .transpose()?;
    let mut out = String::from(
        ";; Seatbelt profile rendered by restricted-runner\n(version 1)\n(allow default)\n",
    );
    for p in SYSTEM_SUBPATHS {
        out.push_str(&format!("(deny file-write* (subpath {}))\n", quote(p)));
    }
    out.push_str("(deny file-write* (literal \"/var/root\"))\n");
    out.push_str(if settings.allow_networking {
        "(allow network*)\n"
    } else {
        "(deny network*)\n"
    });
    if !settings.allow_user_folders {
        out.push_str(&format!(
            "(deny file-read* (regex #\"^/Users/[^/]+/({})(/|$)\"))\n",
            USER_FOLDERS.join("|")
        ));
        if let Some(h) = &home {
            for f in USER_FOLDERS {
                let dir = format!("{}/{f}", h.trim_end_matches('/'));
                out.push_str(&format!("(deny file-read* (subpath {}))\n", quote(&dir)));
            }
        }
    }
    let mut rule = |op: &str, filter: &str, list: &[String]| {
        for p in list {
            out.push_str(&format!("(allow {op} ({filter} {}))\n", quote(p)));
        }
    };
    rule("file-read*", "subpath", &paths.read_folders);
    rule("file-read*", "literal", &paths.read_files);
    rule("file-write*", "subpath", &paths.write_folders);
    rule("file-write*", "literal", &paths.write_files);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const HEAD: &str = ";; Seatbelt profile rendered by restricted-runner\n\
        (version 1)\n\
        (allow default)\n\
        (deny file-write* (subpath \"/bin\"))\n\
        (deny file-write* (subpath \"/sbin\"))\n\
        (deny file-write* (subpath \"/usr/bin\"))\n\
        (deny file-write* (subpath \"/usr/sbin\"))\n\
        (deny file-write* (subpath \"/usr/local/bin\"))\n\
        (deny file-write* (subpath \"/usr/local/sbin\"))\n\
        (deny file-write* (subpath \"/etc\"))\n\
        (deny file-write* (subpath \"/System\"))\n\
        (deny file-write* (subpath \"/Library\"))\n\
        (deny file-write* (subpath \"/var/db\"))\n\
        (deny file-write* (subpath \"/private/etc\"))\n\
        (deny file-write* (subpath \"/private/var/db\"))\n\
        (deny file-write* (literal \"/var/root\"))\n";
    const USERS: &str = "(deny file-read* (regex #\"^/Users/[^/]+/(Documents|Desktop|Downloads|Pictures|Movies|Music)(/|$)\"))\n";

    fn lists(rf: &[&str], wf: &[&str], rfi: &[&str], wfi: &[&str]) -> PathLists {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        PathLists {
            read_folders: v(rf),
            write_folders: v(wf),
            read_files: v(rfi),
            write_files: v(wfi),
        }
    }

    #[test]
    fn golden_defaults_deny_network_and_user_folders() {
        let out = render(Settings::default(), &PathLists::default(), None).unwrap();
        assert_eq!(out, format!("{HEAD}(deny network*)\n{USERS}"));
    }

    #[test]
    fn golden_allowing_user_folders_allows_them() {
        let s = Settings {
            allow_networking: true,
            allow_user_folders: true,
        };
        let out = render(s, &PathLists::default(), Some("/Users/me")).unwrap();
        assert_eq!(out, format!("{HEAD}(allow network*)\n"));
    }

    #[test]
    fn golden_home_folders_denied_by_path() {
        let out = render(
            Settings::default(),
            &PathLists::default(),
            Some("/var/root/"),
        )
        .unwrap();
        let want = format!(
            "{HEAD}(deny network*)\n{USERS}\
             (deny file-read* (subpath \"/var/root/Documents\"))\n\
             (deny file-read* (subpath \"/var/root/Desktop\"))\n\
             (deny file-read* (subpath \"/var/root/Downloads\"))\n\
             (deny file-read* (subpath \"/var/root/Pictures\"))\n\
             (deny file-read* (subpath \"/var/root/Movies\"))\n\
             (deny file-read* (subpath \"/var/root/Music\"))\n"
        );
        assert_eq!(out, want);
    }

    #[test]
    fn golden_every_path_option() {
        let s = Settings {
            allow_networking: true,
            allow_user_folders: true,
        };
        let p = lists(&["/srv/in"], &["/srv/out"], &["/etc/a.conf"], &["/tmp/log"]);
        let want = format!(
            "{HEAD}(allow network*)\n\
             (allow file-read* (subpath \"/srv/in\"))\n\
             (allow file-read* (literal \"/etc/a.conf\"))\n\
             (allow file-write* (subpath \"/srv/out\"))\n\
             (allow file-write* (literal \"/tmp/log\"))\n"
        );
        assert_eq!(render(s, &p, None).unwrap(), want);
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let p = lists(
            &["/a\"b\\c) (allow file-write* (subpath \"/"],
            &[],
            &[],
            &[],
        );
        let s = Settings {
            allow_networking: true,
            allow_user_folders: true,
        };
        let out = render(s, &p, None).unwrap();
        assert!(out.ends_with(
            "(allow file-read* (subpath \"/a\\\"b\\\\c) (allow file-write* (subpath \\\"/\"))\n"
        ), "{out}");
    }

    #[test]
    fn bad_paths_are_rejected() {
        for bad in ["/a\nb", "/a\0b", "rel", "", "/a/../b"] {
            let e = check_path("allow_read_files", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions);
            assert!(e.message().contains("\"allow_read_files\""), "{e}");
        }
        let e = render(Settings::default(), &PathLists::default(), Some("rel")).unwrap_err();
        assert!(e.message().contains("\"HOME\""), "{e}");
    }

    /// A minimal SBPL reader: top-level forms as trees of atoms and decoded
    /// strings.
    #[derive(Debug, PartialEq)]
    enum Sx {
        Atom(String),
        Str(String),
        List(Vec<Sx>),
    }

    fn read_all(text: &str) -> Vec<Sx> {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        while let Some(x) = read(&chars, &mut i) {
            out.push(x);
        }
        out
    }

    fn read(c: &[char], i: &mut usize) -> Option<Sx> {
        loop {
            match c.get(*i)? {
                ';' => {
                    while *i < c.len() && c[*i] != '\n' {
                        *i += 1;
                    }
                }
                w if w.is_whitespace() => *i += 1,
                _ => break,
            }
        }
        match c[*i] {
            '(' => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    while c.get(*i).is_some_and(|w| w.is_whitespace()) {
                        *i += 1;
                    }
                    if c.get(*i) == Some(&')') {
                        *i += 1;
                        return Some(Sx::List(items));
                    }
                    items.push(read(c, i)?);
                }
            }
            '"' | '#' => {
                if c[*i] == '#' {
                    *i += 1;
                }
                *i += 1;
                let mut s = String::new();
                while c[*i] != '"' {
                    if c[*i] == '\\' {
                        *i += 1;
                    }
                    s.push(c[*i]);
                    *i += 1;
                }
                *i += 1;
                Some(Sx::Str(s))
            }
            _ => {
                let mut s = String::new();
                while *i < c.len() && !c[*i].is_whitespace() && c[*i] != '(' && c[*i] != ')' {
                    s.push(c[*i]);
                    *i += 1;
                }
                Some(Sx::Atom(s))
            }
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever the paths, the profile either is refused or has one
            /// form per path, holding that path as one string.
            #[test]
            fn no_path_adds_or_removes_a_form(
                rf in proptest::collection::vec(any::<String>(), 0..3),
                wf in proptest::collection::vec("/[ -~]{0,12}", 0..3),
            ) {
                let checked = |key, v: &Vec<String>| -> Option<Vec<String>> {
                    v.iter().map(|p| check_path(key, p).ok()).collect()
                };
                let (Some(rf), Some(wf)) = (
                    checked("allow_read_folders", &rf),
                    checked("allow_write_folders", &wf),
                ) else {
                    return Ok(());
                };
                let paths = PathLists {
                    read_folders: rf.clone(),
                    write_folders: wf.clone(),
                    ..PathLists::default()
                };
                let profile = render(Settings::default(), &paths, None).unwrap();
                let forms = read_all(&profile);
                let base = read_all(&render(Settings::default(), &PathLists::default(), None).unwrap());
                prop_assert_eq!(forms.len(), base.len() + rf.len() + wf.len());
                let tail = &forms[base.len()..];
                for (form, (op, filter, p)) in tail.iter().zip(
                    rf.iter().map(|p| ("file-read*", "subpath", p))
                        .chain(wf.iter().map(|p| ("file-write*", "subpath", p)))
                ) {
                    let want = Sx::List(vec![
                        Sx::Atom("allow".into()),
                        Sx::Atom(op.into()),
                        Sx::List(vec![Sx::Atom(filter.into()), Sx::Str(p.clone())]),
                    ]);
                    prop_assert_eq!(form, &want);
                }
            }
        }
    }
}
