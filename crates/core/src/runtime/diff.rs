//! What a reload changed: providers, models (as the registry lists them, synced ones
//! included), councils, configured prompting strategies and child MCP servers added, removed or
//! changed (a child whose tool filter alone changed is listed apart: it keeps running), and the
//! sections that only take effect at the next start. This is what
//! `reload_config` and `POST /api/config/reload` answer, and what the log says.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::Snapshot;
use crate::config::{Config, McpServerConfig};

/// Names added, removed and changed in one kind of item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delta {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Delta {
    /// Compares two keyed sets of items (`BTreeMap` keeps the answer sorted).
    pub fn between<T: PartialEq>(old: &BTreeMap<&str, T>, new: &BTreeMap<&str, T>) -> Delta {
        let mut delta = Delta::default();
        for (name, item) in new {
            match old.get(name) {
                None => delta.added.push((*name).to_owned()),
                Some(before) if before != item => delta.changed.push((*name).to_owned()),
                Some(_) => {}
            }
        }
        delta.removed = old
            .keys()
            .filter(|name| !new.contains_key(*name))
            .map(|name| (*name).to_owned())
            .collect();
        delta
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `+a -b ~c`, or `unchanged`.
    fn summary(&self) -> String {
        let marks = [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ];
        let parts: Vec<String> = marks
            .iter()
            .flat_map(|(mark, names)| names.iter().map(move |n| format!("{mark}{n}")))
            .collect();
        if parts.is_empty() {
            "unchanged".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

/// The answer to an accepted reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// The file that was read.
    pub file: PathBuf,
    /// The snapshot's generation now (unchanged when the file said nothing new).
    pub generation: u64,
    /// Whether anything changed at all.
    pub changed: bool,
    pub providers: Delta,
    pub models: Delta,
    pub councils: Delta,
    /// Configured prompting strategies (`[prompting."MODEL"]`), by model id.
    pub prompting: Delta,
    /// Child MCP servers (`[[mcp.servers]]`, enabled ones): started, stopped or restarted.
    pub mcp_servers: Delta,
    /// Child MCP servers whose tool allow/deny lists alone changed: their listing changes, the
    /// process and its sessions stay (not in `mcp_servers.changed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mcp_tool_filters: Vec<String>,
    /// Sections that changed but take effect only when the process restarts.
    pub restart_required: Vec<String>,
    /// Things allowed but probably not intended in the new file.
    pub warnings: Vec<String>,
}

impl ReloadReport {
    pub(super) fn between(old: &Snapshot, new: &Snapshot, file: PathBuf) -> ReloadReport {
        let (a, b) = (&*old.config, &*new.config);
        let providers = Delta::between(
            &a.providers.iter().map(|p| (p.name.as_str(), p)).collect(),
            &b.providers.iter().map(|p| (p.name.as_str(), p)).collect(),
        );
        let old_models = comparable_models(&old.registry.models(), a);
        let new_models = comparable_models(&new.registry.models(), b);
        let models = Delta::between(
            &old_models.iter().map(|m| (m.id.as_str(), m)).collect(),
            &new_models.iter().map(|m| (m.id.as_str(), m)).collect(),
        );
        let councils = Delta::between(
            &a.councils.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            &b.councils.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        );
        let prompting = Delta::between(
            &a.prompting.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            &b.prompting.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        );
        let mut mcp_servers = mcp_servers(a, b);
        let (mcp_tool_filters, restarted): (Vec<String>, Vec<String>) = mcp_servers
            .changed
            .drain(..)
            .partition(|name| tool_filter_only_change(a, b, name));
        mcp_servers.changed = restarted;
        let restart_required = restart_required(a, b);
        let changed = a != b || !models.is_empty();
        ReloadReport {
            file,
            generation: new.generation,
            changed,
            providers,
            models,
            councils,
            prompting,
            mcp_servers,
            mcp_tool_filters,
            restart_required,
            warnings: Vec::new(),
        }
    }

    /// One log line: what changed, by kind.
    pub fn summary(&self) -> String {
        if !self.changed {
            return "nothing changed".to_owned();
        }
        let mut line = format!(
            "providers {}; models {}; councils {}; MCP servers {}",
            self.providers.summary(),
            self.models.summary(),
            self.councils.summary(),
            self.mcp_servers.summary()
        );
        if !self.mcp_tool_filters.is_empty() {
            line.push_str(&format!(
                "; MCP tool filters ~{}",
                self.mcp_tool_filters.join(" ~")
            ));
        }
        if !self.prompting.is_empty() {
            line.push_str(&format!("; prompting {}", self.prompting.summary()));
        }
        if !self.restart_required.is_empty() {
            line.push_str(&format!(
                "; {} take effect at the next start",
                self.restart_required.join(", ")
            ));
        }
        line
    }
}

/// The enabled child servers by name. A child whose entry changed in any way is restarted;
/// one whose entry is the same keeps its process and sessions, unless a setting every child
/// shares changed (the separator or catalog mode: they rename everything).
pub fn mcp_servers(a: &Config, b: &Config) -> Delta {
    let enabled = |c: &Config| -> BTreeMap<String, crate::config::McpServerConfig> {
        c.mcp
            .servers
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.name.clone(), s.clone()))
            .collect()
    };
    let (old, new) = (enabled(a), enabled(b));
    let mut delta = Delta::between(
        &old.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        &new.iter().map(|(k, v)| (k.as_str(), v)).collect(),
    );
    if a.mcp.separator != b.mcp.separator || a.mcp.mode != b.mcp.mode {
        let kept = new.keys().filter(|name| old.contains_key(*name));
        let renamed: Vec<String> = kept
            .filter(|name| !delta.changed.contains(name))
            .cloned()
            .collect();
        delta.changed.extend(renamed);
        delta.changed.sort();
    }
    delta
}

/// Whether child `name`'s entry differs between `old` and `new` in its tool filter alone (and
/// nothing every child shares changed): its connection can stay, only its listing changes.
pub fn tool_filter_only_change(old: &Config, new: &Config, name: &str) -> bool {
    if old.mcp.separator != new.mcp.separator || old.mcp.mode != new.mcp.mode {
        return false;
    }
    let enabled = |c: &'_ Config| -> Option<McpServerConfig> {
        c.mcp
            .servers
            .iter()
            .find(|s| s.enabled && s.name == name)
            .cloned()
    };
    let (Some(before), Some(after)) = (enabled(old), enabled(new)) else {
        return false;
    };
    let refiltered = McpServerConfig {
        tools: after.tools.clone(),
        ..before.clone()
    };
    before.tools != after.tools && refiltered == after
}

/// The models as a reload compares them: a context window counts only when the config states
/// it — the running registry has learned others from the model servers since it started, and
/// a registry just built has not yet, which is no change the file made.
fn comparable_models(
    models: &[crate::providers::ModelEntry],
    config: &crate::config::Config,
) -> Vec<crate::providers::ModelEntry> {
    models
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.context_window = config
                .models
                .iter()
                .find(|c| c.id == m.id)
                .and_then(|c| c.context_window);
            m
        })
        .collect()
}

/// The sections that changed between `a` and `b` but take effect only on a restart.
fn restart_required(a: &Config, b: &Config) -> Vec<String> {
    let (ta, tb) = (&a.tasks, &b.tasks);
    [
        ("[server]", a.server == b.server),
        // The retentions apply from the maintenance's next pass (it reads the live config).
        ("[storage] url", a.storage.url == b.storage.url),
        (
            "[tasks] lease, poll_interval, on_interrupt",
            (ta.lease, ta.poll_interval, ta.on_interrupt)
                == (tb.lease, tb.poll_interval, tb.on_interrupt),
        ),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(section, _)| section.to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'a>(items: &[(&'a str, u32)]) -> BTreeMap<&'a str, u32> {
        items.iter().copied().collect()
    }

    #[test]
    fn a_delta_names_added_removed_and_changed_items_sorted() {
        let old = map(&[("a", 1), ("b", 2), ("c", 3)]);
        let new = map(&[("c", 4), ("d", 5), ("a", 1)]);
        let delta = Delta::between(&old, &new);
        assert_eq!(delta.added, ["d"]);
        assert_eq!(delta.removed, ["b"]);
        assert_eq!(delta.changed, ["c"]);
        assert_eq!(delta.summary(), "+d -b ~c");
    }

    fn config(servers: &str) -> Config {
        toml::from_str(servers).unwrap()
    }

    #[test]
    fn only_a_tool_filter_change_keeps_the_child() {
        let time = "[[mcp.servers]]\nname = \"time\"\ncommand = \"mcp-server-time\"\n";
        let old = config(time);
        let denied = config(&format!("{time}tools = {{ deny = [\"convert_time\"] }}\n"));
        let moved = config(&format!("{time}args = [\"--local-timezone\", \"UTC\"]\n"));
        assert!(tool_filter_only_change(&old, &denied, "time"));
        assert!(!tool_filter_only_change(&old, &moved, "time"));
        assert!(
            !tool_filter_only_change(&old, &old, "time"),
            "no change at all"
        );
        assert!(!tool_filter_only_change(&old, &denied, "other"));
    }

    #[test]
    fn a_retention_change_applies_live_and_a_store_url_change_needs_a_restart() {
        let old = config("[storage]\nurl = \"sqlite:///tmp/a.db\"\n");
        let retention = config(
            "[storage]\nurl = \"sqlite:///tmp/a.db\"\nledger_retention = \"7d\"\n\
             task_retention = \"2d\"\nloop_retention = \"3d\"\n",
        );
        let moved = config("[storage]\nurl = \"sqlite:///tmp/b.db\"\n");
        assert!(restart_required(&old, &retention).is_empty());
        assert_eq!(restart_required(&old, &moved), ["[storage] url"]);
    }

    #[test]
    fn equal_sets_give_an_empty_delta() {
        let same = map(&[("a", 1)]);
        let delta = Delta::between(&same, &same);
        assert!(delta.is_empty());
        assert_eq!(delta.summary(), "unchanged");
    }
}
