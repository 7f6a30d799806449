//! `{{ .name }}` placeholders in option values, filled per spawn from params.
//!
//! This is the subset of Go's `text/template` that go-restricted-runner's
//! users write in paths: a field reference `{{ .name }}` (spaces optional).
//! Anything else between `{{` and `}}` is rejected when the runner is built,
//! and a placeholder whose param is missing is an error at spawn time, never
//! an empty string.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::{describe, parse_object};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Param(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> std::result::Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError("a \"{{\" has no closing \"}}\"".into()))?;
            let action = after[..end].trim_matches(|c| c == ' ' || c == '\t');
            let name = action.strip_prefix('.').filter(|n| is_identifier(n)).ok_or_else(|| {
                TemplateError(format!(
                    "unsupported template action \"{{{{{}}}}}\" (only {{{{ .name }}}} is supported)",
                    &after[..end]
                ))
            })?;
            parts.push(Part::Param(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Fills in every placeholder from `params`.
    #[cfg(test)]
    pub fn render(&self, params: &Params) -> std::result::Result<String, TemplateError> {
        self.render_checked(params, |_, _| Ok(()))
    }

    /// Fills in every placeholder from `params`, passing each param's name
    /// and value to `check` first; an error from `check` stops the rendering.
    pub fn render_checked(
        &self,
        params: &Params,
        mut check: impl FnMut(&str, &str) -> std::result::Result<(), TemplateError>,
    ) -> std::result::Result<String, TemplateError> {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param(name) => match params.get(name) {
                    Some(v) => {
                        check(name, v)?;
                        out.push_str(v);
                    }
                    None => {
                        return Err(TemplateError(format!(
                            "it names the param {name:?}, which the params do not give{}",
                            params.describe_keys()
                        )))
                    }
                },
            }
        }
        Ok(out)
    }

    /// The param the template starts with, if it starts with one.
    pub fn leading_param(&self) -> Option<&str> {
        match self.parts.first() {
            Some(Part::Param(name)) => Some(name),
            _ => None,
        }
    }

    /// The params the template names, each once, in order.
    pub fn param_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Param(name) = part {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }
}

impl TemplateError {
    /// An error saying `why`.
    pub fn new(why: impl Into<String>) -> Self {
        TemplateError(why.into())
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Per-spawn params: `{{ .name }}` values, from a JSON object whose values are
/// strings, numbers or booleans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// No params.
    pub fn new() -> Self {
        Params::default()
    }

    /// Parses a params JSON object (absent or blank means none).
    pub fn from_json(json: Option<&str>) -> Result<Self> {
        let map = parse_object(json, "params")?;
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let s = match &v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => i.to_string(),
                    (_, Some(u), _) => u.to_string(),
                    (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
                    _ => n.to_string(),
                },
                other => {
                    return Err(Error::invalid_options(format!(
                        "param {k:?}: expected a string, number or boolean, got {}",
                        describe(other)
                    )))
                }
            };
            out.insert(k, s);
        }
        Ok(Params(out))
    }

    /// Adds or replaces one param.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn describe_keys(&self) -> String {
        if self.0.is_empty() {
            " (no params were given)".to_string()
        } else {
            format!(
                " (given: {})",
                self.0.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::new();
        for (k, v) in pairs {
            p.insert(*k, *v);
        }
        p
    }

    #[test]
    fn renders_placeholders_with_and_without_spaces() {
        let t = Template::parse("{{ .root }}/a/{{.name}}-{{  .name\t}}").unwrap();
        let p = params(&[("root", "/srv"), ("name", "x")]);
        assert_eq!(t.render(&p).unwrap(), "/srv/a/x-x");
    }

    #[test]
    fn literal_text_is_unchanged() {
        let t = Template::parse("/plain/path } { }} x").unwrap();
        assert!(t.is_literal());
        assert!(!Template::parse("{{ .x }}").unwrap().is_literal());
        assert_eq!(t.render(&Params::new()).unwrap(), "/plain/path } { }} x");
    }

    #[test]
    fn missing_param_is_an_error_not_empty() {
        let t = Template::parse("{{ .dir }}/x").unwrap();
        let e = t.render(&params(&[("other", "1")])).unwrap_err();
        assert!(e.to_string().contains("\"dir\""), "{e}");
        assert!(e.to_string().contains("given: other"), "{e}");
    }

    #[test]
    fn unsupported_actions_are_rejected() {
        for bad in [
            "{{ .a.b }}",
            "{{ if .x }}",
            "{{ . }}",
            "{{- .x }}",
            "{{ .x",
            "{{ printf \"%s\" .x }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn params_from_json_accept_scalars_only() {
        let p = Params::from_json(Some(r#"{"a": "x", "b": 3, "c": true, "d": 2.0, "e": 1.5}"#))
            .unwrap();
        assert_eq!(p.get("a"), Some("x"));
        assert_eq!(p.get("b"), Some("3"));
        assert_eq!(p.get("c"), Some("true"));
        assert_eq!(p.get("d"), Some("2"));
        assert_eq!(p.get("e"), Some("1.5"));
        assert!(Params::from_json(Some(r#"{"a": [1]}"#)).is_err());
        assert!(Params::from_json(Some(r#"{"a": null}"#)).is_err());
        assert!(Params::from_json(Some("nope")).is_err());
        assert_eq!(Params::from_json(None).unwrap(), Params::new());
    }
}
