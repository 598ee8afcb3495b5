//! The loop's model assignment in the council project's files: `model_roster` (models by
//! roster name, each written like a panel member) and `role_model_policy` (which roster
//! entries play each role, preferred first), converted into `[loop]` roles.
//!
//! ```json
//! "model_roster": {
//!   "glm":  { "backend": "pi", "provider": "zai", "modelId": "glm-5.2" },
//!   "qwen": { "baseUrl": "http://127.0.0.1:8080/v1", "model": "qwen2.5-coder" }
//! },
//! "role_model_policy": {
//!   "explorer": "qwen",
//!   "builder": ["qwen", "glm"],
//!   "critic": { "primary": "glm", "fallback": ["qwen"] },
//!   "performance_sentinel": "qwen",
//!   "loop_conductor": "glm"
//! }
//! ```
//!
//! The roster may also be a list of entries with a `name`. Role names are matched without
//! regard to case, `_`, `-` or spaces; `performance_sentinel` is Fusion's `sentinel`,
//! `loop_conductor` its `conductor`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Converter, LegacyMember};
use crate::config::{ConfigError, LoopRoles};

/// Converts the roster's entries into models and the policy into roles.
pub(super) fn convert(
    converter: &mut Converter<'_>,
    roster: &Value,
    policy: &Value,
    timeout: Option<Duration>,
) -> Result<LoopRoles, ConfigError> {
    let entries = entries(converter, roster)?;
    if entries.is_empty() {
        return Err(converter.error("model_roster", "needs at least one model"));
    }
    // Roster name → Fusion model id.
    let mut models = BTreeMap::new();
    for (key, name, entry) in entries {
        let member: LegacyMember = serde_json::from_value(entry.clone())
            .map_err(|e| converter.error(key.clone(), e.to_string()))?;
        let mut member = member;
        if member.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            member.name = Some(name.clone());
        }
        let seat = converter.seat(key, &member, timeout)?;
        models.insert(name, seat.model);
    }
    let Value::Object(policy) = policy else {
        return Err(converter.error(
            "role_model_policy",
            format!(
                "expected an object of role → roster names, found {}",
                kind(policy)
            ),
        ));
    };
    let mut roles = LoopRoles::default();
    for (role, choice) in policy {
        let key = format!("role_model_policy.{role}");
        let Some(slot) = role_slot(&mut roles, role) else {
            converter.warnings.push(format!(
                "legacy config: ignored `{key}` (Fusion's loop roles are explorer, builder, \
                 critic, performance_sentinel, loop_conductor and checker)"
            ));
            continue;
        };
        for (at, name) in names(converter, &key, choice)? {
            let Some(model) = models.get(&name) else {
                let known: Vec<&str> = models.keys().map(String::as_str).collect();
                return Err(converter.error(
                    at,
                    format!(
                        "`{name}` is not in model_roster (it has: {})",
                        known.join(", ")
                    ),
                ));
            };
            if !slot.contains(model) {
                slot.push(model.clone());
            }
        }
    }
    Ok(roles)
}

/// The roster's entries as (key for errors, roster name, entry).
fn entries<'v>(
    converter: &Converter<'_>,
    roster: &'v Value,
) -> Result<Vec<(String, String, &'v Value)>, ConfigError> {
    match roster {
        Value::Object(map) => Ok(map
            .iter()
            .map(|(name, entry)| (format!("model_roster.{name}"), name.clone(), entry))
            .collect()),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let key = format!("model_roster[{i}]");
                match entry.get("name").and_then(Value::as_str) {
                    Some(name) if !name.trim().is_empty() => Ok((key, name.to_owned(), entry)),
                    _ => Err(converter.error(
                        format!("{key}.name"),
                        "missing; roster entries in a list are named by `name`",
                    )),
                }
            })
            .collect(),
        other => Err(converter.error(
            "model_roster",
            format!("expected an object of name → model, found {}", kind(other)),
        )),
    }
}

/// The roster names a role's choice lists, preferred first, each with its key: a name, a list
/// of names, or `{primary|preferred|model, fallback|fallbacks}`.
fn names(
    converter: &mut Converter<'_>,
    key: &str,
    choice: &Value,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    match choice {
        Value::String(name) => out.push((key.to_owned(), name.clone())),
        Value::Array(list) => {
            for (i, item) in list.iter().enumerate() {
                let at = format!("{key}[{i}]");
                let Value::String(name) = item else {
                    return Err(converter
                        .error(at, format!("expected a roster name, found {}", kind(item))));
                };
                out.push((at, name.clone()));
            }
        }
        Value::Object(map) => {
            for (field, value) in map {
                let at = format!("{key}.{field}");
                match field.as_str() {
                    "primary" | "preferred" | "model" | "fallback" | "fallbacks" => {
                        out.extend(names(converter, &at, value)?);
                    }
                    _ => converter.warnings.push(format!(
                        "legacy config: ignored `{at}` (a role takes primary and fallback)"
                    )),
                }
            }
            // The preferred entry leads, whatever order the object was written in.
            out.sort_by_key(|(at, _)| at.contains(".fallback"));
        }
        other => {
            return Err(converter.error(
                key,
                format!(
                    "expected a roster name, a list of names, or {{primary, fallback}}; found {}",
                    kind(other)
                ),
            ));
        }
    }
    if out.is_empty() {
        return Err(converter.error(key, "names no roster entry"));
    }
    Ok(out)
}

/// The role list a policy key fills (`performance_sentinel` → sentinel, ...).
fn role_slot<'r>(roles: &'r mut LoopRoles, role: &str) -> Option<&'r mut Vec<String>> {
    let normal: String = role
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match normal.as_str() {
        "explorer" => &mut roles.explorer,
        "builder" => &mut roles.builder,
        "critic" => &mut roles.critic,
        "performancesentinel" | "sentinel" => &mut roles.sentinel,
        "loopconductor" | "conductor" => &mut roles.conductor,
        "checker" => &mut roles.checker,
        _ => return None,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
