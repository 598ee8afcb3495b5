//! The council eval's fixtures: build reports that meet their acceptance criteria on their face
//! but hide known issues, each issue with keyword rules for grading, and a clean control. The
//! built-in set is in `crates/bench/fixtures/council/` (written by us); a directory of the
//! same TOML files may replace it.
//!
//! ```toml
//! id = "orders-pagination"
//! title = "Paginated order listing"
//! control = false                  # true: a clean report, every finding is over-flagging
//! objective = "..."
//! acceptance_criteria = ["..."]
//! [report]                         # the executor's report, as looped_report takes it
//! summary = "..."
//! changed_files = ["src/db/orders.rs"]
//! tests = ["cargo test"]
//! test_output = "..."
//! raw_evidence = "...a diff or code excerpt..."
//! [[issues]]
//! id = "offset-skips-first-page"
//! summary = "what is wrong"
//! keywords = [["off-by-one", "first page"], ["offset", "page"]]   # every group: any of its words
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use fusion_looped::Report;
use serde::{Deserialize, Serialize};

/// The built-in fixtures, by file name.
const BUILTIN: [(&str, &str); 10] = [
    (
        "orders-pagination.toml",
        include_str!("../../../fixtures/council/orders-pagination.toml"),
    ),
    (
        "user-search-sql.toml",
        include_str!("../../../fixtures/council/user-search-sql.toml"),
    ),
    (
        "cli-port-unwrap.toml",
        include_str!("../../../fixtures/council/cli-port-unwrap.toml"),
    ),
    (
        "metrics-counter-race.toml",
        include_str!("../../../fixtures/council/metrics-counter-race.toml"),
    ),
    (
        "retry-backoff-test.toml",
        include_str!("../../../fixtures/council/retry-backoff-test.toml"),
    ),
    (
        "daily-report-timezone.toml",
        include_str!("../../../fixtures/council/daily-report-timezone.toml"),
    ),
    (
        "csv-import-handles.toml",
        include_str!("../../../fixtures/council/csv-import-handles.toml"),
    ),
    (
        "payment-webhook.toml",
        include_str!("../../../fixtures/council/payment-webhook.toml"),
    ),
    (
        "session-cache-ttl.toml",
        include_str!("../../../fixtures/council/session-cache-ttl.toml"),
    ),
    (
        "control-version-flag.toml",
        include_str!("../../../fixtures/council/control-version-flag.toml"),
    ),
];

/// Largest fixture file read.
pub const MAX_FIXTURE_BYTES: u64 = 256 * 1024;
/// Most fixture files in a directory.
pub const MAX_FIXTURES: usize = 100;
/// Most issues in one fixture, groups in one rule and words in one group.
const MAX_ISSUES: usize = 20;
const MAX_GROUPS: usize = 8;
const MAX_WORDS: usize = 64;

/// One build report with its hidden issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// A clean report: no issue is hidden, and any finding on it is over-flagging.
    #[serde(default)]
    pub control: bool,
    pub objective: String,
    pub acceptance_criteria: Vec<String>,
    pub report: Report,
    #[serde(default)]
    pub issues: Vec<Issue>,
}

/// A known issue and how a review's text is graded for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    pub id: String,
    /// What is wrong, for the model grader and the report.
    pub summary: String,
    /// Groups of words, matched case-insensitively as substrings: the issue is found when
    /// every group has at least one of its words in the text.
    pub keywords: Vec<Vec<String>>,
}

impl Issue {
    /// Whether `text` finds this issue by its keyword rule.
    pub fn found_in(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        !self.keywords.is_empty()
            && self.keywords.iter().all(|group| {
                group
                    .iter()
                    .any(|word| text.contains(word.to_lowercase().as_str()))
            })
    }
}

/// The built-in fixtures, in a fixed order.
pub fn builtin() -> Result<Vec<Fixture>, String> {
    let fixtures = BUILTIN
        .iter()
        .map(|(name, text)| parse(name, text))
        .collect::<Result<Vec<_>, _>>()?;
    check_set(fixtures)
}

/// Every `*.toml` fixture in `dir`, by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Fixture>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the fixture directory {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read the fixture directory {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.len() > MAX_FIXTURES {
        return Err(format!(
            "{} holds {} fixture files; at most {MAX_FIXTURES} are read",
            dir.display(),
            paths.len()
        ));
    }
    let mut fixtures = Vec::new();
    for path in &paths {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_FIXTURE_BYTES {
            return Err(format!(
                "{} is {size} bytes; a fixture may have at most {MAX_FIXTURE_BYTES}",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        fixtures.push(parse(&path.display().to_string(), &text)?);
    }
    check_set(fixtures)
}

/// One fixture from its TOML text; `name` is where it came from, for errors.
pub fn parse(name: &str, text: &str) -> Result<Fixture, String> {
    let value: toml::Table = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    check_report_keys(&value).map_err(|e| format!("{name}: {e}"))?;
    let fixture: Fixture = value.try_into().map_err(|e| format!("{name}: {e}"))?;
    check(&fixture).map_err(|e| format!("{name}: {e}"))?;
    Ok(fixture)
}

/// The report takes the fields of `looped_report` and no others (a typo is an error).
fn check_report_keys(fixture: &toml::Table) -> Result<(), String> {
    let Some(toml::Value::Table(report)) = fixture.get("report") else {
        return Ok(());
    };
    let known = serde_json::to_value(Report::default()).unwrap_or_default();
    match report.keys().find(|key| known.get(key.as_str()).is_none()) {
        Some(key) => Err(format!(
            "unknown field `report.{key}`; a report has {}",
            known
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        )),
        None => Ok(()),
    }
}

fn check(fixture: &Fixture) -> Result<(), String> {
    let id_ok = |id: &str| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !id_ok(&fixture.id) {
        return Err(format!(
            "`id` `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
            fixture.id
        ));
    }
    if fixture.objective.trim().is_empty() {
        return Err("`objective` is empty".into());
    }
    if fixture.report.summary.trim().is_empty() {
        return Err("`report.summary` is empty".into());
    }
    match (fixture.control, fixture.issues.len()) {
        (true, n) if n > 0 => {
            return Err("a control (`control = true`) hides no issue: remove its `issues`".into());
        }
        (false, 0) => {
            return Err(
                "no `[[issues]]`: a fixture hides at least one (or is `control = true`)".into(),
            );
        }
        (_, n) if n > MAX_ISSUES => {
            return Err(format!("{n} issues; at most {MAX_ISSUES}"));
        }
        _ => {}
    }
    let mut ids = BTreeSet::new();
    for (i, issue) in fixture.issues.iter().enumerate() {
        let at = format!("issues[{i}]");
        if !id_ok(&issue.id) {
            return Err(format!("{at}.id `{}` is not a usable id", issue.id));
        }
        if !ids.insert(issue.id.as_str()) {
            return Err(format!("{at}.id `{}` is used twice", issue.id));
        }
        if issue.keywords.is_empty() || issue.keywords.len() > MAX_GROUPS {
            return Err(format!(
                "{at}.keywords needs 1 to {MAX_GROUPS} groups of words"
            ));
        }
        for (g, group) in issue.keywords.iter().enumerate() {
            if group.is_empty()
                || group.len() > MAX_WORDS
                || group.iter().any(|w| w.trim().is_empty())
            {
                return Err(format!(
                    "{at}.keywords[{g}] needs 1 to {MAX_WORDS} words, none of them blank"
                ));
            }
        }
    }
    Ok(())
}

fn check_set(fixtures: Vec<Fixture>) -> Result<Vec<Fixture>, String> {
    if fixtures.is_empty() {
        return Err("no fixtures".into());
    }
    let mut ids = BTreeSet::new();
    for fixture in &fixtures {
        if !ids.insert(fixture.id.as_str()) {
            return Err(format!("fixture id `{}` is used twice", fixture.id));
        }
    }
    Ok(fixtures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_has_eight_reports_with_issues_and_a_clean_control() {
        let fixtures = builtin().unwrap();
        let with_issues = fixtures.iter().filter(|f| !f.control).count();
        assert!(with_issues >= 8, "{with_issues}");
        assert_eq!(fixtures.iter().filter(|f| f.control).count(), 1);
        for fixture in &fixtures {
            assert!(!fixture.report.raw_evidence.is_empty(), "{}", fixture.id);
            assert!(!fixture.report.test_output.is_empty(), "{}", fixture.id);
        }
    }

    #[test]
    fn no_builtin_issue_is_found_in_its_own_report_or_in_the_control() {
        // The rules must take a reviewer's words, not the evidence the reviewer was shown.
        let fixtures = builtin().unwrap();
        let control = fixtures.iter().find(|f| f.control).unwrap();
        let control_text = toml::to_string(&control.report).unwrap();
        for fixture in fixtures.iter().filter(|f| !f.control) {
            let report = toml::to_string(&fixture.report).unwrap();
            for issue in &fixture.issues {
                assert!(!issue.found_in(&report), "{}/{}", fixture.id, issue.id);
                assert!(
                    !issue.found_in(&control_text),
                    "{}/{} in control",
                    fixture.id,
                    issue.id
                );
                assert!(
                    issue.found_in(&issue.summary),
                    "{}/{} misses its own summary",
                    fixture.id,
                    issue.id
                );
            }
        }
    }

    #[test]
    fn a_keyword_rule_needs_a_word_of_every_group_in_any_case() {
        let issue = Issue {
            id: "x".into(),
            summary: String::new(),
            keywords: vec![
                vec!["off-by-one".into(), "skips".into()],
                vec!["Offset".into()],
            ],
        };
        assert!(issue.found_in("The OFFSET is off-by-one"));
        assert!(issue.found_in("offset skips page 1"));
        assert!(!issue.found_in("off-by-one somewhere"));
        assert!(!issue.found_in("the offset is fine"));
    }

    #[test]
    fn bad_fixtures_are_refused_naming_what_is_wrong() {
        let base =
            "id = \"a\"\nobjective = \"o\"\nacceptance_criteria = []\n[report]\nsummary = \"s\"\n";
        let err = parse("a.toml", base).unwrap_err();
        assert!(err.contains("a.toml") && err.contains("issues"), "{err}");
        let err = parse(
            "a.toml",
            &format!("{base}[[issues]]\nid = \"i\"\nsummary = \"s\"\nkeywords = [[]]\n"),
        )
        .unwrap_err();
        assert!(err.contains("issues[0].keywords[0]"), "{err}");
        let err = parse("a.toml", &format!("typo = 1\n{base}")).unwrap_err();
        assert!(err.contains("typo"), "{err}");
        let err = parse("a.toml", &format!("{base}summry = \"s\"\n")).unwrap_err();
        assert!(err.contains("report.summry"), "{err}");
        let err = parse("c.toml", &format!("control = true\n{base}[[issues]]\nid = \"i\"\nsummary = \"s\"\nkeywords = [[\"w\"]]\n")).unwrap_err();
        assert!(err.contains("control"), "{err}");
    }
}
