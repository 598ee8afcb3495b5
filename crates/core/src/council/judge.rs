//! Reading the judge's output: find the JSON object in whatever the model wrote (code fences,
//! prose around it, trailing commas, a cut-off end), read the six analysis fields leniently,
//! refuse an analysis that copies the prompt's form (its example text, or no response label
//! where one is needed), and map the anonymous labels back to member names.

use fusion_types::{Analysis, Contradiction, PartialCoverage, Stance, UniqueInsight};
use serde_json::{Map, Value};

use super::prompts::{JUDGE_KEYS as FIELDS, judge_template};
use crate::strict_json::Unusable;

/// Parses the judge's text into an analysis, or says why it could not. The analysis must not
/// repeat the prompt's example text.
pub fn parse_analysis(text: &str) -> Result<Analysis, String> {
    read_analysis(text, &[]).map_err(|e| e.to_string())
}

/// Parses the judge's text into an analysis of the answers labelled `labels`, or says why it
/// cannot be used: not an analysis ([`Unusable::Malformed`]), or a copy of the prompt's form
/// ([`Unusable::Template`]) — it repeats the example's text, or it has contradictions, partial
/// coverage or unique insights and none of them names one of `labels` (not checked when
/// `labels` is empty). An analysis with nothing to report is valid.
pub fn read_analysis(text: &str, labels: &[&str]) -> Result<Analysis, Unusable> {
    let object = extract_object(text)?;
    if !FIELDS.iter().any(|f| object.contains_key(*f)) {
        return Err(Unusable::Malformed(format!(
            "the JSON object has none of the fields {}",
            FIELDS.join(", ")
        )));
    }
    judge_template().check(&object, "the analysis")?;
    let analysis = analysis_from(&object);
    cites_a_label(&analysis, labels)?;
    Ok(analysis)
}

/// An analysis with claims about particular responses must name at least one of them.
fn cites_a_label(analysis: &Analysis, labels: &[&str]) -> Result<(), Unusable> {
    let claims = analysis.contradictions.len()
        + analysis.partial_coverage.len()
        + analysis.unique_insights.len();
    if claims == 0 || labels.is_empty() {
        return Ok(());
    }
    let mut named = analysis
        .contradictions
        .iter()
        .flat_map(|c| c.stances.iter().map(|s| s.model.as_str()))
        .chain(
            analysis
                .partial_coverage
                .iter()
                .flat_map(|p| p.models.iter().map(String::as_str)),
        )
        .chain(analysis.unique_insights.iter().map(|u| u.model.as_str()));
    if named.any(|name| labels.iter().any(|label| names_label(name, label))) {
        return Ok(());
    }
    Err(Unusable::Template(format!(
        "the analysis's contradictions, partial_coverage and unique_insights cite none of the \
         responses' labels ({})",
        labels.join(", ")
    )))
}

/// The analysis fields of the judge's object, read leniently.
fn analysis_from(object: &Map<String, Value>) -> Analysis {
    Analysis {
        consensus: strings(object.get("consensus")),
        contradictions: list(object.get("contradictions"))
            .iter()
            .filter_map(contradiction)
            .collect(),
        partial_coverage: list(object.get("partial_coverage"))
            .iter()
            .filter_map(partial)
            .collect(),
        unique_insights: insights(object.get("unique_insights")),
        blind_spots: strings(object.get("blind_spots")),
        judge_notes: strings(object.get("judge_notes")),
    }
}

/// Finds and parses the first JSON object in `text`, repairing common damage.
pub fn extract_object(text: &str) -> Result<Map<String, Value>, String> {
    let start = text
        .find('{')
        .ok_or_else(|| "the reply contains no JSON object (no `{`)".to_owned())?;
    let candidate = balanced_object(&text[start..]);
    let mut first_error = None;
    for attempt in [candidate.to_owned(), repair(candidate)] {
        match serde_json::from_str::<Value>(&attempt) {
            Ok(Value::Object(map)) => return Ok(map),
            Ok(_) => return Err("the reply's JSON is not an object".into()),
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Err(format!(
        "invalid JSON: {}",
        first_error.unwrap_or_else(|| "unknown error".into())
    ))
}

/// The text from the first `{` to its matching `}` (or to the end, if it never closes).
fn balanced_object(text: &str) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}

/// Removes trailing commas, normalises typographic quotes, and closes what a cut-off reply
/// left open (an unterminated string, arrays and objects).
fn repair(text: &str) -> String {
    let text = text.replace(['\u{201c}', '\u{201d}'], "\"");
    let mut out = String::with_capacity(text.len() + 8);
    let mut closers = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => closers.push('}'),
            '[' => closers.push(']'),
            '}' | ']' => {
                trim_trailing_comma(&mut out);
                closers.pop();
            }
            _ => {}
        }
        out.push(c);
    }
    if in_string {
        out.push('"');
    }
    while let Some(closer) = closers.pop() {
        trim_trailing_comma(&mut out);
        out.push(closer);
    }
    out
}

fn trim_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end().len();
    if out[..trimmed].ends_with(',') {
        out.truncate(trimmed - 1);
    } else if out[..trimmed].ends_with(':') {
        // a cut after a key: give it a null value so the object still parses
        out.truncate(trimmed);
        out.push_str("null");
    }
}

fn list(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// Text of an item that should be a string but may be an object such as `{"point": ".."}`.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Object(map) => ["point", "text", "claim", "note", "description", "insight"]
            .iter()
            .find_map(|k| map.get(*k).and_then(text_of))
            .or_else(|| map.values().find_map(text_of)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    list(value).iter().filter_map(text_of).collect()
}

fn str_field(map: &Map<String, Value>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| map.get(*k).and_then(text_of))
        .unwrap_or_default()
}

fn contradiction(value: &Value) -> Option<Contradiction> {
    let map = value.as_object()?;
    let stances = match map.get("stances").or_else(|| map.get("positions")) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| {
                let s = s.as_object()?;
                Some(Stance {
                    model: str_field(s, &["model", "response", "label"]),
                    stance: str_field(s, &["stance", "position", "claim"]),
                })
            })
            .collect(),
        // {"Response A": "yes", "Response B": "no"}
        Some(Value::Object(by_model)) => by_model
            .iter()
            .map(|(model, stance)| Stance {
                model: model.trim().to_owned(),
                stance: text_of(stance).unwrap_or_default(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Contradiction {
        topic: str_field(map, &["topic", "point", "issue"]),
        stances,
    })
}

fn partial(value: &Value) -> Option<PartialCoverage> {
    let map = value.as_object()?;
    let models = strings(map.get("models").or_else(|| map.get("responses")));
    Some(PartialCoverage {
        models,
        point: str_field(map, &["point", "topic", "text"]),
    })
}

fn insights(value: Option<&Value>) -> Vec<UniqueInsight> {
    match value {
        // {"Response A": "insight", ...}
        Some(Value::Object(by_model)) => by_model
            .iter()
            .filter_map(|(model, v)| {
                Some(UniqueInsight {
                    model: model.trim().to_owned(),
                    insight: text_of(v)?,
                })
            })
            .collect(),
        other => list(other)
            .iter()
            .filter_map(|v| {
                let map = v.as_object()?;
                Some(UniqueInsight {
                    model: str_field(map, &["model", "response", "label"]),
                    insight: str_field(map, &["insight", "point", "text"]),
                })
            })
            .collect(),
    }
}

/// Whether `name`, as the judge wrote it ("Response A", "response a", "A"), is `label`.
fn names_label(name: &str, label: &str) -> bool {
    let key = name
        .trim()
        .trim_start_matches("Response")
        .trim_start_matches("response")
        .trim();
    label.eq_ignore_ascii_case(name.trim())
        || label
            .trim_start_matches("Response ")
            .eq_ignore_ascii_case(key)
}

/// Replaces anonymous labels ("Response A", "response a", "A") with member names.
pub fn unlabel(analysis: &mut Analysis, labels: &[(String, String)]) {
    let map = |name: &mut String| {
        if let Some((_, member)) = labels.iter().find(|(label, _)| names_label(name, label)) {
            *name = member.clone();
        }
    };
    for c in &mut analysis.contradictions {
        for s in &mut c.stances {
            map(&mut s.model);
        }
    }
    for p in &mut analysis.partial_coverage {
        for m in &mut p.models {
            map(m);
        }
    }
    for u in &mut analysis.unique_insights {
        map(&mut u.model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = r#"{"consensus":["Paris is the capital"],"contradictions":[{"topic":"population","stances":[{"model":"Response A","stance":"2.1M"},{"model":"Response B","stance":"11M"}]}],"partial_coverage":[{"models":["Response B"],"point":"metro area"}],"unique_insights":[{"model":"Response A","insight":"city proper"}],"blind_spots":["history"],"judge_notes":[]}"#;

    #[test]
    fn parses_clean_json() {
        let a = parse_analysis(CLEAN).unwrap();
        assert_eq!(a.consensus, vec!["Paris is the capital"]);
        assert_eq!(a.contradictions[0].stances[1].stance, "11M");
        assert_eq!(a.partial_coverage[0].models, vec!["Response B"]);
        assert_eq!(a.blind_spots, vec!["history"]);
    }

    #[test]
    fn survives_code_fences_and_prose_around_the_json() {
        let text =
            format!("Sure! Here is my analysis:\n```json\n{CLEAN}\n```\nHope this helps {{:)}}");
        assert_eq!(
            parse_analysis(&text).unwrap(),
            parse_analysis(CLEAN).unwrap()
        );
    }

    #[test]
    fn repairs_trailing_commas_and_a_cut_off_end() {
        let a = parse_analysis(r#"{"consensus": ["a", "b",], "blind_spots": ["c"],}"#).unwrap();
        assert_eq!(a.consensus, vec!["a", "b"]);
        let cut = parse_analysis(r#"{"consensus": ["a"], "judge_notes": ["cut off here"#).unwrap();
        assert_eq!(cut.judge_notes, vec!["cut off here"]);
        let after_key = parse_analysis(r#"{"consensus": ["a"], "blind_spots":"#).unwrap();
        assert_eq!(after_key.consensus, vec!["a"]);
    }

    #[test]
    fn reads_lenient_shapes() {
        let a = parse_analysis(
            r#"{"consensus":[{"point":"x"}],"unique_insights":{"Response A ":"y"},
               "contradictions":[{"topic":"t","stances":{"Response A":"yes"," Response B":"no"}}]}"#,
        )
        .unwrap();
        assert_eq!(a.consensus, vec!["x"]);
        assert_eq!(a.unique_insights[0].insight, "y");
        assert_eq!(a.contradictions[0].stances.len(), 2);
        // Labels written as keys are trimmed like every other field.
        assert_eq!(a.unique_insights[0].model, "Response A");
        let models: Vec<&str> = a.contradictions[0]
            .stances
            .iter()
            .map(|s| s.model.as_str())
            .collect();
        assert!(models.contains(&"Response B"), "{models:?}");
    }

    #[test]
    fn rejects_text_without_json_or_without_analysis_fields() {
        assert!(
            parse_analysis("I think they all agree.")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            parse_analysis(r#"{"answer": 42}"#)
                .unwrap_err()
                .contains("none of the fields")
        );
        assert!(parse_analysis("[1, 2]").is_err());
    }

    const LABELS: [&str; 3] = ["Response A", "Response B", "Response C"];

    /// The example object of the judge's prompt, as the prompt shows it.
    fn prompt_example() -> &'static str {
        let prompt = super::super::prompts::JUDGE_SYSTEM;
        let start = prompt.find('{').unwrap();
        let end = prompt.rfind('}').unwrap();
        &prompt[start..=end]
    }

    fn template_error(text: &str, labels: &[&str]) -> String {
        match read_analysis(text, labels) {
            Err(Unusable::Template(why)) => why,
            other => panic!("expected a copy of the form, got {other:?}"),
        }
    }

    #[test]
    fn the_prompts_own_example_returned_as_is_is_not_an_analysis() {
        let why = template_error(prompt_example(), &LABELS);
        assert!(
            why.starts_with("the analysis repeats the prompt's example text (consensus[0], "),
            "{why}"
        );
        assert!(
            parse_analysis(prompt_example()).is_err(),
            "also without labels"
        );
    }

    #[test]
    fn one_echoed_field_among_real_ones_is_not_an_analysis() {
        // What SmolLM2 wrote: the example's consensus and topic, around real labels.
        let text = r#"{"consensus": ["a claim every or nearly every response makes"],
            "contradictions": [{"topic": "What they disagree on.", "stances": [
                {"model": "Response A", "stance": "2.1 million"}]}],
            "partial_coverage": [], "unique_insights": [], "blind_spots": [], "judge_notes": []}"#;
        let why = template_error(text, &LABELS);
        assert!(
            why.contains("(consensus[0], contradictions[0].topic)"),
            "{why}"
        );
    }

    #[test]
    fn claims_about_responses_that_cite_no_label_are_not_an_analysis() {
        let text = r#"{"consensus": ["Paris"], "contradictions": [{"topic": "population",
            "stances": [{"model": "the first one", "stance": "2.1M"}]}],
            "unique_insights": [{"model": "", "insight": "metro area"}]}"#;
        let why = template_error(text, &LABELS);
        assert!(why.contains("cite none of the responses' labels"), "{why}");
        assert!(why.contains("Response A, Response B, Response C"), "{why}");
        // One label cited anywhere is enough; the rest is the judge's business.
        let one = text.replace("the first one", "response b");
        assert!(read_analysis(&one, &LABELS).is_ok());
    }

    #[test]
    fn real_analyses_short_claims_and_empty_ones_are_accepted() {
        assert_eq!(
            read_analysis(CLEAN, &LABELS).unwrap(),
            parse_analysis(CLEAN).unwrap()
        );
        for short in [
            r#"{"consensus": ["Paris is the capital of France"]}"#,
            r#"{"consensus": ["Yes"], "blind_spots": ["its history"]}"#,
            r#"{"consensus": [], "contradictions": [], "partial_coverage": [],
                "unique_insights": [], "blind_spots": [], "judge_notes": []}"#,
            r#"{"unique_insights": {"B": "the metro area is 11M"}}"#,
        ] {
            let result = read_analysis(short, &LABELS);
            assert!(result.is_ok(), "{short}: {result:?}");
        }
    }

    #[test]
    fn malformed_output_stays_malformed() {
        assert!(matches!(
            read_analysis("no json", &LABELS),
            Err(Unusable::Malformed(_))
        ));
        assert!(matches!(
            read_analysis(r#"{"answer": 42}"#, &LABELS),
            Err(Unusable::Malformed(_))
        ));
    }

    #[test]
    fn unlabel_maps_labels_back_to_members() {
        let mut a = parse_analysis(CLEAN).unwrap();
        a.unique_insights.push(UniqueInsight {
            model: "b".into(),
            insight: "short label".into(),
        });
        let labels = vec![
            ("Response A".to_owned(), "qwen".to_owned()),
            ("Response B".to_owned(), "llama".to_owned()),
        ];
        unlabel(&mut a, &labels);
        assert_eq!(a.contradictions[0].stances[0].model, "qwen");
        assert_eq!(a.contradictions[0].stances[1].model, "llama");
        assert_eq!(a.partial_coverage[0].models, vec!["llama"]);
        assert_eq!(a.unique_insights[0].model, "qwen");
        assert_eq!(a.unique_insights[1].model, "llama");
    }
}
