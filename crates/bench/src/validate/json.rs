//! The `json_schema` validator: the answer's JSON (see `extract::json_value`) valid against the
//! task's JSON Schema scores 1. An invalid object scores the fraction of the schema's top-level
//! `properties` that are right (present when required, and valid), so a nearly right
//! extraction scores above a wrong one; it does not pass.

use std::collections::BTreeSet;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde_json::{Value, json};

use super::{Verdict, extract};

/// Errors listed in a verdict's detail.
const MAX_ERRORS: usize = 10;

pub fn check(schema: &Value, answer: &str) -> Verdict {
    let Some(instance) = extract::json_value(answer) else {
        return Verdict::new(
            0.0,
            false,
            json!({"json": false, "errors": ["no JSON object or array in the answer"]}),
        );
    };
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(e) => {
            // Suites are checked when loaded: this is a schema that compiled then and not now.
            return Verdict::new(
                0.0,
                false,
                json!({"json": true, "errors": [format!("the task's schema: {e}")]}),
            );
        }
    };
    let errors: Vec<_> = validator.iter_errors(&instance).collect();
    if errors.is_empty() {
        return Verdict::new(1.0, true, json!({"json": true, "valid": true}));
    }
    // Which top-level properties the errors are about.
    let mut wrong = BTreeSet::new();
    let mut whole = false;
    for error in &errors {
        match error.instance_path().iter().next() {
            Some(LocationSegment::Property(name)) => {
                wrong.insert(name.to_string());
            }
            _ => match error.kind() {
                ValidationErrorKind::Required { property } => {
                    wrong.insert(
                        property
                            .as_str()
                            .map_or_else(|| property.to_string(), str::to_owned),
                    );
                }
                _ => whole = true,
            },
        }
    }
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len);
    let score = if whole || properties == 0 {
        0.0
    } else {
        properties.saturating_sub(wrong.len()) as f64 / properties as f64
    };
    let listed: Vec<String> = errors
        .iter()
        .take(MAX_ERRORS)
        .map(|e| {
            let path = e.instance_path().as_str();
            let path = if path.is_empty() { "/" } else { path };
            format!("{path}: {}", super::cut_to(&e.to_string(), 300))
        })
        .collect();
    Verdict::new(
        score,
        false,
        json!({"json": true, "valid": false, "errors": listed, "error_count": errors.len()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Value {
        json!({
            "type": "object",
            "required": ["name", "year", "field"],
            "properties": {
                "name": {"const": "Ada Lovelace"},
                "year": {"type": "integer", "const": 1843},
                "field": {"enum": ["mathematics", "computing"]},
                "notes": {"type": "string"}
            }
        })
    }

    #[test]
    fn a_valid_object_passes_from_a_fence_or_inline() {
        let fenced =
            "```json\n{\"name\": \"Ada Lovelace\", \"year\": 1843, \"field\": \"computing\"}\n```";
        assert_eq!(check(&person(), fenced).score, 1.0);
        let inline =
            "Sure! {\"name\": \"Ada Lovelace\", \"year\": 1843, \"field\": \"mathematics\"}";
        assert!(check(&person(), inline).passed);
    }

    #[test]
    fn a_partly_wrong_object_scores_its_right_properties_and_fails() {
        let answer = "{\"name\": \"Ada Lovelace\", \"year\": \"1843\"}";
        let verdict = check(&person(), answer);
        assert!(!verdict.passed);
        // year has the wrong type, field is missing: name and notes (optional) are right.
        assert_eq!(verdict.score, 0.5);
        assert!(
            verdict.detail["errors"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        );
    }

    #[test]
    fn malformed_json_scores_nothing() {
        let verdict = check(&person(), "{\"name\": \"Ada Lovelace\", \"year\": 1843,,}");
        assert_eq!((verdict.score, verdict.passed), (0.0, false));
        assert_eq!(verdict.detail["json"], false);
        let wrong_shape = check(&person(), "[1, 2, 3]");
        assert_eq!(wrong_shape.score, 0.0, "{:?}", wrong_shape.detail);
    }
}
