//! What a spawn enforced, layer by layer: the same JSON shape for every
//! runner, so a host can log it and refuse to run with less.
//!
//! ```json
//! {
//!   "runner": "landrun",
//!   "best_effort": false,
//!   "layers": {
//!     "filesystem":   {"enforced": true, "method": "...", ...},
//!     "network":      {"enforced": true, "method": "...", ...},
//!     "namespaces":   {"enforced": true, "method": "...", "namespaces": [...]},
//!     "landlock":     {"enforced": true, "method": "...", "abi": 7, ...},
//!     "seccomp":      {"enforced": true, "method": "...", "denied": [...]},
//!     "capabilities": {"enforced": true, "method": "..."},
//!     "no_new_privs": {"enforced": true, "method": "..."},
//!     "terminal":     {"enforced": true, "method": "..."},
//!     "limits":       {"enforced": false, "method": "...", ...},
//!     "containment":  {"enforced": true, "method": "..."},
//!     "die_with_caller": {"enforced": true, "method": "..."},
//!     "environment":  {"enforced": false, "method": "..."}
//!   },
//!   "missing": [{"layer": "...", "reason": "..."}]
//! }
//! ```
//!
//! Every layer is always present; `enforced` says whether it applies to this
//! spawn, `method` how (or why not), and a layer may add details.

use serde_json::{json, Map, Value};

/// The names of the layers, in report order.
pub const LAYERS: [&str; 12] = [
    "filesystem",
    "network",
    "namespaces",
    "landlock",
    "seccomp",
    "capabilities",
    "no_new_privs",
    "terminal",
    "limits",
    "containment",
    "die_with_caller",
    "environment",
];

/// What a spawn enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct Enforcement {
    runner: &'static str,
    best_effort: bool,
    layers: Map<String, Value>,
    missing: Vec<(String, String)>,
}

impl Enforcement {
    /// A report for `runner` where nothing is enforced yet.
    pub fn new(runner: &'static str) -> Self {
        let mut layers = Map::new();
        for l in LAYERS {
            layers.insert(l.to_string(), json!({"enforced": false, "method": "none"}));
        }
        Enforcement {
            runner,
            best_effort: false,
            layers,
            missing: Vec::new(),
        }
    }

    /// Marks the report as made with `best_effort`.
    pub fn best_effort(mut self, on: bool) -> Self {
        self.best_effort = on;
        self
    }

    /// Sets a layer: whether it is enforced, how, and details (an object
    /// whose keys are added to the layer's).
    pub fn layer(
        mut self,
        name: &str,
        enforced: bool,
        method: impl Into<String>,
        details: Value,
    ) -> Self {
        let mut obj = Map::new();
        obj.insert("enforced".into(), Value::Bool(enforced));
        obj.insert("method".into(), Value::String(method.into()));
        if let Value::Object(extra) = details {
            obj.extend(extra);
        }
        self.layers.insert(name.to_string(), Value::Object(obj));
        self
    }

    /// Sets `die_with_caller`: `how` when the spawn is recorded (the
    /// caller's watchdog and gc act on its record), else not enforced.
    pub(crate) fn die_with_caller(self, recorded: bool, how: &str) -> Self {
        let method = if recorded {
            how
        } else {
            "none (no spawn record could be written)"
        };
        self.layer("die_with_caller", recorded, method, json!({}))
    }

    /// Records a layer that was asked for (or would apply) but could not be.
    pub fn missing(mut self, layer: &str, reason: impl Into<String>) -> Self {
        self.missing.push((layer.to_string(), reason.into()));
        self
    }

    /// Whether `layer` is enforced.
    pub fn is_enforced(&self, layer: &str) -> bool {
        self.layers
            .get(layer)
            .and_then(|l| l.get("enforced"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "runner": self.runner,
            "best_effort": self.best_effort,
            "layers": Value::Object(self.layers.clone()),
            "missing": self
                .missing
                .iter()
                .map(|(l, r)| json!({"layer": l, "reason": r}))
                .collect::<Vec<_>>(),
        })
    }
}

impl std::fmt::Display for Enforcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_is_present() {
        let e = Enforcement::new("exec")
            .layer("seccomp", true, "baseline", json!({"denied": ["bpf"]}))
            .missing("namespaces", "no user namespaces");
        let v = e.to_json();
        for l in LAYERS {
            assert!(v["layers"][l]["enforced"].is_boolean(), "{l}");
            assert!(v["layers"][l]["method"].is_string(), "{l}");
        }
        assert_eq!(v["layers"]["seccomp"]["denied"][0], "bpf");
        assert_eq!(v["missing"][0]["layer"], "namespaces");
        assert!(e.is_enforced("seccomp") && !e.is_enforced("landlock"));
    }
}
