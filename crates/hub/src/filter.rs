//! `tools.allow` / `tools.deny` of a child: glob patterns over the child's own tool names.
//! Patterns were checked when the config loaded; one that still fails to compile matches nothing.

use fusion_core::config::ToolFilter;
use globset::{Glob, GlobSet, GlobSetBuilder};

pub struct ToolNameFilter {
    allow: Option<GlobSet>,
    deny: GlobSet,
}

fn compile(patterns: &[String]) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        if let Ok(glob) = Glob::new(pattern) {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

impl ToolNameFilter {
    pub fn new(filter: &ToolFilter) -> Self {
        Self {
            allow: (!filter.allow.is_empty()).then(|| compile(&filter.allow)),
            deny: compile(&filter.deny),
        }
    }

    /// Allowed when `allow` is empty or matches, and `deny` does not match.
    pub fn allows(&self, name: &str) -> bool {
        self.allow.as_ref().is_none_or(|a| a.is_match(name)) && !self.deny.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolNameFilter {
        ToolNameFilter::new(&ToolFilter {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    #[test]
    fn empty_filter_allows_everything() {
        assert!(filter(&[], &[]).allows("anything"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let f = filter(&["read_*", "delete_file"], &["delete_*"]);
        assert!(f.allows("read_file"));
        assert!(!f.allows("delete_file"));
        assert!(!f.allows("write_file"));
    }
}
