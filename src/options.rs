//! Strict reading of a runner's JSON options.
//!
//! Every backend declares the keys it knows; a key outside that list, a value
//! of the wrong type, or malformed JSON is an [`ErrorKind::InvalidOptions`]
//! error that names the key and what was expected. A JSON `null` counts as
//! "not given", because Go's `encoding/json` writes nil slices and maps that way.
//!
//! [`ErrorKind::InvalidOptions`]: crate::ErrorKind::InvalidOptions

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::template::{Template, TemplateError};

/// A parsed options object, consumed key by key with typed getters.
#[derive(Debug)]
pub struct Options {
    kind: &'static str,
    map: Map<String, Value>,
}

impl Options {
    /// Parses `json` (absent or blank means `{}`) for the runner `kind`,
    /// rejecting any key not in `known`.
    pub fn parse(kind: &'static str, json: Option<&str>, known: &[&str]) -> Result<Self> {
        let map = parse_object(json, "options")?;
        let mut unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            let known = if known.is_empty() {
                "it takes no options".to_string()
            } else {
                format!("known keys: {}", known.join(", "))
            };
            return Err(Error::invalid_options(format!(
                "unknown option{} {} for the {kind} runner ({known})",
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )));
        }
        Ok(Options { kind, map })
    }

    /// The runner kind these options are for.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> Error {
        Error::invalid_options(format!(
            "option {key:?} of the {} runner: expected {expected}, got {}",
            self.kind,
            describe(got)
        ))
    }

    /// A boolean option.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(self.wrong_type(key, "a boolean", &v)),
        }
    }

    /// A string option.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(key, "a string", &v)),
        }
    }

    /// A list-of-strings option; absent means empty.
    pub fn string_list(&mut self, key: &str) -> Result<Vec<String>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s),
                    other => {
                        Err(self.wrong_type(key, &format!("a list of strings (item {i})"), &other))
                    }
                })
                .collect(),
            Some(v) => Err(self.wrong_type(key, "a list of strings", &v)),
        }
    }

    /// A non-negative integer option. Integral floats (`1e+06`, as Go writes
    /// large `float64` values) are accepted.
    pub fn u64(&mut self, key: &str) -> Result<Option<u64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match number_as_u64(&n) {
                Some(v) => Ok(Some(v)),
                None => Err(self.wrong_type(key, "a non-negative integer", &Value::Number(n))),
            },
            Some(v) => Err(self.wrong_type(key, "a non-negative integer", &v)),
        }
    }

    /// A signed integer option (Go's `int`); integral floats are accepted.
    pub fn i64(&mut self, key: &str) -> Result<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match number_as_i64(&n) {
                Some(v) => Ok(Some(v)),
                None => Err(self.wrong_type(key, "an integer", &Value::Number(n))),
            },
            Some(v) => Err(self.wrong_type(key, "an integer", &v)),
        }
    }

    /// A finite number option (Go's `float64`).
    pub fn f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64().filter(|f| f.is_finite()) {
                Some(v) => Ok(Some(v)),
                None => Err(self.wrong_type(key, "a number", &Value::Number(n))),
            },
            Some(v) => Err(self.wrong_type(key, "a number", &v)),
        }
    }

    /// A list of non-negative integers no larger than `max` (ports, say).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn u64_list(&mut self, key: &str, max: u64) -> Result<Vec<u64>> {
        let expected = format!("a list of integers from 0 to {max}");
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match &item {
                    Value::Number(n) => match number_as_u64(n) {
                        Some(v) if v <= max => Ok(v),
                        _ => Err(self.wrong_type(key, &expected, &item)),
                    },
                    _ => Err(self.wrong_type(key, &expected, &item)),
                })
                .collect(),
            Some(v) => Err(self.wrong_type(key, &expected, &v)),
        }
    }

    /// A list-of-strings option whose items may hold `{{ .name }}` params.
    pub fn template_list(&mut self, key: &'static str) -> Result<Vec<TemplatedValue>> {
        self.string_list(key)?
            .into_iter()
            .map(|s| TemplatedValue::parse(key, s))
            .collect()
    }
}

/// A path option's value, which may hold `{{ .name }}` params filled per
/// spawn. Every runner's path options go through the same checks here:
///
/// - the path is normalised: repeated and trailing slashes and `.`
///   segments are dropped;
/// - it may hold no control character (a NUL would cut it short, a newline
///   would end a profile line) and no `..` segment (which would make it
///   name a place other than the one it spells out);
/// - a param's value may hold neither of those either, so that a param can
///   never lead out of the folder the template names;
/// - a template that starts with a param leaves the choice of an absolute
///   path to that param: when the param is empty, the rest of the template
///   may not make the path absolute.
///
/// A value without params is checked when the runner is built.
#[derive(Debug, Clone)]
pub struct TemplatedValue {
    key: &'static str,
    template: Template,
}

impl TemplatedValue {
    /// Parses `source`, the value of option `key`; a value without params
    /// is checked at once.
    pub fn parse(key: &'static str, source: String) -> Result<Self> {
        let template = Template::parse(&source).map_err(|e| {
            Error::invalid_options(format!("option {key:?}: value {source:?}: {e}"))
        })?;
        let value = TemplatedValue { key, template };
        if value.is_literal() {
            value.render(&crate::template::Params::new())?;
        }
        Ok(value)
    }

    /// The option key this value came from.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// True when the value holds no placeholder, so it is final as written.
    pub fn is_literal(&self) -> bool {
        self.template.is_literal()
    }

    /// The value as written in the options.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// The params the value names, for error messages: empty, or
    /// ` (filled from the param "a")`.
    pub fn params_named(&self) -> String {
        match self.template.param_names().as_slice() {
            [] => String::new(),
            [one] => format!(" (filled from the param {one:?})"),
            many => format!(
                " (filled from the params {})",
                many.iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Fills in the params and returns the normalised path. A param the
    /// value names but `params` lacks, or a path or param value the checks
    /// above refuse, is an error naming the option key and the param.
    pub fn render(&self, params: &crate::template::Params) -> Result<String> {
        let fail = |why: String| {
            Error::invalid_options(format!(
                "option {:?}: value {:?}: {why}",
                self.key,
                self.template.source()
            ))
        };
        let rendered = self
            .template
            .render_checked(params, |name, value| {
                path_fault(value).map_or(Ok(()), |why| {
                    Err(TemplateError::new(format!(
                        "the param {name:?} ({value:?}) {why}"
                    )))
                })
            })
            .map_err(|e| fail(e.to_string()))?;
        if let Some(first) = self.template.leading_param() {
            if params.get(first) == Some("") && rendered.starts_with('/') {
                return Err(fail(format!(
                    "the param {first:?} is empty, which would make the path {rendered:?} \
                     start at the root folder"
                )));
            }
        }
        if let Some(why) = path_fault(&rendered) {
            return Err(fail(if self.is_literal() {
                format!("the path {why}")
            } else {
                format!("the path {rendered:?} {why}{}", self.params_named())
            }));
        }
        if rendered.is_empty() {
            return Err(fail(format!("it is an empty path{}", self.params_named())));
        }
        Ok(normalize_path(&rendered))
    }
}

/// Why a path (or a piece of one) cannot be used, if it cannot.
fn path_fault(path: &str) -> Option<String> {
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Some(format!("holds the control character {c:?}"));
    }
    if path.split('/').any(|segment| segment == "..") {
        return Some("has a \"..\" segment".into());
    }
    None
}

/// `path` without repeated or trailing slashes and `.` segments; `/` and
/// `.` stay as they are. `path` has no `..` segment.
fn normalize_path(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let joined = segments.join("/");
    match (path.starts_with('/'), joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Parses a JSON document that must be an object; `what` names it in
/// errors. A key given twice in any object of the document is an error
/// naming it: serde_json's own maps would silently keep the last value.
pub(crate) fn parse_object(json: Option<&str>, what: &str) -> Result<Map<String, Value>> {
    let text = match json {
        None => return Ok(Map::new()),
        Some(t) if t.trim().is_empty() => return Ok(Map::new()),
        Some(t) => t,
    };
    match serde_json::from_str::<UniqueKeys>(text) {
        Ok(UniqueKeys(Value::Object(map))) => Ok(map),
        Ok(UniqueKeys(other)) => Err(Error::invalid_options(format!(
            "{what} must be a JSON object, got {}",
            describe(&other)
        ))),
        Err(e) if e.is_data() => Err(Error::invalid_options(format!("{what}: {e}"))),
        Err(e) => Err(Error::invalid_options(format!(
            "{what} are not valid JSON: {e}"
        ))),
    }
}

/// A JSON value read with every object's keys checked to be distinct.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} is given twice"
                )));
            }
            let UniqueKeys(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

fn number_as_u64(n: &serde_json::Number) -> Option<u64> {
    if let Some(v) = n.as_u64() {
        return Some(v);
    }
    let f = n.as_f64()?;
    // 2^64 is exactly representable; anything at or above it does not fit.
    if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 {
        Some(f as u64)
    } else {
        None
    }
}

fn number_as_i64(n: &serde_json::Number) -> Option<i64> {
    if let Some(v) = n.as_i64() {
        return Some(v);
    }
    let f = n.as_f64()?;
    // -2^63 and 2^63 are exactly representable; the range is [-2^63, 2^63).
    if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
    {
        Some(f as i64)
    } else {
        None
    }
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const KNOWN: &[&str] = &[
        "shell", "flag", "list", "n", "ports", "a", "b", "c", "d", "e",
    ];

    fn opts(json: &str) -> Result<Options> {
        Options::parse("test", Some(json), KNOWN)
    }

    #[test]
    fn absent_and_blank_mean_empty() {
        assert!(Options::parse("test", None, KNOWN).is_ok());
        assert!(Options::parse("test", Some("  "), KNOWN).is_ok());
    }

    #[test]
    fn unknown_keys_are_named_with_the_known_ones() {
        let e = opts(r#"{"shel": "/bin/sh", "zzz": 1}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("\"shel\", \"zzz\""), "{e}");
        assert!(e.message().contains("known keys: shell, flag"), "{e}");
    }

    #[test]
    fn malformed_json_and_non_objects_are_rejected() {
        let e = opts("{").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert!(e.message().contains("not valid JSON"), "{e}");
        let e = opts("[1]").unwrap_err();
        assert!(e.message().contains("must be a JSON object"), "{e}");
    }

    #[test]
    fn wrong_types_name_key_and_expectation() {
        let mut o = opts(r#"{"flag": "yes"}"#).unwrap();
        let e = o.bool("flag").unwrap_err();
        assert!(e.message().contains("option \"flag\""), "{e}");
        assert!(
            e.message()
                .contains("expected a boolean, got string \"yes\""),
            "{e}"
        );

        let mut o = opts(r#"{"list": ["a", 2]}"#).unwrap();
        let e = o.string_list("list").unwrap_err();
        assert!(e.message().contains("(item 1)"), "{e}");
    }

    #[test]
    fn null_is_absent() {
        let mut o = opts(r#"{"list": null, "flag": null}"#).unwrap();
        assert!(o.string_list("list").unwrap().is_empty());
        assert_eq!(o.bool("flag").unwrap(), None);
    }

    #[test]
    fn signed_integers_and_numbers() {
        let mut o = opts(r#"{"a": -1, "b": 1e+03, "c": 1.5, "d": "x", "e": 0.25}"#).unwrap();
        assert_eq!(o.i64("a").unwrap(), Some(-1));
        assert_eq!(o.i64("b").unwrap(), Some(1000));
        let e = o.i64("c").unwrap_err();
        assert!(e.message().contains("expected an integer"), "{e}");
        let e = o.f64("d").unwrap_err();
        assert!(e.message().contains("expected a number"), "{e}");
        assert_eq!(o.f64("e").unwrap(), Some(0.25));
        assert_eq!(o.f64("zz").unwrap(), None);
    }

    #[test]
    fn integers_accept_go_floats() {
        let mut o = opts(r#"{"n": 1e+06, "ports": [80, 443.0]}"#).unwrap();
        assert_eq!(o.u64("n").unwrap(), Some(1_000_000));
        assert_eq!(o.u64_list("ports", 65535).unwrap(), vec![80, 443]);
        let mut o = opts(r#"{"n": -1, "ports": [70000]}"#).unwrap();
        assert!(o.u64("n").is_err());
        assert!(o.u64_list("ports", 65535).is_err());
        let mut o = opts(r#"{"n": 1.5}"#).unwrap();
        assert!(o.u64("n").is_err());
    }
    #[test]
    fn a_key_given_twice_is_named() {
        for json in [
            r#"{"flag": false, "flag": true}"#,
            r#"{"a": {"flag": 1, "flag": 2}}"#,
            r#"{"a": [{"x": 1}, {"flag": 1, "flag": 1}]}"#,
        ] {
            let e = Options::parse("test", Some(json), KNOWN).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{json}");
            assert!(e.message().contains("\"flag\" is given twice"), "{e}");
            assert!(!e.message().contains("not valid JSON"), "{e}");
        }
        // The same key in different objects is fine.
        let mut o = opts(r#"{"a": {"k": 1}, "b": {"k": 2}, "list": ["x", "x"]}"#).unwrap();
        assert_eq!(o.string_list("list").unwrap(), ["x", "x"]);
    }

    fn params(pairs: &[(&str, &str)]) -> crate::template::Params {
        let mut p = crate::template::Params::new();
        for (k, v) in pairs {
            p.insert(*k, *v);
        }
        p
    }

    fn path(source: &str, pairs: &[(&str, &str)]) -> Result<String> {
        TemplatedValue::parse("allow_read_folders", source.to_string())?.render(&params(pairs))
    }

    #[test]
    fn literal_paths_are_normalised() {
        for (given, want) in [
            ("/srv/data", "/srv/data"),
            ("/srv//data/", "/srv/data"),
            ("//srv/./data/.", "/srv/data"),
            ("/", "/"),
            ("///", "/"),
            ("/.", "/"),
            ("rel//dir/", "rel/dir"),
            ("./", "."),
            ("cache", "cache"),
            ("/a..b/.c", "/a..b/.c"),
        ] {
            assert_eq!(path(given, &[]).unwrap(), want, "{given:?}");
        }
    }

    #[test]
    fn literal_paths_with_dot_dot_or_control_characters_fail_when_parsed() {
        for (bad, why) in [
            ("/srv/../etc", "\"..\" segment"),
            ("..", "\"..\" segment"),
            ("/srv/..", "\"..\" segment"),
            ("/a\nb", "control character"),
            ("/a\0b", "control character"),
            ("", "empty path"),
        ] {
            let e = TemplatedValue::parse("allow_write_files", bad.to_string()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{bad:?}");
            assert!(e.message().contains("\"allow_write_files\""), "{e}");
            assert!(e.message().contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn params_cannot_leave_the_folder_the_template_names() {
        for (template, value, why) in [
            ("/srv/jobs/{{ .job }}", "../../../root/x", "\"..\" segment"),
            ("/srv/jobs/{{ .job }}", "..", "\"..\" segment"),
            ("/srv/jobs/{{ .job }}", "a/../../b", "\"..\" segment"),
            (
                "/srv/jobs/{{ .job }}",
                "x\nread-write /",
                "control character",
            ),
            ("/srv/jobs/{{ .job }}", "x\0y", "control character"),
            ("{{ .job }}/data", "", "start at the root folder"),
            ("{{ .job }}", "", "empty path"),
        ] {
            let e = path(template, &[("job", value)]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{value:?}");
            assert!(e.message().contains("\"allow_read_folders\""), "{e}");
            assert!(e.message().contains("param \"job\""), "{e}");
            assert!(e.message().contains(why), "{value:?}: {e}");
        }
        // A `..` made of a param and the template's own text.
        let e = path("/srv/{{ .a }}.", &[("a", ".")]).unwrap_err();
        assert!(e.message().contains("\"..\" segment"), "{e}");
        assert!(e.message().contains("param \"a\""), "{e}");
    }

    #[test]
    fn params_fill_paths_which_are_then_normalised() {
        assert_eq!(
            path("{{ .workdir }}", &[("workdir", "/srv/job-42/")]).unwrap(),
            "/srv/job-42"
        );
        assert_eq!(
            path("/srv/{{ .a }}/{{ .b }}", &[("a", "x/./y"), ("b", "")]).unwrap(),
            "/srv/x/y"
        );
        assert_eq!(path("cache-{{ .a }}", &[("a", "/x")]).unwrap(), "cache-/x");
        assert_eq!(
            path("/srv/{{ .a }}", &[("a", "a..b")]).unwrap(),
            "/srv/a..b"
        );
        let e = path("/srv/{{ .a }}", &[]).unwrap_err();
        assert!(e.message().contains("\"a\""), "{e}");
    }
}
