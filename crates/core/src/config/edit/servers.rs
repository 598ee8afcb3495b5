//! The `toml_edit` side of the MCP server editor: finding `mcp.servers` however it is written
//! (`[[mcp.servers]]` tables, an inline array under `[mcp]` or `mcp = {...}`, or absent), and
//! each operation on it. Values that do not change keep their text, changed ones keep their
//! line's comment, and a reorder moves whole entries (with their sub-tables and the comments
//! above them) between the places the entries had.

use std::collections::HashSet;
use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use super::entry::{entry_fields, fresh_value, set_value, sync};
use super::tools::{check_tool_name, set_tool};
use super::{EditError, ServerEdit, ServerEntry};
use crate::config::{ConfigError, McpConfig, import_mcp_servers};

/// What an operation did to the document.
pub(super) struct Outcome {
    pub servers: Vec<String>,
    pub warnings: Vec<String>,
    /// The servers' names the edited file must list, in order.
    pub expected_names: Vec<String>,
}

/// `mcp.servers`, whichever way the file writes it.
enum Servers<'a> {
    Tables(&'a mut ArrayOfTables),
    Inline(&'a mut Array),
}

impl Servers<'_> {
    fn len(&self) -> usize {
        match self {
            Servers::Tables(a) => a.len(),
            Servers::Inline(a) => a.len(),
        }
    }

    fn entry(&self, i: usize) -> Option<&dyn TableLike> {
        match self {
            Servers::Tables(a) => a.get(i).map(|t| t as &dyn TableLike),
            Servers::Inline(a) => a
                .get(i)
                .and_then(Value::as_inline_table)
                .map(|t| t as &dyn TableLike),
        }
    }

    fn entry_mut(&mut self, i: usize) -> Option<&mut dyn TableLike> {
        match self {
            Servers::Tables(a) => a.get_mut(i).map(|t| t as &mut dyn TableLike),
            Servers::Inline(a) => a
                .get_mut(i)
                .and_then(Value::as_inline_table_mut)
                .map(|t| t as &mut dyn TableLike),
        }
    }

    /// Each entry's `name` as written (empty when it has none).
    fn names(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| {
                self.entry(i)
                    .and_then(|e| e.get("name"))
                    .and_then(Item::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn index_of(&self, name: &str) -> Result<usize, EditError> {
        self.names()
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| EditError::UnknownServer(name.to_owned()))
    }

    /// Appends `table`: as a `[[mcp.servers]]` table at `position`, or inline.
    fn push(&mut self, mut table: Table, position: isize) {
        match self {
            Servers::Tables(a) => {
                table.set_position(Some(position));
                a.push(table);
            }
            Servers::Inline(a) => {
                let mut value = Value::InlineTable(table.into_inline_table());
                let multiline = a
                    .iter()
                    .any(|v| raw_prefix(v).is_some_and(|p| p.contains('\n')));
                let last = a.len().checked_sub(1).and_then(|i| a.get_mut(i));
                if let Some(last) = last {
                    // The last entry's indentation, without comments before it.
                    let prefix = match raw_prefix(last).and_then(|p| p.rsplit_once('\n')) {
                        Some((_, indent)) if multiline => format!("\n{indent}"),
                        _ => " ".to_owned(),
                    };
                    // Whatever stood between the last entry and `]` now follows the new one.
                    let suffix = last.decor().suffix().and_then(|s| s.as_str()).unwrap_or("");
                    value.decor_mut().set_suffix(suffix.to_owned());
                    last.decor_mut().set_suffix("");
                    value.decor_mut().set_prefix(prefix);
                }
                a.push_formatted(value);
            }
        }
    }

    fn remove(&mut self, i: usize) {
        match self {
            Servers::Tables(a) => {
                a.remove(i);
            }
            Servers::Inline(a) => {
                let removed = a.remove(i);
                if i == 0
                    && let Some(first) = a.get_mut(0)
                {
                    *first.decor_mut() = removed.decor().clone();
                }
            }
        }
    }

    /// Puts the entries in `order` (indices of the current entries).
    fn reorder(&mut self, order: &[usize]) {
        match self {
            Servers::Tables(a) => {
                let mut slots: Vec<isize> = a.iter().filter_map(Table::position).collect();
                slots.sort_unstable();
                let mut tables: Vec<Option<Table>> = a.iter().cloned().map(Some).collect();
                a.clear();
                for (k, &i) in order.iter().enumerate() {
                    if let Some(mut table) = tables.get_mut(i).and_then(Option::take) {
                        if let Some(&slot) = slots.get(k) {
                            set_position(&mut table, slot);
                        }
                        a.push(table);
                    }
                }
            }
            Servers::Inline(a) => {
                // Each place keeps its own spacing; the entries move.
                let decors: Vec<_> = a.iter().map(|v| v.decor().clone()).collect();
                let mut values: Vec<Option<Value>> = a.iter().cloned().map(Some).collect();
                a.clear();
                for (k, &i) in order.iter().enumerate() {
                    if let Some(mut value) = values.get_mut(i).and_then(Option::take) {
                        if let Some(decor) = decors.get(k) {
                            *value.decor_mut() = decor.clone();
                        }
                        a.push_formatted(value);
                    }
                }
            }
        }
    }
}

fn raw_prefix(value: &Value) -> Option<&str> {
    value.decor().prefix().and_then(|p| p.as_str())
}

/// The largest document position of `table` and the tables under it.
fn max_position(table: &Table) -> Option<isize> {
    let mut max = table.position();
    for (_, item) in table.iter() {
        let under = match item {
            Item::Table(t) => max_position(t),
            Item::ArrayOfTables(a) => a.iter().filter_map(max_position).max(),
            _ => None,
        };
        max = max.max(under);
    }
    max
}

/// Places `table` and the tables under it at `position` (they are written in tree order).
fn set_position(table: &mut Table, position: isize) {
    if !table.is_dotted() {
        table.set_position(Some(position));
    }
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => set_position(t, position),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| set_position(t, position)),
            _ => {}
        }
    }
}

fn invalid(source: &Path, key: impl Into<String>, reason: impl Into<String>) -> EditError {
    EditError::Invalid(ConfigError::new(source, key, reason))
}

/// `mcp.servers` of `doc`; with `create`, made (empty) when absent.
fn servers_mut<'d>(
    doc: &'d mut DocumentMut,
    source: &Path,
    create: bool,
) -> Result<Option<Servers<'d>>, EditError> {
    let root = doc.as_table_mut();
    if !root.contains_key("mcp") {
        if !create {
            return Ok(None);
        }
        let mut mcp = Table::new();
        mcp.set_implicit(true);
        root.insert("mcp", Item::Table(mcp));
    }
    let not_array = || {
        invalid(
            source,
            "mcp.servers",
            "is not an array of tables; the dashboard edits [[mcp.servers]] entries",
        )
    };
    match root.get_mut("mcp") {
        Some(Item::Table(mcp)) => {
            if !mcp.contains_key("servers") {
                if !create {
                    return Ok(None);
                }
                mcp.insert("servers", Item::ArrayOfTables(ArrayOfTables::new()));
            }
            match mcp.get_mut("servers") {
                Some(Item::ArrayOfTables(a)) => Ok(Some(Servers::Tables(a))),
                Some(Item::Value(Value::Array(a))) => Ok(Some(Servers::Inline(a))),
                _ => Err(not_array()),
            }
        }
        Some(Item::Value(Value::InlineTable(mcp))) => {
            if !mcp.contains_key("servers") {
                if !create {
                    return Ok(None);
                }
                mcp.insert("servers", Value::Array(Array::new()));
            }
            match mcp.get_mut("servers") {
                Some(Value::Array(a)) => Ok(Some(Servers::Inline(a))),
                _ => Err(not_array()),
            }
        }
        _ => Err(invalid(source, "mcp", "is not a table")),
    }
}

/// Applies `edit` to `doc`.
pub(super) fn apply(
    doc: &mut DocumentMut,
    source: &Path,
    edit: &ServerEdit,
) -> Result<Outcome, EditError> {
    let mut names = match servers_mut(doc, source, false)? {
        Some(servers) => servers.names(),
        None => Vec::new(),
    };
    let mut outcome = Outcome {
        servers: Vec::new(),
        warnings: Vec::new(),
        expected_names: Vec::new(),
    };
    match edit {
        ServerEdit::Add(entry) => {
            let name = add(doc, source, entry)?;
            names.push(name.clone());
            outcome.servers.push(name);
        }
        ServerEdit::Import { json } => {
            let separator = doc
                .get("mcp")
                .and_then(|mcp| mcp.get("separator"))
                .and_then(Item::as_str)
                .map_or_else(|| McpConfig::default().separator, str::to_owned);
            let taken: Vec<&str> = names.iter().map(String::as_str).collect();
            let imported = import_mcp_servers(json, &taken, &separator)
                .map_err(|reason| EditError::request("json", reason))?;
            outcome.warnings = imported.warnings;
            if imported.servers.is_empty() {
                return Err(EditError::request("json", "it names no MCP server to add"));
            }
            for server in &imported.servers {
                let name = add(doc, source, &ServerEntry::from_config(server))?;
                names.push(name.clone());
                outcome.servers.push(name);
            }
        }
        ServerEdit::Replace { name, entry } => {
            let mut servers = existing(doc, source, name)?;
            let i = servers.index_of(name)?;
            let Some(table) = servers.entry_mut(i) else {
                return Err(invalid(
                    source,
                    format!("mcp.servers[{i}]"),
                    "is not a table",
                ));
            };
            let fields = entry_fields(entry, Some(&*table))?;
            sync(table, &fields, "")?;
            let now = entry.name.clone().filter(|n| !n.is_empty());
            let now = now.unwrap_or_else(|| name.clone());
            names[i] = now.clone();
            outcome.servers.push(now);
        }
        ServerEdit::Remove { name } => {
            let mut servers = existing(doc, source, name)?;
            let i = servers.index_of(name)?;
            servers.remove(i);
            names.remove(i);
        }
        ServerEdit::SetEnabled { name, enabled } => {
            let mut servers = existing(doc, source, name)?;
            let i = servers.index_of(name)?;
            if let Some(table) = servers.entry_mut(i)
                && (!enabled || table.contains_key("enabled"))
            {
                set_value(table, "enabled", Value::from(*enabled));
            }
            outcome.servers.push(name.clone());
        }
        ServerEdit::Reorder { names: order } => {
            let order = positions(&names, order)?;
            if let Some(mut servers) = servers_mut(doc, source, false)? {
                servers.reorder(&order);
            }
            names = order
                .iter()
                .filter_map(|&i| names.get(i).cloned())
                .collect();
        }
        ServerEdit::SetTool {
            name,
            tool,
            allowed,
        } => {
            check_tool_name(tool)?;
            let mut servers = existing(doc, source, name)?;
            let i = servers.index_of(name)?;
            let dotted = matches!(servers, Servers::Tables(_));
            let Some(table) = servers.entry_mut(i) else {
                return Err(invalid(
                    source,
                    format!("mcp.servers[{i}]"),
                    "is not a table",
                ));
            };
            let at = |key: &str| format!("mcp.servers[{i}].{key}");
            set_tool(table, dotted, tool, *allowed, &at).map_err(|(k, r)| invalid(source, k, r))?;
            outcome.servers.push(name.clone());
        }
    }
    outcome.expected_names = names;
    Ok(outcome)
}

/// `mcp.servers` when it holds `name` (else the server is unknown).
fn existing<'d>(
    doc: &'d mut DocumentMut,
    source: &Path,
    name: &str,
) -> Result<Servers<'d>, EditError> {
    servers_mut(doc, source, false)?.ok_or_else(|| EditError::UnknownServer(name.to_owned()))
}

/// Appends a server; answers its name.
fn add(doc: &mut DocumentMut, source: &Path, entry: &ServerEntry) -> Result<String, EditError> {
    let name = entry
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| EditError::request("name", "a new server needs a name"))?;
    let fields = entry_fields(entry, None)?;
    let mut table = Table::new();
    for (key, field) in &fields {
        if let Some(value) = fresh_value(field, key)? {
            table.insert(key, Item::Value(value));
        }
    }
    // After the last entry (and its sub-tables); else after `[mcp]`; else at the end.
    let after = |doc: &DocumentMut| {
        let mcp = doc.get("mcp")?;
        match mcp.get("servers") {
            Some(Item::ArrayOfTables(a)) if !a.is_empty() => {
                a.iter().filter_map(max_position).max()
            }
            _ => mcp.as_table().and_then(max_position),
        }
    };
    let position = after(doc)
        .or_else(|| max_position(doc.as_table()).map(|p| p + 1))
        .unwrap_or(0);
    if let Some(mut servers) = servers_mut(doc, source, true)? {
        servers.push(table, position);
    }
    Ok(name)
}

/// Indices of the current entries in the order `wanted` names them (each exactly once).
fn positions(current: &[String], wanted: &[String]) -> Result<Vec<usize>, EditError> {
    let bad = |reason: String| Err(EditError::request("names", reason));
    let mut seen = HashSet::new();
    let mut order = Vec::with_capacity(wanted.len());
    for name in wanted {
        if !seen.insert(name.as_str()) {
            return bad(format!("`{name}` appears more than once"));
        }
        match current.iter().position(|n| n == name) {
            Some(i) => order.push(i),
            None => return bad(format!("no MCP server named `{name}` in the config file")),
        }
    }
    if let Some(missing) = current.iter().find(|n| !seen.contains(n.as_str())) {
        return bad(format!(
            "`{missing}` is missing: give every server's name exactly once"
        ));
    }
    Ok(order)
}
