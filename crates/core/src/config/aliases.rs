//! `[aliases]`: the model names clients send on their own (Claude Code asks for
//! `claude-opus-4-8`, Codex for its default GPT model) mapped to Fusion model ids by glob, for
//! every front door:
//!
//! ```toml
//! [aliases]
//! "claude-*" = "router/auto"      # or a model id, or fusion/<council>
//! "gpt-5*" = "qwen-coder"
//! ```
//!
//! A pattern is matched against the whole name; `*` matches any run of characters, `?` one
//! character. An exact pattern wins over a glob, and among globs the most specific one (the most
//! literal characters) wins, then the first in name order. Aliases do not chain.

use std::collections::BTreeMap;

/// Patterns and targets, at most this many.
pub const MAX_ALIASES: usize = 256;
/// A pattern or a target, at most this long.
const MAX_LEN: usize = 256;

/// The target `name` maps to, when an alias covers it.
pub fn resolve<'a>(aliases: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    if let Some(target) = aliases.get(name) {
        return Some(target);
    }
    aliases
        .iter()
        .filter(|(pattern, _)| is_glob(pattern) && matches(pattern.as_bytes(), name.as_bytes()))
        .max_by(|(a, _), (b, _)| {
            // `max_by` keeps the last of equals: compare in reverse name order to keep the first.
            literal_len(a).cmp(&literal_len(b)).then_with(|| b.cmp(a))
        })
        .map(|(_, target)| target.as_str())
}

/// Checks the table: patterns and targets non-empty and bounded, a bounded count, and no
/// target that is itself an alias pattern (aliases do not chain).
pub(super) fn validate(aliases: &BTreeMap<String, String>) -> Result<(), (String, String)> {
    if aliases.len() > MAX_ALIASES {
        return Err((
            "aliases".into(),
            format!("at most {MAX_ALIASES} aliases (found {})", aliases.len()),
        ));
    }
    for (pattern, target) in aliases {
        let key = format!("aliases.\"{pattern}\"");
        if pattern.trim().is_empty() || pattern.len() > MAX_LEN {
            return Err((key, format!("a pattern must be 1 to {MAX_LEN} characters")));
        }
        if target.trim().is_empty() || target.len() > MAX_LEN {
            return Err((
                key,
                format!("the target must be a model id of 1 to {MAX_LEN} characters"),
            ));
        }
        if is_glob(target) {
            return Err((
                key,
                format!("the target `{target}` must be a model id, not a pattern"),
            ));
        }
    }
    Ok(())
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

/// Whole-string glob match with `*` and `?`, iterative with one backtrack point (linear in
/// practice, never exponential).
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn globs_match_the_whole_name() {
        assert!(matches(b"claude-*", b"claude-opus-4-8"));
        assert!(matches(b"gpt-5*", b"gpt-5"));
        assert!(matches(b"*-mini", b"gpt-5.1-codex-mini"));
        assert!(matches(b"gpt-?", b"gpt-5"));
        assert!(matches(b"a*b*c", b"aXbYbZc"));
        assert!(!matches(b"claude-*", b"my-claude-x"));
        assert!(!matches(b"gpt-?", b"gpt-55"));
        assert!(!matches(b"a*b*c", b"aXbYbZ"));
    }

    #[test]
    fn exact_beats_glob_and_the_most_specific_glob_wins() {
        let aliases = table(&[
            ("*", "router/auto"),
            ("claude-*", "fusion/default"),
            ("claude-haiku-*", "local-small"),
            ("claude-opus-4-8", "qwen-coder"),
        ]);
        assert_eq!(resolve(&aliases, "claude-opus-4-8"), Some("qwen-coder"));
        assert_eq!(resolve(&aliases, "claude-haiku-4-5"), Some("local-small"));
        assert_eq!(
            resolve(&aliases, "claude-sonnet-4-5"),
            Some("fusion/default")
        );
        assert_eq!(resolve(&aliases, "gpt-5"), Some("router/auto"));
        assert_eq!(resolve(&table(&[("claude-*", "x")]), "gpt-5"), None);
    }

    #[test]
    fn equally_specific_globs_resolve_to_the_first_in_name_order() {
        // `*a` sorts before `a*` ('*' < 'a'): both match `aa` with one literal character.
        let aliases = table(&[("a*", "later"), ("*a", "earlier")]);
        assert_eq!(resolve(&aliases, "aa"), Some("earlier"));
    }

    #[test]
    fn validation_names_the_alias_at_fault() {
        assert!(validate(&table(&[("claude-*", "router/auto")])).is_ok());
        let (key, reason) = validate(&table(&[("claude-*", "")])).unwrap_err();
        assert_eq!(key, "aliases.\"claude-*\"");
        assert!(reason.contains("model id"), "{reason}");
        let (_, reason) = validate(&table(&[("gpt-*", "claude-*")])).unwrap_err();
        assert!(reason.contains("not a pattern"), "{reason}");
        let many: BTreeMap<String, String> = (0..=MAX_ALIASES)
            .map(|i| (format!("m{i}"), "x".to_owned()))
            .collect();
        assert_eq!(validate(&many).unwrap_err().0, "aliases");
    }
}
