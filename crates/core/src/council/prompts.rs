//! The council's prompt templates, in one place so they can be tuned and tested: the judge's
//! instructions, schema and keys (which a repair request names again), the placeholder text of
//! its example (which a real analysis never repeats), and the synthesizer's instructions.

use std::sync::LazyLock;

use crate::strict_json::echo::Template;

/// One panel answer as the judge and synthesizer see it: an anonymous label and the text.
pub struct LabelledAnswer<'a> {
    pub label: &'a str,
    pub content: &'a str,
}

/// The judge's system prompt: strict JSON with the six analysis fields, labels only.
pub const JUDGE_SYSTEM: &str = "\
You are the judge of a panel of AI assistants. You compare their answers to one question; you do \
not answer the question yourself. The answers are anonymous (\"Response A\", \"Response B\", ...) \
and their order is random: judge only what they say.

Reply with ONE JSON object and nothing else: no prose, no code fence. Use exactly these keys:
{
  \"consensus\": [\"a claim every or nearly every response makes\"],
  \"contradictions\": [{\"topic\": \"what they disagree on\", \"stances\": [{\"model\": \"Response A\", \"stance\": \"its position\"}]}],
  \"partial_coverage\": [{\"models\": [\"Response A\", \"Response C\"], \"point\": \"a point only some responses cover\"}],
  \"unique_insights\": [{\"model\": \"Response B\", \"insight\": \"something only this response says that matters\"}],
  \"blind_spots\": [\"something important that no response addresses\"],
  \"judge_notes\": [\"errors, unsupported claims or quality differences worth knowing\"]
}
Every key must be present; use [] when there is nothing to report. Refer to responses only by \
their labels.";

/// The judge's user message: the question and the labelled answers.
pub fn judge_user(question: &str, answers: &[LabelledAnswer<'_>]) -> String {
    let mut text = format!("Question:\n{question}\n\n");
    push_answers(&mut text, answers);
    text.push_str("Write the JSON analysis now.");
    text
}

/// The keys of the judge's JSON object, named again when its output could not be used
/// (see [`crate::strict_json::repair_prompt`]).
pub const JUDGE_KEYS: [&str; 6] = [
    "consensus",
    "contradictions",
    "partial_coverage",
    "unique_insights",
    "blind_spots",
    "judge_notes",
];

/// The keys whose example values in [`JUDGE_SYSTEM`] are response labels: a real analysis
/// names them too, so they are not placeholders.
pub const JUDGE_LABEL_KEYS: [&str; 2] = ["model", "models"];

/// The placeholder text of [`JUDGE_SYSTEM`]'s example object, read from the prompt itself: an
/// analysis that repeats it copied the form instead of comparing the answers.
pub fn judge_template() -> &'static Template {
    static TEMPLATE: LazyLock<Template> =
        LazyLock::new(|| Template::from_prompt(JUDGE_SYSTEM, &JUDGE_LABEL_KEYS));
    &TEMPLATE
}

/// The synthesizer's system prompt: resolve, don't average.
pub const SYNTHESIZER_SYSTEM: &str = "\
You write the final answer to a question, using several assistants' answers and a judge's \
analysis of them. Build on the consensus, include the unique insights that hold up, and cover \
the blind spots you can. Where the answers contradict each other, resolve the contradiction \
explicitly: say which position is right and why, or say what it depends on; never average \
incompatible claims into a vague middle. Do not mention the panel, the judge or the labels: \
answer the question directly, as one expert would.";

/// The synthesizer's user message: question, labelled answers, the judge's analysis as JSON.
pub fn synthesizer_user(
    question: &str,
    answers: &[LabelledAnswer<'_>],
    analysis_json: &str,
) -> String {
    let mut text = format!("Question:\n{question}\n\n");
    push_answers(&mut text, answers);
    text.push_str("Judge's analysis (JSON):\n");
    text.push_str(analysis_json);
    text.push_str("\n\nWrite the final answer to the question now.");
    text
}

fn push_answers(text: &mut String, answers: &[LabelledAnswer<'_>]) {
    for answer in answers {
        text.push_str("=== ");
        text.push_str(answer.label);
        text.push_str(" ===\n");
        text.push_str(answer.content.trim());
        text.push_str("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_prompt_shows_labels_and_never_model_names() {
        let answers = [
            LabelledAnswer {
                label: "Response A",
                content: "Paris.",
            },
            LabelledAnswer {
                label: "Response B",
                content: "It is Paris.",
            },
        ];
        let text = judge_user("Capital of France?", &answers);
        assert!(text.contains("=== Response A ===\nParis."));
        assert!(text.contains("=== Response B ===\nIt is Paris."));
        for key in [
            "consensus",
            "contradictions",
            "partial_coverage",
            "unique_insights",
            "blind_spots",
            "judge_notes",
        ] {
            assert!(JUDGE_SYSTEM.contains(key), "{key}");
        }
    }

    #[test]
    fn the_judge_template_holds_every_example_value_but_the_labels() {
        // consensus, topic, stance, point, insight, blind_spots, judge_notes.
        assert_eq!(judge_template().len(), 7);
        let example = crate::council::extract_object(JUDGE_SYSTEM).unwrap();
        let echoes = judge_template().echoes(&example);
        assert_eq!(echoes.len(), 7, "{echoes:?}");
        assert!(
            echoes
                .iter()
                .all(|path| !path.ends_with("model") && !path.contains("models"))
        );
    }

    #[test]
    fn synthesizer_prompt_carries_question_answers_and_analysis() {
        let answers = [LabelledAnswer {
            label: "Response A",
            content: "x",
        }];
        let text = synthesizer_user("Q?", &answers, "{\"consensus\":[]}");
        assert!(text.starts_with("Question:\nQ?"));
        assert!(text.contains("Response A"));
        assert!(text.contains("{\"consensus\":[]}"));
    }
}
