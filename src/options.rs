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
use crate::template::Template;

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

    /// A string option that may hold `{{ .name }}` params.
    pub fn template(&mut self, key: &'static str) -> Result<Option<TemplatedValue>> {
        self.string(key)?
            .map(|s| TemplatedValue::parse(key, s))
            .transpose()
    }

    /// A list-of-strings option whose items may hold `{{ .name }}` params.
    pub fn template_list(&mut self, key: &'static str) -> Result<Vec<TemplatedValue>> {
        self.string_list(key)?
            .into_iter()
            .map(|s| TemplatedValue::parse(key, s))
            .collect()
    }
}

/// An option value that may hold `{{ .name }}` params, rendered per spawn.
#[derive(Debug, Clone)]
pub struct TemplatedValue {
    key: &'static str,
    template: Template,
}

impl TemplatedValue {
    /// Parses `source`, the value of option `key`.
    pub fn parse(key: &'static str, source: String) -> Result<Self> {
        let template = Template::parse(&source).map_err(|e| {
            Error::invalid_options(format!("option {key:?}: value {source:?}: {e}"))
        })?;
        Ok(TemplatedValue { key, template })
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

    /// Fills in the params; a param the value names but `params` lacks is an error.
    pub fn render(&self, params: &crate::template::Params) -> Result<String> {
        self.template.render(params).map_err(|e| {
            Error::invalid_options(format!(
                "option {:?}: value {:?}: {e}",
                self.key,
                self.template.source()
            ))
        })
    }
}

/// Parses a JSON document that must be an object; `what` names it in errors.
pub(crate) fn parse_object(json: Option<&str>, what: &str) -> Result<Map<String, Value>> {
    let text = match json {
        None => return Ok(Map::new()),
        Some(t) if t.trim().is_empty() => return Ok(Map::new()),
        Some(t) => t,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::invalid_options(format!(
            "{what} must be a JSON object, got {}",
            describe(&other)
        ))),
        Err(e) => Err(Error::invalid_options(format!(
            "{what} are not valid JSON: {e}"
        ))),
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
}
