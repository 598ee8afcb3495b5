//! Finding answers that copy the prompt's form: a model shown an example object whose values
//! describe what belongs there ("a claim every or nearly every response makes") and that writes
//! those descriptions back has answered nothing. A [`Template`] is read from the prompt's own
//! example, so a prompt edit cannot leave the detector behind.

use serde_json::{Map, Value};

use super::Unusable;

/// A value within this many edits per hundred characters of a placeholder (similarity 0.9 or
/// more) is a near-copy of it.
const NEAR_COPY_EDITS_PER_100: usize = 10;
/// String values of an answer looked at, at most; an echo shows in the first ones.
const MAX_VALUES: usize = 512;
/// Fields named in a rejection, at most.
const MAX_NAMED: usize = 4;

/// The placeholder text of a prompt's example JSON object.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Each placeholder, normalised (see [`normalise`]).
    placeholders: Vec<Vec<char>>,
    /// The longest placeholder, in characters: longer answer values cannot be near-copies.
    longest: usize,
    /// The example's top-level keys in the order the prompt shows them, to name echoes in.
    key_order: Vec<String>,
}

impl Template {
    /// The string values of the first JSON object in `prompt` (its example). Values under
    /// `label_keys` are left out: they are labels (`"Response A"`) a real answer repeats on
    /// purpose. A prompt without an example gives an empty template, which finds nothing.
    pub fn from_prompt(prompt: &str, label_keys: &[&str]) -> Template {
        let Ok(example) = crate::council::extract_object(prompt) else {
            return Template::default();
        };
        let mut key_order: Vec<String> = example.keys().cloned().collect();
        key_order.sort_by_key(|key| prompt.find(&format!("\"{key}\"")));
        Template {
            key_order,
            ..Template::from_example(&example, label_keys)
        }
    }

    /// The string values of `example`, except those under `label_keys`.
    pub fn from_example(example: &Map<String, Value>, label_keys: &[&str]) -> Template {
        let mut placeholders: Vec<Vec<char>> = Vec::new();
        let mut budget = MAX_VALUES;
        walk_entries(
            example,
            &mut String::new(),
            label_keys,
            &mut budget,
            &mut |_, text| {
                let text = normalise(text);
                if !text.is_empty() && !placeholders.contains(&text) {
                    placeholders.push(text);
                }
            },
        );
        let longest = placeholders.iter().map(Vec::len).max().unwrap_or(0);
        Template {
            placeholders,
            longest,
            key_order: Vec::new(),
        }
    }

    /// How many distinct placeholders the example has.
    pub fn len(&self) -> usize {
        self.placeholders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.placeholders.is_empty()
    }

    /// The paths (`consensus[0]`, `contradictions[0].topic`) of the string values of `answer`
    /// that repeat a placeholder, exactly or nearly, after case, whitespace and punctuation
    /// are set aside; in the order of the prompt's keys when it was read from a prompt.
    pub fn echoes(&self, answer: &Map<String, Value>) -> Vec<String> {
        let mut found = Vec::new();
        if self.is_empty() {
            return found;
        }
        // Punctuation drops out when normalising, so a raw value may be somewhat longer.
        let max_raw = self.longest * 4 + 64;
        let mut budget = MAX_VALUES;
        walk_entries(
            answer,
            &mut String::new(),
            &[],
            &mut budget,
            &mut |path, text| {
                if text.len() > max_raw {
                    return;
                }
                let text = normalise(text);
                if !text.is_empty() && self.placeholders.iter().any(|p| near_copy(&text, p)) {
                    found.push(path.to_owned());
                }
            },
        );
        found.sort_by_key(|path| {
            let key = path.split(['.', '[']).next().unwrap_or_default();
            self.key_order
                .iter()
                .position(|k| k == key)
                .unwrap_or(usize::MAX)
        });
        found
    }

    /// `Ok` when `answer` repeats no placeholder; otherwise why it is unusable, naming the
    /// fields: "the analysis repeats the prompt's example text (consensus[0], …)".
    pub fn check(&self, answer: &Map<String, Value>, subject: &str) -> Result<(), Unusable> {
        let echoes = self.echoes(answer);
        if echoes.is_empty() {
            return Ok(());
        }
        let mut fields = echoes[..echoes.len().min(MAX_NAMED)].join(", ");
        if echoes.len() > MAX_NAMED {
            fields.push_str(&format!(" and {} more", echoes.len() - MAX_NAMED));
        }
        Err(Unusable::Template(format!(
            "{subject} repeats the prompt's example text ({fields})"
        )))
    }
}

/// Calls `visit` with the path and text of each string value, depth first, skipping values
/// under `skip_keys`, until `budget` values have been visited.
fn walk(
    value: &Value,
    path: &mut String,
    skip_keys: &[&str],
    budget: &mut usize,
    visit: &mut impl FnMut(&str, &str),
) {
    match value {
        Value::String(text) if *budget > 0 => {
            *budget -= 1;
            visit(path, text);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, skip_keys, budget, visit);
                path.truncate(len);
            }
        }
        Value::Object(map) => walk_entries(map, path, skip_keys, budget, visit),
        _ => {}
    }
}

/// [`walk`] over the entries of an object.
fn walk_entries(
    map: &Map<String, Value>,
    path: &mut String,
    skip_keys: &[&str],
    budget: &mut usize,
    visit: &mut impl FnMut(&str, &str),
) {
    for (key, item) in map {
        if skip_keys.contains(&key.as_str()) {
            continue;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        walk(item, path, skip_keys, budget, visit);
        path.truncate(len);
    }
}

/// Lowercase letters and digits, every run of anything else one space, trimmed.
fn normalise(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if out.last().is_some_and(|last| *last != ' ') {
            out.push(' ');
        }
    }
    if out.last() == Some(&' ') {
        out.pop();
    }
    out
}

/// Whether `a` is `b` or within the near-copy edit budget of it.
fn near_copy(a: &[char], b: &[char]) -> bool {
    if a == b {
        return true;
    }
    let edits = a.len().max(b.len()) * NEAR_COPY_EDITS_PER_100 / 100;
    edits > 0 && a.len().abs_diff(b.len()) <= edits && within_edits(a, b, edits)
}

/// Whether the edit (Levenshtein) distance of `a` and `b` is at most `k`, computing only the
/// band of width `2k + 1` around the diagonal.
fn within_edits(a: &[char], b: &[char], k: usize) -> bool {
    let (n, m) = (a.len(), b.len());
    let over = k + 1;
    let mut prev: Vec<usize> = (0..=m).map(|j| j.min(over)).collect();
    let mut cur = vec![over; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(k).max(1);
        let hi = (i + k).min(m);
        cur[lo - 1] = if lo == 1 { i.min(over) } else { over };
        let mut row_min = cur[lo - 1];
        for j in lo..=hi {
            let substitute = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let value = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(over);
            cur[j] = value;
            row_min = row_min.min(value);
        }
        if hi < m {
            cur[hi + 1] = over;
        }
        if row_min > k {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m] <= k
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An example whose keys are not in alphabetical order.
    const PROMPT: &str = "Reply with this object:\n{\"who\": [{\"model\": \"Response A\", \
        \"stance\": \"its position\"}], \"claims\": [\"a claim every response makes\"], \"n\": 0.0}\n\
        Thanks.";

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn template() -> Template {
        Template::from_prompt(PROMPT, &["model"])
    }

    #[test]
    fn placeholders_are_the_examples_string_values_without_its_labels() {
        let t = template();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.echoes(&obj(
                json!({"who": [{"model": "Response A", "stance": "yes"}]})
            )),
            Vec::<String>::new(),
            "a real answer names labels"
        );
        assert!(Template::from_prompt("no example here", &[]).is_empty());
    }

    #[test]
    fn an_echo_is_found_after_case_whitespace_and_punctuation_are_set_aside() {
        let answer = json!({
            "claims": ["real claim", "  A claim, every RESPONSE makes!  "],
            "who": [{"model": "Response B", "stance": "**its position**"}]
        });
        assert_eq!(
            template().echoes(&obj(answer)),
            vec!["who[0].stance", "claims[1]"],
            "named in the order of the prompt's keys"
        );
    }

    #[test]
    fn a_near_copy_is_an_echo_and_a_different_claim_is_not() {
        let t = template();
        assert_eq!(
            t.echoes(&obj(json!({"claims": ["a claim every responses make"]}))),
            vec!["claims[0]"]
        );
        for real in [
            "Paris is the capital of France",
            "a claim every reviewer disputes strongly",
            "its",
            "position",
        ] {
            assert!(
                t.echoes(&obj(json!({"claims": [real]}))).is_empty(),
                "{real}"
            );
        }
    }

    #[test]
    fn a_rejection_names_the_echoed_fields_and_counts_the_rest() {
        let t = template();
        let answer = json!({"claims": vec!["a claim every response makes"; 6]});
        let Err(Unusable::Template(why)) = t.check(&obj(answer), "the answer") else {
            panic!("an echo passed");
        };
        assert_eq!(
            why,
            "the answer repeats the prompt's example text (claims[0], claims[1], claims[2], \
             claims[3] and 2 more)"
        );
        assert_eq!(t.check(&obj(json!({"claims": []})), "the answer"), Ok(()));
    }

    #[test]
    fn long_values_and_many_values_are_bounded() {
        let t = template();
        let long = "a claim every response makes ".repeat(1000);
        assert!(t.echoes(&obj(json!({"claims": [long]}))).is_empty());
        let mut many = vec![json!("filler"); MAX_VALUES];
        many.push(json!("a claim every response makes"));
        assert!(
            t.echoes(&obj(json!({"claims": many}))).is_empty(),
            "values past the bound are not looked at"
        );
    }

    #[test]
    fn edit_distance_is_exact_within_the_band() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(within_edits(&chars("kitten"), &chars("sitting"), 3));
        assert!(!within_edits(&chars("kitten"), &chars("sitting"), 2));
        assert!(within_edits(&chars(""), &chars("ab"), 2));
        assert!(within_edits(&chars("flaw"), &chars("lawn"), 2));
        assert!(!within_edits(&chars("flaw"), &chars("lawn"), 1));
    }
}
