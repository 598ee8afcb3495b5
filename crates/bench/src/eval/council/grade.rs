//! Grading an arm's output on a fixture: by the issues' keyword rules (always), by counting the
//! findings it raised (what over-flagging on the clean control is measured in), and by a model
//! grader when one is given — strict JSON, one yes or no per issue, asked once more when its
//! answer cannot be used (`fusion_core::strict_json`).

use fusion_core::council::extract_object;
use fusion_core::providers::ProviderRegistry;
use fusion_core::strict_json::{self, Attempt, JsonAnswer, JsonModel};
use fusion_types::{ChatMessage, ChatRequest, Role};
use serde_json::Value;

use super::fixtures::Fixture;

/// Longest review text shown to the model grader, in characters.
const MAX_GRADED_CHARS: usize = 16_000;

/// The answer a review gives when it finds nothing (the review prompt asks for it).
pub const NO_ISSUES: &str = "NO ISSUES";

/// The fixture's issues `text` finds by their keyword rules, by id.
pub fn keyword_found(fixture: &Fixture, text: &str) -> Vec<String> {
    fixture
        .issues
        .iter()
        .filter(|issue| issue.found_in(text))
        .map(|issue| issue.id.clone())
        .collect()
}

/// How many findings a free-text review raised: its list items (`- `, `* `, `• `, `1.`,
/// `1)`); a review with no list that does not say it found nothing counts as one.
pub fn count_findings(text: &str) -> u32 {
    let items = text
        .lines()
        .filter(|line| is_item(line.trim_start()))
        .count();
    match u32::try_from(items).unwrap_or(u32::MAX) {
        0 if !text.trim().is_empty() && !says_nothing_found(text) => 1,
        n => n,
    }
}

fn is_item(line: &str) -> bool {
    if ["- ", "* ", "• "].iter().any(|m| line.starts_with(m)) {
        return true;
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0
        && digits <= 3
        && matches!(line[digits..].chars().next(), Some('.' | ')'))
        && line[digits + 1..].starts_with(' ')
}

fn says_nothing_found(text: &str) -> bool {
    let text = text.to_lowercase();
    [
        "no issues",
        "no defects",
        "no issue found",
        "nothing to flag",
        "found no",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

/// The model grader's system prompt.
const GRADER_SYSTEM: &str = "\
You grade code reviews against a list of known issues. For each issue, decide whether the \
review identifies that same defect (in its own words is fine; a vague or general remark that \
would fit any change does not count). Reply with ONE JSON object and nothing else: each key \
is an issue id from the list, each value \"yes\" or \"no\". List every issue id.";

/// Asks `grader` which of the fixture's issues `review` identifies: the ids it said yes to,
/// or why its answers could not be used.
pub async fn grade_with_model(
    registry: &ProviderRegistry,
    grader: &str,
    fixture: &Fixture,
    review: &str,
) -> Result<Vec<String>, String> {
    let ids: Vec<&str> = fixture.issues.iter().map(|i| i.id.as_str()).collect();
    let issues = fixture
        .issues
        .iter()
        .map(|i| format!("- {}: {}", i.id, i.summary))
        .collect::<Vec<_>>()
        .join("\n");
    let review: String = review.chars().take(MAX_GRADED_CHARS).collect();
    let user = format!(
        "Objective of the build step:\n{}\n\nKnown issues:\n{issues}\n\nThe review to \
         grade:\n<<<\n{review}\n>>>\n\nWrite the JSON object now, with the keys {}.",
        fixture.objective,
        ids.join(", ")
    );
    let messages = vec![
        ChatMessage::text(Role::System, GRADER_SYSTEM),
        ChatMessage::text(Role::User, user),
    ];
    let mut seat = GraderSeat {
        registry,
        model: grader,
    };
    match strict_json::ask(&mut seat, messages, &ids, |text| parse_verdicts(text, &ids)).await {
        JsonAnswer::Parsed(found) | JsonAnswer::Repaired { value: found, .. } => Ok(found),
        JsonAnswer::NotAsked(error) => Err(format!("the grader could not be asked: {error}")),
        JsonAnswer::RetryFailed {
            first_error, error, ..
        } => Err(format!(
            "the grader's answer could not be used ({first_error}) and its retry failed ({error})"
        )),
        JsonAnswer::Unparsable { error, .. } => Err(format!(
            "the grader's answer could not be used, even after one retry ({error})"
        )),
    }
}

/// The grader's JSON: every id with `yes` or `no` (or a boolean); the ids said yes to.
pub fn parse_verdicts(text: &str, ids: &[&str]) -> Result<Vec<String>, String> {
    let object = extract_object(text)?;
    let mut found = Vec::new();
    for id in ids {
        let yes = match object.get(*id) {
            None => return Err(format!("no verdict for the issue `{id}`")),
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => match s.trim().to_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(format!(
                        "the verdict for `{id}` is `{other}`; it must be yes or no"
                    ));
                }
            },
            Some(other) => {
                return Err(format!(
                    "the verdict for `{id}` is {other}; it must be \"yes\" or \"no\""
                ));
            }
        };
        if yes {
            found.push((*id).to_owned());
        }
    }
    Ok(found)
}

/// The grader model, asked through the registry at temperature 0.
struct GraderSeat<'a> {
    registry: &'a ProviderRegistry,
    model: &'a str,
}

impl JsonModel for GraderSeat<'_> {
    type Error = String;

    async fn call(
        &mut self,
        messages: &[ChatMessage],
        _attempt: Attempt<'_>,
    ) -> Result<String, String> {
        let request = ChatRequest {
            model: self.model.to_owned(),
            messages: messages.to_vec(),
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        self.registry
            .chat(self.model, request)
            .await
            .map(|c| c.text())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_list_items_and_an_unlisted_complaint_counts_once() {
        assert_eq!(count_findings("- a\n- b\n  * c\n3. d\n12) e\n"), 5);
        assert_eq!(count_findings(NO_ISSUES), 0);
        assert_eq!(count_findings("I found no defects in this change."), 0);
        assert_eq!(count_findings(""), 0);
        assert_eq!(count_findings("The offset is wrong on page 1."), 1);
        assert_eq!(
            count_findings("2024-03-08 was fine\n-x"),
            1,
            "not list items"
        );
    }

    #[test]
    fn grader_verdicts_need_every_issue_with_yes_or_no() {
        let ids = ["sql-injection", "unbounded-results"];
        assert_eq!(
            parse_verdicts(
                "```json\n{\"sql-injection\": \"Yes\", \"unbounded-results\": false}\n```",
                &ids
            )
            .unwrap(),
            vec!["sql-injection"]
        );
        let err = parse_verdicts("{\"sql-injection\": \"yes\"}", &ids).unwrap_err();
        assert!(err.contains("unbounded-results"), "{err}");
        let err = parse_verdicts(
            "{\"sql-injection\": \"maybe\", \"unbounded-results\": \"no\"}",
            &ids,
        )
        .unwrap_err();
        assert!(err.contains("maybe"), "{err}");
        let err = parse_verdicts("{\"<issue id>\": \"yes or no\"}", &ids).unwrap_err();
        assert!(
            err.contains("sql-injection"),
            "an echoed template is refused: {err}"
        );
        assert!(parse_verdicts("yes", &ids).is_err());
    }
}
