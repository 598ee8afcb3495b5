//! The `exact` validator: the answer's final answer — after the last `answer:` marker, else
//! its last non-empty line — equal to an accepted answer once both are normalised (case folded,
//! punctuation and runs of whitespace made one space, lead-ins such as "the answer is"
//! dropped). An accepted answer that is a number is compared numerically: `1,234.50`,
//! `$1234.5`, `12.5%`, `−3`, `1e3` and `3/4` are numbers, within the task's tolerance.

use serde_json::json;

use super::Verdict;

/// Lead-ins dropped from a normalised final answer.
const LEAD_INS: [&str; 6] = [
    "the final answer is ",
    "final answer ",
    "the answer is ",
    "answer is ",
    "answer ",
    "result ",
];

/// Scores `answer` against `accepted`: 1 when it matches one of them, else 0.
pub fn check(accepted: &[String], tolerance: Option<f64>, answer: &str) -> Verdict {
    let candidates = candidates(answer);
    for expected in accepted {
        if let Some(target) = number(expected) {
            let tolerance = tolerance.unwrap_or(1e-6 * target.abs().max(1.0));
            let got = candidates.iter().find_map(|c| {
                let value = if c.from_marker {
                    first_number(&c.text)
                } else {
                    last_number(&c.text)
                };
                value.filter(|v| (v - target).abs() <= tolerance)
            });
            if let Some(got) = got {
                return verdict(true, accepted, &candidates, Some(got));
            }
        } else {
            let want = normalise(expected);
            if candidates.iter().any(|c| normalise(&c.text) == want) {
                return verdict(true, accepted, &candidates, None);
            }
        }
    }
    verdict(false, accepted, &candidates, None)
}

fn verdict(
    passed: bool,
    accepted: &[String],
    candidates: &[Candidate],
    number: Option<f64>,
) -> Verdict {
    let got = candidates.first().map(|c| c.text.as_str()).unwrap_or("");
    let mut detail = json!({
        "expected": accepted,
        "got": super::cut_to(got, 200),
    });
    if let (Some(n), Some(map)) = (number, detail.as_object_mut()) {
        map.insert("number".into(), json!(n));
    }
    Verdict::new(if passed { 1.0 } else { 0.0 }, passed, detail)
}

/// A stretch of the answer that may be its final answer.
struct Candidate {
    text: String,
    /// It follows an `answer:` marker (its first number is the answer; elsewhere the last).
    from_marker: bool,
}

fn candidates(answer: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    if let Some(rest) = after_last_marker(answer) {
        let line = rest.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        found.push(Candidate {
            text: line.trim().to_owned(),
            from_marker: true,
        });
    }
    if let Some(last) = answer.lines().rev().find(|l| !l.trim().is_empty()) {
        found.push(Candidate {
            text: last.trim().to_owned(),
            from_marker: false,
        });
    }
    found
}

/// What follows the last `answer:` or `answer is` (any case).
fn after_last_marker(answer: &str) -> Option<&str> {
    let bytes = answer.as_bytes();
    let mut end = None;
    for marker in ["answer:", "answer is"] {
        let len = marker.len();
        let last = (0..bytes.len().saturating_sub(len - 1))
            .rev()
            .find(|&i| bytes[i..i + len].eq_ignore_ascii_case(marker.as_bytes()));
        if let Some(i) = last {
            end = end.max(Some(i + len));
        }
    }
    // The marker is ASCII: its end is a character boundary.
    end.map(|end| &answer[end..])
}

/// Lower-case words separated by single spaces; punctuation is a separator; lead-ins dropped.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    }
    let mut out = out.trim_end().to_owned();
    for lead in LEAD_INS {
        if let Some(rest) = out.strip_prefix(lead) {
            out = rest.to_owned();
        }
    }
    out
}

/// `text` as one number (formatting such as `$`, `%` and thousands separators allowed).
pub fn number(text: &str) -> Option<f64> {
    let chars: Vec<char> = text.chars().collect();
    let found = numbers(text);
    let [(value, start, end)] = found.as_slice() else {
        return None;
    };
    let formatting = |c: &char| c.is_whitespace() || "$€£¥%+".contains(*c);
    (chars[..*start].iter().all(formatting) && chars[*end..].iter().all(formatting))
        .then_some(*value)
}

fn first_number(text: &str) -> Option<f64> {
    numbers(text).first().map(|(v, _, _)| *v)
}

fn last_number(text: &str) -> Option<f64> {
    numbers(text).last().map(|(v, _, _)| *v)
}

/// Every number in `text` with where it is written (character indices, its sign included), in
/// order. Thousands separators, decimals, exponents and fractions (`3/4`) are read; digits
/// inside a word (`x2`) are not numbers.
fn numbers(text: &str) -> Vec<(f64, usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if i > 0 && chars[i - 1].is_alphabetic() {
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        let negative = i > 0
            && matches!(chars[i - 1], '-' | '−')
            && (i < 2 || !chars[i - 2].is_alphanumeric());
        let start = if negative { i - 1 } else { i };
        let mut digits = String::new();
        while i < chars.len() {
            let c = chars[i];
            let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                digits.push(c);
            } else if c == ',' && next_digit && thousands_group(&chars, i) && !digits.contains('.')
            {
                // A thousands separator: skipped.
            } else if c == '.' && next_digit && !digits.contains(['.', 'e']) {
                digits.push('.');
            } else if matches!(c, 'e' | 'E') && !digits.contains('e') && exponent_follows(&chars, i)
            {
                digits.push('e');
                if matches!(chars[i + 1], '+' | '-') {
                    digits.push(chars[i + 1]);
                    i += 1;
                }
            } else {
                break;
            }
            i += 1;
        }
        let Ok(mut value) = digits.parse::<f64>() else {
            continue;
        };
        // A fraction `3/4`.
        if chars.get(i) == Some(&'/')
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            && !digits.contains(['.', 'e'])
        {
            let mut j = i + 1;
            let mut denominator = String::new();
            while j < chars.len() && chars[j].is_ascii_digit() {
                denominator.push(chars[j]);
                j += 1;
            }
            if let Ok(d) = denominator.parse::<f64>()
                && d != 0.0
            {
                value /= d;
                i = j;
            }
        }
        found.push((if negative { -value } else { value }, start, i));
    }
    found
}

/// The comma at `at` is followed by exactly three digits (then no further digit).
fn thousands_group(chars: &[char], at: usize) -> bool {
    (1..=3).all(|k| chars.get(at + k).is_some_and(char::is_ascii_digit))
        && !chars.get(at + 4).is_some_and(char::is_ascii_digit)
}

fn exponent_follows(chars: &[char], at: usize) -> bool {
    match chars.get(at + 1) {
        Some('+' | '-') => chars.get(at + 2).is_some_and(char::is_ascii_digit),
        Some(c) => c.is_ascii_digit(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(accepted: &[&str], answer: &str) -> bool {
        let accepted: Vec<String> = accepted.iter().map(|s| (*s).to_owned()).collect();
        check(&accepted, None, answer).passed
    }

    #[test]
    fn text_answers_match_after_normalising_case_punctuation_and_lead_ins() {
        assert!(passes(&["Paris"], "  paris. "));
        assert!(passes(
            &["New York"],
            "Reasoning...\nAnswer: **new   york**"
        ));
        assert!(passes(&["blue whale"], "The answer is: Blue Whale!"));
        assert!(passes(&["no", "false"], "Let me think.\nFalse"));
        assert!(!passes(&["Paris"], "Lyon"));
        assert!(!passes(&["Paris"], "Not Paris but Lyon"));
    }

    #[test]
    fn numbers_compare_numerically_whatever_their_formatting() {
        assert!(passes(&["1234.5"], "Answer: $1,234.50"));
        assert!(passes(&["12.5"], "So the rate is 12.5%."));
        assert!(passes(&["-3"], "The result is −3"));
        assert!(passes(&["1000"], "answer: 1e3"));
        assert!(passes(&["0.75"], "Answer: 3/4"));
        assert!(
            passes(&["42"], "6 * 7 = 42"),
            "the last number of the last line"
        );
        assert!(
            passes(&["42"], "Answer: 42 apples (6 boxes of 7)"),
            "the first after the marker"
        );
        assert!(!passes(&["42"], "Answer: 41"));
        assert!(
            !passes(&["1234"], "Answer: 1,23,4"),
            "not a thousands grouping"
        );
        let tolerant = check(&["3.14".to_owned()], Some(0.01), "pi is about 3.1416");
        assert!(tolerant.passed);
        let strict = check(&["3.14".to_owned()], None, "pi is about 3.1416");
        assert!(!strict.passed);
    }

    #[test]
    fn a_number_is_recognised_with_its_formatting_only() {
        assert_eq!(number("1,234"), Some(1234.0));
        assert_eq!(number("$5"), Some(5.0));
        assert_eq!(number("-2.5"), Some(-2.5));
        assert_eq!(number("12 apples"), None);
        assert_eq!(number("v2"), None);
        assert_eq!(number("about 5"), None);
    }
}
