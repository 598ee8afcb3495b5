//! One rule for the argument spellings of Fusion's own tools: every multi-word argument is
//! `snake_case` and is accepted in `camelCase` too (`context_length` or `contextLength`), as
//! the systems Fusion replaces spelled them. The input schema says so in each such
//! property's description, and calls are normalized before their arguments are parsed, so
//! the schema and the parser cannot disagree.

use rmcp::model::JsonObject;
use serde_json::Value;

/// `context_length` → `contextLength`; `None` for a one-word name.
pub fn camel(snake: &str) -> Option<String> {
    let mut words = snake.split('_').filter(|w| !w.is_empty());
    let first = words.next()?;
    let rest: Vec<String> = words
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect();
    (!rest.is_empty()).then(|| format!("{first}{}", rest.concat()))
}

/// Adds "Also `camelName`." to the description of each multi-word property of `schema`.
pub fn document(mut schema: JsonObject) -> JsonObject {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            let (Some(camel), Value::Object(property)) = (camel(name), property) else {
                continue;
            };
            let note = format!("Also `{camel}`.");
            let description = match property.get("description").and_then(Value::as_str) {
                Some(text) if text.contains(&format!("`{camel}`")) => continue,
                Some(text) => format!("{} {note}", text.trim_end()),
                None => note,
            };
            property.insert("description".into(), Value::String(description));
        }
    }
    schema
}

/// Renames each `camelCase` argument whose `snake_case` form is a property of `schema` (and
/// is not also given), so the tool's parser sees the one spelling it declares.
pub fn normalize(arguments: &mut JsonObject, schema: &JsonObject) {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    let renames: Vec<(String, String)> = properties
        .keys()
        .filter_map(|snake| camel(snake).map(|camel| (camel, snake.clone())))
        .filter(|(camel, snake)| arguments.contains_key(camel) && !arguments.contains_key(snake))
        .collect();
    for (camel, snake) in renames {
        if let Some(value) = arguments.remove(&camel) {
            arguments.insert(snake, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn snake_names_have_one_camel_spelling() {
        assert_eq!(camel("context_length").as_deref(), Some("contextLength"));
        assert_eq!(camel("bm25_options").as_deref(), Some("bm25Options"));
        assert_eq!(
            camel("expected_output_length").as_deref(),
            Some("expectedOutputLength")
        );
        assert_eq!(camel("task"), None);
    }

    #[test]
    fn the_schema_names_the_camel_spelling_and_calls_use_it() {
        let schema = object(json!({"type": "object", "properties": {
            "task_id": {"type": "string", "description": "The task."},
            "verbose": {"type": "boolean"},
            "run_id": {"type": "string", "description": "The run (also `runId`)."}
        }}));
        let schema = document(schema);
        assert_eq!(
            schema["properties"]["task_id"]["description"],
            "The task. Also `taskId`."
        );
        assert!(schema["properties"]["verbose"].get("description").is_none());
        assert_eq!(
            schema["properties"]["run_id"]["description"],
            "The run (also `runId`)."
        );
        let mut args =
            object(json!({"taskId": "t1", "verbose": true, "runId": "a", "run_id": "b"}));
        normalize(&mut args, &schema);
        assert_eq!(args["task_id"], "t1");
        // Both spellings given: the declared one stands and the other reaches the parser,
        // which names it as unknown.
        assert_eq!(
            (args["run_id"].clone(), args["runId"].clone()),
            (json!("b"), json!("a"))
        );
    }
}
