//! What a spawn would do, without doing it: the argv that would be
//! executed (a wrapper's, element by element), the rendered profile, the
//! Landlock rules, namespaces, mounts, seccomp baseline, limits and the
//! environment the command would get. Each backend fills one in from the
//! same pure rendering its spawn uses (see `Backend::explain`).
//!
//! ```json
//! {
//!   "runner": "firejail",
//!   "program": "/usr/bin/true",
//!   "argv": ["/usr/bin/firejail", "--quiet", "...", "/usr/bin/true"],
//!   "profile": "# firejail profile ...",
//!   "landlock": null,
//!   "namespaces": ["mount", "pid", "network"],
//!   "mounts": [{"path": "/", "mode": "ro"}],
//!   "seccomp": null,
//!   "capabilities": "...",
//!   "network": "...",
//!   "limits": {},
//!   "containment": "...",
//!   "environment": ["PATH=/usr/bin:/bin"],
//!   "notes": ["..."]
//! }
//! ```
//!
//! Every key is always present (`null`, `[]` or `{}` when the runner has no
//! such layer), so a program can read the same shape for every runner.

use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};

use serde_json::{json, Map, Value};

/// The keys of an explanation, in the order the text form lists them.
pub const KEYS: [&str; 14] = [
    "runner",
    "program",
    "argv",
    "working_folder",
    "profile",
    "landlock",
    "namespaces",
    "mounts",
    "seccomp",
    "capabilities",
    "network",
    "limits",
    "containment",
    "environment",
];

/// What a spawn of one command would do under one runner.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    fields: Map<String, Value>,
    notes: Vec<String>,
}

/// Text of an argv element, env entry or path: bytes that are not UTF-8
/// are shown as `\xNN`.
pub(crate) fn text(s: &OsStr) -> String {
    let bytes = s.as_encoded_bytes();
    match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() && !b.is_ascii_control() {
                    (b as char).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect(),
    }
}

impl Explanation {
    /// An explanation for `runner` with every key at its empty value.
    pub(crate) fn new(runner: &str) -> Self {
        let mut fields = Map::new();
        for k in KEYS {
            fields.insert(k.to_string(), Value::Null);
        }
        fields.insert("runner".into(), json!(runner));
        for k in ["argv", "namespaces", "mounts", "environment"] {
            fields.insert(k.into(), json!([]));
        }
        fields.insert("limits".into(), json!({}));
        Explanation {
            fields,
            notes: Vec::new(),
        }
    }

    /// Sets one key (one of [`KEYS`]).
    pub(crate) fn set(mut self, key: &str, value: Value) -> Self {
        debug_assert!(KEYS.contains(&key), "{key}");
        self.fields.insert(key.into(), value);
        self
    }

    /// Sets the program as found and the whole argv that would be executed.
    pub(crate) fn argv<S: AsRef<OsStr>>(self, program: &OsStr, argv: &[S]) -> Self {
        let argv: Vec<String> = argv.iter().map(|a| text(a.as_ref())).collect();
        self.set("program", json!(text(program)))
            .set("argv", json!(argv))
    }

    /// Sets the environment the command would get, in order.
    pub(crate) fn environment(self, vars: &[(OsString, OsString)]) -> Self {
        let env: Vec<String> = vars
            .iter()
            .map(|(k, v)| format!("{}={}", text(k), text(v)))
            .collect();
        self.set("environment", json!(env))
    }

    /// Adds a remark (what is decided only at spawn time, say).
    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The runner's name.
    pub fn runner(&self) -> &str {
        self.fields["runner"].as_str().unwrap_or("")
    }

    /// The argv that would be executed, element by element.
    pub fn argv_elements(&self) -> Vec<&str> {
        self.fields["argv"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The rendered profile, for the runners that write one.
    pub fn profile(&self) -> Option<&str> {
        self.fields["profile"].as_str()
    }

    /// The explanation as JSON (see the module documentation).
    pub fn to_json(&self) -> Value {
        let mut v = self.fields.clone();
        v.insert("notes".into(), json!(self.notes));
        Value::Object(v)
    }

    /// The explanation for people: one section per key.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for k in KEYS {
            let v = &self.fields[k];
            match (k, v) {
                ("argv", Value::Array(a)) => {
                    let _ = writeln!(out, "argv ({} elements):", a.len());
                    for (i, e) in a.iter().enumerate() {
                        let _ = writeln!(out, "  [{i}] {}", e.as_str().unwrap_or(""));
                    }
                }
                ("profile", Value::String(p)) => {
                    out.push_str("profile:\n");
                    for line in p.lines() {
                        let _ = writeln!(out, "  | {line}");
                    }
                }
                ("mounts", Value::Array(a)) if !a.is_empty() => {
                    out.push_str("mounts:\n");
                    for m in a {
                        let _ = writeln!(
                            out,
                            "  {} {}",
                            m["mode"].as_str().unwrap_or(""),
                            m["path"].as_str().unwrap_or("")
                        );
                    }
                }
                ("environment", Value::Array(a)) => {
                    let _ = writeln!(out, "environment ({} variables):", a.len());
                    for e in a {
                        let _ = writeln!(out, "  {}", e.as_str().unwrap_or(""));
                    }
                }
                ("landlock", Value::Object(l)) => {
                    out.push_str("landlock:\n");
                    for (key, val) in l {
                        match (key.as_str(), val) {
                            ("paths", Value::Array(paths)) => {
                                out.push_str("  paths:\n");
                                for p in paths {
                                    let _ = writeln!(
                                        out,
                                        "    {} ({}): {}",
                                        p["path"].as_str().unwrap_or(""),
                                        p["grant"].as_str().unwrap_or(""),
                                        list(&p["rights"])
                                    );
                                }
                            }
                            (key, val) => {
                                let _ = writeln!(out, "  {key}: {}", scalar(val));
                            }
                        }
                    }
                }
                (_, Value::Object(o)) => {
                    if o.is_empty() {
                        let _ = writeln!(out, "{k}: none");
                    } else {
                        let _ = writeln!(out, "{k}:");
                        for (key, val) in o {
                            let _ = writeln!(out, "  {key}: {}", scalar(val));
                        }
                    }
                }
                (_, v) => {
                    let _ = writeln!(out, "{k}: {}", scalar(v));
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

fn list(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(", "),
        v => scalar(v),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(_) => list(v),
        Value::Object(o) if o.contains_key("value") && o.contains_key("method") => {
            format!("{} ({})", scalar(&o["value"]), scalar(&o["method"]))
        }
        v => v.to_string(),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_present_and_the_text_lists_each_argv_element() {
        let e = Explanation::new("exec")
            .argv(OsStr::new("/bin/echo"), &["/bin/echo", "a b"])
            .environment(&[("K".into(), "v".into())])
            .note("n");
        let v = e.to_json();
        for k in KEYS {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["argv"][1], "a b");
        let t = e.to_text();
        assert!(t.contains("  [1] a b\n"), "{t}");
        assert!(t.contains("  K=v\n"), "{t}");
        assert!(t.contains("note: n\n"), "{t}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(text(OsStr::from_bytes(b"a\xffb")), "a\\xffb");
    }
}
