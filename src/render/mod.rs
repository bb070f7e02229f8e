//! Rendering a WorkspaceTemplate into a Workspace spec: safe `${var}` substitution.
//!
//! Upstream CAPT marshalled the template to JSON text and ran `strings.ReplaceAll` over it, so a
//! value holding `"`, `\` or a newline corrupted the document, and an unknown placeholder was left
//! in place silently. Here substitution happens on the parsed document:
//!
//! - only **string values** are rewritten (never keys, never serialized text), so any value is safe;
//! - `${name}` is replaced by the variable `name`; names are `[A-Za-z_][A-Za-z0-9_]*`;
//! - inside an inline module (`forProvider.module` with `source: Inline`) the value is escaped for
//!   the HCL (or Terraform JSON) context the placeholder sits in ([`inline`]), so the module stays
//!   valid and the value arrives intact;
//! - a `${...}` that is not a valid name (Terraform's `${var.region}`, `${ item }`) is left as it
//!   is, since it is Terraform's, not ours;
//! - `$${...}` is left as it is, as upstream left it: Terraform reads it as the literal text
//!   `${...}`. Terraform's own interpolation needs no escape (`${var.cluster_name}` is not a
//!   placeholder name); a bare one, such as a `for` loop's `${item}`, is written `${ item }`;
//! - every placeholder without a value is reported by name, all at once, and nothing is rendered.
//!
//! ```
//! # use std::collections::BTreeMap;
//! # use capt_controlplane::render::render;
//! let template = serde_json::json!({"forProvider": {
//!     "source": "Inline",
//!     "module": "locals {\n  name = \"${cluster_name}\"\n  id   = \"${var.id}-$${literal}\"\n}\n",
//! }});
//! let vars = BTreeMap::from([("cluster_name".to_owned(), r#"say "hi""#.to_owned())]);
//! let out = render(&template, &vars).unwrap();
//! assert_eq!(
//!     out["forProvider"]["module"],
//!     "locals {\n  name = \"say \\\"hi\\\"\"\n  id   = \"${var.id}-$${literal}\"\n}\n"
//! );
//! ```
//!
//! [`render`] is deterministic, so [`spec_hash`] of its output tells whether a Workspace must be
//! updated.

mod inline;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use inline::InlineFormat;

/// The variable every template may use: the name of the Workspace being rendered.
pub const WORKSPACE_NAME: &str = "WORKSPACE_NAME";

/// Placeholders with no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unresolved template placeholders: {}", .0.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", "))]
pub struct Unresolved(pub BTreeSet<String>);

/// Renders `template` with `variables`, returning a new document.
pub fn render(template: &Value, variables: &BTreeMap<String, String>) -> Result<Value, Unresolved> {
    let mut missing = BTreeSet::new();
    let rendered = walk(template, variables, &mut missing);
    if missing.is_empty() {
        Ok(rendered)
    } else {
        Err(Unresolved(missing))
    }
}

/// The names of the placeholders a template uses, for validation and the dependency graph.
pub fn placeholders(template: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    walk(template, &BTreeMap::new(), &mut names);
    names
}

fn walk(value: &Value, vars: &BTreeMap<String, String>, missing: &mut BTreeSet<String>) -> Value {
    match value {
        Value::String(s) => Value::String(substitute(s, None, vars, missing)),
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, vars, missing)).collect()),
        Value::Object(map) => {
            let format = inline_format(map);
            Value::Object(
                map.iter()
                    .map(|(k, v)| match (k.as_str(), v, format) {
                        ("module", Value::String(s), Some(format)) => (
                            k.clone(),
                            Value::String(substitute(s, Some(format), vars, missing)),
                        ),
                        _ => (k.clone(), walk(v, vars, missing)),
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// The syntax of `forProvider.module` when `map` is a `forProvider` with an inline module.
fn inline_format(map: &serde_json::Map<String, Value>) -> Option<InlineFormat> {
    if map.get("source").and_then(Value::as_str) != Some("Inline") {
        return None;
    }
    match map.get("inlineFormat").and_then(Value::as_str) {
        Some("JSON") => Some(InlineFormat::Json),
        _ => Some(InlineFormat::Hcl),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A part of a string value: text, or a placeholder of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text, kept as it is; it includes `$${...}` and Terraform's own `${...}`.
    Text(&'a str),
    /// `${name}`, with `raw` its text.
    Placeholder { name: &'a str, raw: &'a str },
}

/// Splits `s` into text and placeholders.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let (mut text_start, mut i) = (0, 0);
    while let Some(found) = s[i..].find('$') {
        let at = i + found;
        let tail = &s[at..];
        if tail.starts_with("$${") {
            // Terraform's escape: text, and nothing in it is ours.
            i = at + 3;
            continue;
        }
        if let Some(body) = tail.strip_prefix("${")
            && let Some(end) = body.find('}')
            && is_name(&body[..end])
        {
            if text_start < at {
                out.push(Piece::Text(&s[text_start..at]));
            }
            out.push(Piece::Placeholder {
                name: &body[..end],
                raw: &tail[..end + 3],
            });
            i = at + end + 3;
            text_start = i;
            continue;
        }
        i = at + 1;
    }
    if text_start < s.len() {
        out.push(Piece::Text(&s[text_start..]));
    }
    out
}

/// Substitutes one string value; `module` says it is an inline module of that syntax.
fn substitute(
    s: &str,
    module: Option<InlineFormat>,
    vars: &BTreeMap<String, String>,
    missing: &mut BTreeSet<String>,
) -> String {
    let pieces = pieces(s);
    let mut value_of = |name: &str| {
        let value = vars.get(name).cloned();
        if value.is_none() {
            missing.insert(name.to_owned());
        }
        value
    };
    if let Some(format) = module {
        return inline::substitute(&pieces, format, value_of);
    }
    let mut out = String::with_capacity(s.len());
    for piece in &pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder { name, raw } => match value_of(name) {
                Some(value) => out.push_str(&value),
                None => out.push_str(raw),
            },
        }
    }
    out
}

/// A stable hash of a rendered spec (FNV-1a over canonical JSON), hex encoded. `serde_json`
/// objects are ordered maps here, so equal documents serialize identically.
pub fn spec_hash(spec: &Value) -> String {
    let text = spec.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether a stored spec holds every value of `rendered`: what the API server keeps of a spec
/// is the rendered one plus the defaults its schema fills in, so extra fields do not count.
pub fn holds(stored: &Value, rendered: &Value) -> bool {
    match (stored, rendered) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|h| holds(h, value))),
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| holds(h, w))
        }
        (have, want) => have == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_spec_holds_a_render_when_only_defaults_were_added() {
        let rendered = json!({"forProvider": {"source": "Inline", "vars": [{"key": "a", "value": "1"}]}});
        let defaulted = json!({"deletionPolicy": "Delete",
            "forProvider": {"source": "Inline", "vars": [{"key": "a", "value": "1"}], "inlineFormat": "HCL"}});
        assert!(holds(&defaulted, &rendered));
        let changed = json!({"forProvider": {"source": "Inline", "vars": [{"key": "a", "value": "2"}]}});
        assert!(!holds(&changed, &rendered));
        let missing = json!({"forProvider": {"source": "Inline"}});
        assert!(!holds(&missing, &rendered));
        let longer =
            json!({"forProvider": {"source": "Inline", "vars": [{"key": "a", "value": "1"}, {"key": "b"}]}});
        assert!(!holds(&longer, &rendered));
    }
    use proptest::prelude::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn substitutes_string_values_only() {
        let template = json!({
            "forProvider": {
                "vars": [{"key": "cluster_name", "value": "${cluster_name}"},
                         {"key": "region", "value": "${region}"}],
                "module": "resource \"x\" \"y\" { name = \"${cluster_name}-eks\" }"
            },
            "${cluster_name}": 3
        });
        let out = render(
            &template,
            &vars(&[("cluster_name", "prod"), ("region", "ap-northeast-1")]),
        )
        .unwrap();
        assert_eq!(out["forProvider"]["vars"][0]["value"], "prod");
        assert_eq!(out["forProvider"]["vars"][1]["value"], "ap-northeast-1");
        assert_eq!(
            out["forProvider"]["module"],
            "resource \"x\" \"y\" { name = \"prod-eks\" }"
        );
        assert_eq!(out["${cluster_name}"], 3, "keys are never rewritten");
    }

    #[test]
    fn values_with_quotes_backslashes_and_newlines_stay_intact() {
        let nasty = "a\"b\\c\nd}${";
        let out = render(&json!({"v": "${x}"}), &vars(&[("x", nasty)])).unwrap();
        assert_eq!(out["v"], nasty);
    }

    #[test]
    fn escapes_and_terraform_interpolation_are_left_for_terraform() {
        // `$${x}` stays, as upstream left it: Terraform reads it as the literal `${x}`, even when
        // `x` is one of our names.
        let template = json!({"m": "name = \"${var.cluster_name}\" lit = \"$${WORKSPACE_NAME}\" \
                                     tags = ${var.tags} each = ${ item } cost=$5 ${WORKSPACE_NAME}"});
        let out = render(&template, &vars(&[(WORKSPACE_NAME, "prod-eks")])).unwrap();
        assert_eq!(
            out["m"],
            "name = \"${var.cluster_name}\" lit = \"$${WORKSPACE_NAME}\" \
             tags = ${var.tags} each = ${ item } cost=$5 prod-eks"
        );
        assert_eq!(
            placeholders(&template),
            BTreeSet::from([WORKSPACE_NAME.to_owned()])
        );
    }

    #[test]
    fn every_unresolved_placeholder_is_named() {
        let template = json!({"a": "${region}", "b": ["${cluster_name}", "${region}"], "c": "${ok}"});
        let err = render(&template, &vars(&[("ok", "1")])).unwrap_err();
        assert_eq!(
            err.0,
            BTreeSet::from(["cluster_name".to_owned(), "region".to_owned()])
        );
        assert_eq!(
            err.to_string(),
            "unresolved template placeholders: ${cluster_name}, ${region}"
        );
        assert_eq!(
            placeholders(&template),
            BTreeSet::from(["cluster_name".into(), "ok".into(), "region".into()])
        );
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = json!({"x": 1, "y": ["z"]});
        assert_eq!(spec_hash(&a), spec_hash(&a.clone()));
        assert_ne!(spec_hash(&a), spec_hash(&json!({"x": 2, "y": ["z"]})));
    }

    proptest! {
        /// Whatever the value, substitution puts exactly that value in place: no escaping bugs.
        #[test]
        fn any_value_round_trips(value in ".*", prefix in "[a-z ]{0,5}", suffix in "[a-z ]{0,5}") {
            let template = json!({"v": format!("{prefix}${{x}}{suffix}")});
            let out = render(&template, &vars(&[("x", &value)])).unwrap();
            prop_assert_eq!(out["v"].as_str().unwrap(), format!("{prefix}{value}{suffix}"));
        }

        /// A string without `$` is never changed.
        #[test]
        fn dollar_free_strings_are_untouched(s in "[^$]*") {
            let out = render(&json!([s.clone()]), &BTreeMap::new()).unwrap();
            prop_assert_eq!(out[0].as_str().unwrap(), s.as_str());
        }
    }
}
