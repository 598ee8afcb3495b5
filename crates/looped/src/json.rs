//! Reading the JSON the checker and the conductor write: the object is found and repaired as
//! the council's judge output is (code fences, prose around it, trailing commas, a cut-off end),
//! then its fields are read leniently — a list given as one string, items given as objects.
//! Also the words of a degradation when a role's answer could not be used.

use fusion_core::strict_json::Unusable;
use serde_json::{Map, Value};

pub(crate) use fusion_core::council::extract_object;

/// How a role's unusable answers are told in a degradation reason: `role` ("checker"), what a
/// malformed answer was not (`malformed`: "was not valid JSON"), and what an answer that copied
/// the prompt's form is treated as no `noun` of ("verdict").
pub(crate) struct Wording {
    pub role: &'static str,
    pub malformed: &'static str,
    pub noun: &'static str,
}

impl Wording {
    /// The first answer could not be used; the retry's was.
    pub fn repaired(&self, first: &Unusable) -> String {
        let Wording {
            role,
            malformed,
            noun,
        } = self;
        if first.is_template() {
            format!("{role} output was not a {noun} the first time: {first} — its retry was")
        } else {
            format!("{role} output {malformed} the first time ({first}); its retry was")
        }
    }

    /// Neither answer could be used; `last` is why the retry's could not.
    pub fn unparsable(&self, first: &Unusable, last: &Unusable) -> String {
        let Wording {
            role,
            malformed,
            noun,
        } = self;
        let mut why = if last.is_template() {
            format!("{role}: {last} — treated as no {noun}, even after one retry")
        } else {
            format!("{role} output {malformed}, even after one retry ({last})")
        };
        if first.is_template() != last.is_template() {
            why.push_str(&format!(" (the first answer: {first})"));
        }
        why
    }

    /// The first answer could not be used and the retry call failed with `error`.
    pub fn retry_failed(&self, first: &Unusable, error: &str) -> String {
        let Wording {
            role,
            malformed,
            noun,
        } = self;
        if first.is_template() {
            format!("{role}: {first} — treated as no {noun}, and its retry failed ({error})")
        } else {
            format!("{role} output {malformed} ({first}) and its retry failed ({error})")
        }
    }
}

/// Text of a value that should be a string but may be an object such as `{"text": ".."}`.
pub(crate) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Object(map) => [
            "text",
            "finding",
            "issue",
            "description",
            "requirement",
            "bug",
            "gap",
            "action",
            "point",
            "claim",
        ]
        .iter()
        .find_map(|k| map.get(*k).and_then(text_of))
        .or_else(|| map.values().find_map(text_of)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The items of a field that should be a list (one value reads as a list of one).
pub(crate) fn items(object: &Map<String, Value>, key: &str) -> Vec<Value> {
    match object.get(key) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// A list of strings.
pub(crate) fn strings(object: &Map<String, Value>, key: &str) -> Vec<String> {
    items(object, key).iter().filter_map(text_of).collect()
}

/// A string field ("" when absent).
pub(crate) fn string(object: &Map<String, Value>, key: &str) -> String {
    object.get(key).and_then(text_of).unwrap_or_default()
}

/// A number field, also when written as a string (`"0.8"`, `"80%"`).
pub(crate) fn number(object: &Map<String, Value>, key: &str) -> Option<f64> {
    match object.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('%') {
                Some(percent) => percent.trim().parse::<f64>().ok().map(|p| p / 100.0),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_read_leniently() {
        let Value::Object(map) = json!({
            "a": "one", "b": ["x", {"finding": "y"}, 3], "c": null, "n": "80%", "m": 0.5
        }) else {
            panic!()
        };
        assert_eq!(strings(&map, "a"), vec!["one"]);
        assert_eq!(strings(&map, "b"), vec!["x", "y", "3"]);
        assert!(strings(&map, "c").is_empty());
        assert_eq!(number(&map, "n"), Some(0.8));
        assert_eq!(number(&map, "m"), Some(0.5));
        assert_eq!(string(&map, "missing"), "");
    }
}
