//! Allowing or denying one tool of a server: its `tools.allow` and `tools.deny` glob lists,
//! edited so that the one tool (matched literally, glob characters escaped) ends up as asked.

use toml_edit::{Array, InlineTable, Item, Table, TableLike, Value};

use super::EditError;

/// Longest tool name accepted by [`super::ServerEdit::SetTool`].
const MAX_TOOL_NAME: usize = 256;

pub(super) fn check_tool_name(tool: &str) -> Result<(), EditError> {
    if tool.is_empty() || tool.len() > MAX_TOOL_NAME || tool.chars().any(char::is_control) {
        return Err(EditError::request(
            "tool",
            format!("must be a tool's name: 1 to {MAX_TOOL_NAME} bytes, no control characters"),
        ));
    }
    Ok(())
}

/// The strings of `tools.<list>` of an entry, as written.
fn tool_list(entry: &dyn TableLike, list: &str) -> Vec<String> {
    entry
        .get("tools")
        .and_then(Item::as_table_like)
        .and_then(|tools| tools.get(list))
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Changes `tools.<list>` of an entry, making the table and the list when needed (as
/// `tools.deny = [...]` in a `[[mcp.servers]]` table) and dropping them when left empty.
fn edit_tool_list(
    entry: &mut dyn TableLike,
    dotted: bool,
    list: &str,
    change: impl FnOnce(&mut Array),
) {
    if !entry.get("tools").is_some_and(Item::is_table_like) {
        let tools = if dotted {
            let mut table = Table::new();
            table.set_dotted(true);
            Item::Table(table)
        } else {
            Item::Value(Value::InlineTable(InlineTable::new()))
        };
        entry.remove("tools");
        entry.insert("tools", tools);
    }
    let Some(tools) = entry.get_mut("tools").and_then(Item::as_table_like_mut) else {
        return;
    };
    if tools.get(list).is_none_or(|i| i.as_array().is_none()) {
        tools.remove(list);
        tools.insert(list, Item::Value(Value::Array(Array::new())));
    }
    if let Some(array) = tools.get_mut(list).and_then(Item::as_array_mut) {
        change(array);
        if array.is_empty() {
            tools.remove(list);
        }
    }
    if tools.is_empty() {
        entry.remove("tools");
    }
}

/// Allows or denies `tool` (see [`ServerEdit::SetTool`]). An error is `(dotted key, reason)`:
/// a deny pattern that still matches the tool to allow.
pub(super) fn set_tool(
    entry: &mut dyn TableLike,
    dotted: bool,
    tool: &str,
    allowed: bool,
    at: &dyn Fn(&str) -> String,
) -> Result<(), (String, String)> {
    let matches = |pattern: &str| {
        globset::Glob::new(pattern).is_ok_and(|g| g.compile_matcher().is_match(tool))
    };
    let escaped = globset::escape(tool);
    let literal = |pattern: &str| pattern == tool || pattern == escaped;
    let allow = tool_list(entry, "allow");
    let deny = tool_list(entry, "deny");
    let allowed_now =
        (allow.is_empty() || allow.iter().any(|p| matches(p))) && !deny.iter().any(|p| matches(p));
    if !allowed {
        if allowed_now {
            edit_tool_list(entry, dotted, "deny", |a| a.push(escaped.as_str()));
        }
        return Ok(());
    }
    if deny.iter().any(|p| literal(p)) {
        edit_tool_list(entry, dotted, "deny", |a| {
            a.retain(|v| !v.as_str().is_some_and(literal));
        });
    }
    let remaining = deny.iter().filter(|p| !literal(p));
    if let Some((j, pattern)) = remaining.enumerate().find(|(_, p)| matches(p)) {
        return Err((
            at(&format!("tools.deny[{j}]")),
            format!("the pattern `{pattern}` denies `{tool}`; change the pattern to allow it"),
        ));
    }
    if !allow.is_empty() && !allow.iter().any(|p| matches(p)) {
        edit_tool_list(entry, dotted, "allow", |a| a.push(escaped.as_str()));
    }
    Ok(())
}
