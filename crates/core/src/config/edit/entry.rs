//! A form's server entry as `toml_edit` values, and writing them into an entry in place: keys
//! that stay keep their text (and their line's comment), keys not given are removed, `null`
//! secrets keep the value the file has.

use std::collections::HashSet;

use toml_edit::{InlineTable, Item, TableLike, Value};

use super::{EditError, ServerEntry, mask_url_password};
use crate::config::McpServerConfig;

/// A key's new content.
pub(super) enum Field {
    Set(Value),
    /// A sub-table (`env`, `headers`, `tools`): keys not listed are removed.
    Table(Vec<(String, Field)>),
    /// Leave what is there; `required`: something must be there.
    Keep {
        required: bool,
    },
}

/// The keys of `entry` in the file's usual order. `current` is the entry being replaced, if
/// any: absent settings then keep or drop what is there, as [`ServerEntry`] says. A default
/// (`enabled = true`, the default timeout) the file does not write stays unwritten.
pub(super) fn entry_fields(
    entry: &ServerEntry,
    current: Option<&dyn TableLike>,
) -> Result<Vec<(String, Field)>, EditError> {
    let replacing = current.is_some();
    let written = |key: &str| current.is_some_and(|c| c.contains_key(key));
    let current_url = current.and_then(|c| c.get("url")).and_then(Item::as_str);
    let text = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let mut fields: Vec<(String, Field)> = Vec::new();
    let mut put = |key: &str, field: Field| fields.push((key.to_owned(), field));
    match text(&entry.name) {
        Some(name) => put("name", Field::Set(Value::from(name))),
        None => put("name", Field::Keep { required: true }),
    }
    if let Some(command) = text(&entry.command) {
        put("command", Field::Set(Value::from(command)));
    }
    if !entry.args.is_empty() {
        put(
            "args",
            Field::Set(Value::Array(entry.args.iter().collect())),
        );
    }
    let map = |vars: &std::collections::BTreeMap<String, Option<String>>| {
        let fields = vars.iter().map(|(k, v)| {
            let field = match v {
                Some(v) => Field::Set(Value::from(v.as_str())),
                None => Field::Keep { required: true },
            };
            (k.clone(), field)
        });
        Field::Table(fields.collect())
    };
    if !entry.env.is_empty() {
        put("env", map(&entry.env));
    }
    if let Some(cwd) = text(&entry.cwd) {
        put("cwd", Field::Set(Value::from(cwd)));
    }
    if let Some(url) = text(&entry.url) {
        let masked_current = current_url
            .filter(|current| mask_url_password(current) != *current)
            .is_some_and(|current| mask_url_password(current) == url);
        if masked_current {
            put("url", Field::Keep { required: true });
        } else {
            put("url", Field::Set(Value::from(url)));
        }
    }
    if !entry.headers.is_empty() {
        put("headers", map(&entry.headers));
    }
    match entry.enabled {
        Some(false) => put("enabled", Field::Set(Value::from(false))),
        Some(true) if written("enabled") => put("enabled", Field::Set(Value::from(true))),
        Some(true) => {}
        None if replacing => put("enabled", Field::Keep { required: false }),
        None => {}
    }
    match &entry.tools {
        Some(lists) => {
            let mut sub = Vec::new();
            for (key, list) in [("allow", &lists.allow), ("deny", &lists.deny)] {
                if !list.is_empty() {
                    sub.push((
                        key.to_owned(),
                        Field::Set(Value::Array(list.iter().collect())),
                    ));
                }
            }
            put("tools", Field::Table(sub));
        }
        None if replacing => put("tools", Field::Keep { required: false }),
        None => {}
    }
    if let Some(timeout) = text(&entry.timeout) {
        let default = McpServerConfig::stdio("", "x", Vec::new()).timeout;
        let is_default = humantime::parse_duration(timeout.trim()).ok() == Some(default);
        if !is_default || written("timeout") {
            put("timeout", Field::Set(Value::from(timeout)));
        }
    }
    Ok(fields)
}

fn keep_error(key: &str) -> EditError {
    EditError::request(
        key,
        "null keeps the current value, and there is none here: give a value",
    )
}

/// A new key's value (`None`: leave the key out).
pub(super) fn fresh_value(field: &Field, key: &str) -> Result<Option<Value>, EditError> {
    match field {
        Field::Set(value) => Ok(Some(value.clone())),
        Field::Keep { required: true } => Err(keep_error(key)),
        Field::Keep { required: false } => Ok(None),
        Field::Table(fields) => {
            let mut table = InlineTable::new();
            for (name, field) in fields {
                if let Some(value) = fresh_value(field, &format!("{key}.{name}"))? {
                    table.insert(name, value);
                }
            }
            Ok((!table.is_empty()).then(|| Value::InlineTable(table)))
        }
    }
}

/// Makes `table` hold exactly `fields`, touching only what differs. `path` is the dotted
/// field name so far (for errors).
pub(super) fn sync(
    table: &mut dyn TableLike,
    fields: &[(String, Field)],
    path: &str,
) -> Result<(), EditError> {
    let wanted: HashSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let stale: Vec<String> = table
        .iter()
        .map(|(k, _)| k.to_owned())
        .filter(|k| !wanted.contains(k.as_str()))
        .collect();
    for key in stale {
        table.remove(&key);
    }
    for (key, field) in fields {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match field {
            Field::Keep { required } => {
                if *required && !table.contains_key(key) {
                    return Err(keep_error(&here));
                }
            }
            Field::Set(value) => set_value(table, key, value.clone()),
            Field::Table(sub) if table.get(key).is_some_and(Item::is_table_like) => {
                let empty = match table.get_mut(key).and_then(Item::as_table_like_mut) {
                    Some(existing) => {
                        sync(existing, sub, &here)?;
                        existing.is_empty()
                    }
                    None => false,
                };
                if empty {
                    table.remove(key);
                }
            }
            Field::Table(_) => {
                table.remove(key);
                if let Some(value) = fresh_value(field, &here)? {
                    table.insert(key, Item::Value(value));
                }
            }
        }
    }
    Ok(())
}

/// Sets `key` to `value`; an equal value keeps its text, a changed one its line's comment.
pub(super) fn set_value(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) if same(old, &value) => {}
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        _ => {
            table.remove(key);
            table.insert(key, Item::Value(value));
        }
    }
}

/// Whether two values say the same (however they are written).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        _ => false,
    }
}
