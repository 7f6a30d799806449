//! Which environment a command gets: the `inherit_env` and `pass_env`
//! options every runner takes, read by one helper and applied the same way
//! by every backend.
//!
//! Host runners pass the caller's whole environment by default (as
//! go-restricted-runner did); with `inherit_env: false` only the variables
//! `pass_env` names. A container never gets the caller's environment: only
//! the variables `pass_env` names. The spawn's own entries always apply on
//! top.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use serde_json::json;

use crate::enforcement::Enforcement;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::spawn::with_overrides;

/// One `pass_env` item: a variable name, or `PREFIX*` for every variable
/// whose name starts with `PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Name(Vec<u8>),
    Prefix(Vec<u8>),
}

impl Pattern {
    fn parse(kind: &str, item: &str) -> Result<Pattern> {
        let bad = |why: &str| {
            Err(Error::invalid_options(format!(
                "option \"pass_env\" of the {kind} runner: {item:?} {why}"
            )))
        };
        if item.is_empty() {
            return bad("is empty");
        }
        if item.contains('=') || item.contains('\0') {
            return bad("holds '=' or a NUL, which no variable name can");
        }
        match item.find('*') {
            None => Ok(Pattern::Name(item.as_bytes().to_vec())),
            Some(i) if i + 1 == item.len() && i > 0 => {
                Ok(Pattern::Prefix(item.as_bytes()[..i].to_vec()))
            }
            Some(_) if item == "*" => bad("would pass every variable: set \"inherit_env\" instead"),
            Some(_) => bad("is not a variable name nor a PREFIX* pattern ('*' only at the end)"),
        }
    }

    /// The item as written in the options.
    fn as_option(&self) -> String {
        match self {
            Pattern::Name(n) => String::from_utf8_lossy(n).into_owned(),
            Pattern::Prefix(p) => format!("{}*", String::from_utf8_lossy(p)),
        }
    }

    fn matches(&self, name: &OsStr) -> bool {
        match self {
            Pattern::Name(n) => name.as_bytes() == n.as_slice(),
            Pattern::Prefix(p) => name.as_bytes().starts_with(p),
        }
    }
}

/// A runner's environment policy, read once when the runner is built.
#[derive(Debug, Clone)]
pub(crate) struct EnvPolicy {
    inherit: bool,
    pass: Vec<Pattern>,
}

impl EnvPolicy {
    /// Reads a host runner's `inherit_env` (default true) and `pass_env`.
    /// `pass_env` without `inherit_env: false` is an error: with the
    /// default every variable is passed, which is not what a list of names
    /// asks for.
    pub(crate) fn parse(o: &mut Options) -> Result<Self> {
        let kind = o.kind();
        let inherit = o.bool("inherit_env")?.unwrap_or(true);
        let pass = Self::patterns(o)?;
        if inherit && !pass.is_empty() {
            return Err(Error::invalid_options(format!(
                "option \"pass_env\" of the {kind} runner applies only with \"inherit_env\": false \
                 (by default the command gets every variable of the caller)"
            )));
        }
        Ok(EnvPolicy { inherit, pass })
    }

    /// Reads a container runner's `pass_env`; its `inherit_env` may only be
    /// false, since a container never gets the caller's whole environment.
    pub(crate) fn parse_for_container(o: &mut Options) -> Result<Self> {
        let kind = o.kind();
        if o.bool("inherit_env")? == Some(true) {
            return Err(Error::invalid_options(format!(
                "option \"inherit_env\" of the {kind} runner cannot be true: a container never \
                 gets the caller's whole environment (name the variables to pass in \"pass_env\")"
            )));
        }
        Ok(EnvPolicy {
            inherit: false,
            pass: Self::patterns(o)?,
        })
    }

    fn patterns(o: &mut Options) -> Result<Vec<Pattern>> {
        let kind = o.kind();
        o.string_list("pass_env")?
            .iter()
            .map(|item| Pattern::parse(kind, item))
            .collect()
    }

    /// `report` with its `environment` layer saying what the command gets
    /// of the caller's environment.
    pub(crate) fn report(&self, report: Enforcement) -> Enforcement {
        if self.inherit {
            report.layer("environment", false, "inherited", json!({}))
        } else {
            let pass: Vec<String> = self.pass.iter().map(Pattern::as_option).collect();
            report.layer(
                "environment",
                true,
                "only the caller's variables pass_env names, and the spawn's own",
                json!({ "pass_env": pass }),
            )
        }
    }

    /// Whether the command gets the caller's environment as it is.
    pub(crate) fn inherits_all(&self) -> bool {
        self.inherit
    }

    /// Whether the caller's variable `name` is passed.
    fn passes(&self, name: &OsStr) -> bool {
        self.inherit || self.pass.iter().any(|p| p.matches(name))
    }

    /// The variables of `caller` (the caller's environment, in its order)
    /// this policy passes.
    pub(crate) fn filter(&self, caller: Vec<(OsString, OsString)>) -> Vec<(OsString, OsString)> {
        caller
            .into_iter()
            .filter(|(name, _)| self.passes(name))
            .collect()
    }

    /// The command's environment: the caller's variables this policy
    /// passes, then `overrides` (the spawn's own entries) on top.
    pub(crate) fn environment(
        &self,
        overrides: &[(OsString, OsString)],
    ) -> Vec<(OsString, OsString)> {
        with_overrides(self.filter(std::env::vars_os().collect()), overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const KEYS_OF_TEST: &[&str] = &["inherit_env", "pass_env"];

    fn host(json: &str) -> Result<EnvPolicy> {
        EnvPolicy::parse(&mut Options::parse("exec", Some(json), KEYS_OF_TEST)?)
    }

    fn container(json: &str) -> Result<EnvPolicy> {
        EnvPolicy::parse_for_container(&mut Options::parse("docker", Some(json), KEYS_OF_TEST)?)
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    const CALLER: &[(&str, &str)] = &[
        ("PATH", "/usr/bin"),
        ("API_KEY", "s3cret"),
        ("LC_ALL", "C"),
        ("LC_CTYPE", "C.UTF-8"),
        ("LCX", "x"),
        ("HOME", "/root"),
    ];

    #[test]
    fn host_runners_inherit_by_default() {
        let p = host("{}").unwrap();
        assert_eq!(p.filter(vars(CALLER)), vars(CALLER));
        let p = host(r#"{"inherit_env": true}"#).unwrap();
        assert_eq!(p.filter(vars(CALLER)), vars(CALLER));
    }

    #[test]
    fn without_inheritance_only_names_and_prefixes_pass() {
        let p = host(r#"{"inherit_env": false}"#).unwrap();
        assert_eq!(p.filter(vars(CALLER)), vars(&[]));
        let p = host(r#"{"inherit_env": false, "pass_env": ["PATH", "LC_*", "NOT_SET"]}"#).unwrap();
        assert_eq!(
            p.filter(vars(CALLER)),
            vars(&[
                ("PATH", "/usr/bin"),
                ("LC_ALL", "C"),
                ("LC_CTYPE", "C.UTF-8")
            ])
        );
    }

    #[test]
    fn containers_pass_only_what_is_named() {
        assert_eq!(container("{}").unwrap().filter(vars(CALLER)), vars(&[]));
        let p = container(r#"{"inherit_env": false, "pass_env": ["API_*"]}"#).unwrap();
        assert_eq!(p.filter(vars(CALLER)), vars(&[("API_KEY", "s3cret")]));
        let e = container(r#"{"inherit_env": true}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(
            e.message().contains("\"inherit_env\" of the docker runner"),
            "{e}"
        );
    }

    #[test]
    fn spawn_entries_apply_on_top() {
        let p = host(r#"{"inherit_env": false, "pass_env": ["PATH"]}"#).unwrap();
        let got = with_overrides(
            p.filter(vars(CALLER)),
            &vars(&[("PATH", "/bin"), ("MINE", "1")]),
        );
        assert_eq!(got, vars(&[("PATH", "/bin"), ("MINE", "1")]));
    }

    #[test]
    fn bad_items_are_named() {
        for (json, why) in [
            (
                r#"{"pass_env": ["PATH"]}"#,
                "applies only with \"inherit_env\": false",
            ),
            (r#"{"inherit_env": false, "pass_env": [""]}"#, "is empty"),
            (r#"{"inherit_env": false, "pass_env": ["A=B"]}"#, "'='"),
            (
                r#"{"inherit_env": false, "pass_env": ["*"]}"#,
                "every variable",
            ),
            (
                r#"{"inherit_env": false, "pass_env": ["A*B"]}"#,
                "only at the end",
            ),
            (
                r#"{"inherit_env": false, "pass_env": "PATH"}"#,
                "a list of strings",
            ),
            (r#"{"inherit_env": "no"}"#, "a boolean"),
        ] {
            let e = host(json).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{json}");
            assert!(e.message().contains("_env"), "{json}: {e}");
            assert!(e.message().contains(why), "{json}: {e}");
        }
    }
}
