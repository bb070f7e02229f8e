//! Hand-written schema fragments for fields whose Rust type cannot say what the API server needs.

use schemars::{Schema, generate::SchemaGenerator, json_schema};

/// `metav1.Condition` list, merged by `type` under server-side apply.
pub fn conditions(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Conditions of the object, one per type (metav1.Condition).",
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {"type": "string", "maxLength": 316},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "reason": {"type": "string", "maxLength": 1024},
                "message": {"type": "string", "maxLength": 32768}
            }
        }
    })
}

/// A free-form JSON object kept verbatim (Terraform outputs, Workspace specs).
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// An optional free-form JSON object kept verbatim.
pub fn optional_preserve_unknown_object(g: &mut SchemaGenerator) -> Schema {
    let mut schema = preserve_unknown_object(g);
    schema.insert("nullable".into(), true.into());
    schema
}

/// `status.state`: one of the eight CAPTEP-0002 states. Stored as a string in Rust so an unknown
/// value (written by a newer operator, say) is reported by name instead of failing to deserialize.
pub fn state(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = crate::state::StateName::ALL.iter().map(|s| s.as_str()).collect();
    json_schema!({
        "description": "The control plane's state in the CAPTEP-0002 state machine.",
        "type": "string",
        "nullable": true,
        "enum": names
    })
}

/// A Go-style duration string such as `30s`, `5m` or `1h30m` (`metav1.Duration`).
pub fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "nullable": true,
        // Bounded so the API server's CEL cost estimate stays within budget.
        "maxLength": 64,
        "x-kubernetes-validations": [{
            "rule": format!("self.matches('{}')", super::duration::PATTERN),
            "message": "must be a duration such as 30s, 5m or 1h30m (units ns, us, ms, s, m, h)"
        }]
    })
}
