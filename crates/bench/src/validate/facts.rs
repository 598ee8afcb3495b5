//! The `facts` validator: the fraction of a task's required facts the answer states. A fact is
//! a keyword (matched as whole words, any case, any whitespace between its words) or a list of
//! regular-expression alternatives (any case); the answer passes at the task's threshold. An
//! answer longer than the task's `max_words` fails, and its score falls linearly to nothing at
//! one and a half times the limit: a summary much longer than asked (or the text itself
//! echoed back) is not the summary asked for.

use regex::{Regex, RegexBuilder};
use serde_json::json;

use super::Verdict;
use crate::suite::{Fact, FactMatcher};

/// Compiled size limit of one pattern (bounds memory and time of hostile patterns).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A fact's pattern, compiled as the validator uses it (case-insensitive, size-bounded).
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
}

/// A keyword as a pattern: its words in order, whole words where it starts or ends with one.
fn keyword_pattern(keyword: &str) -> String {
    let words: Vec<String> = keyword.split_whitespace().map(regex::escape).collect();
    let mut pattern = words.join(r"\s+");
    if keyword.chars().next().is_some_and(char::is_alphanumeric) {
        pattern.insert_str(0, r"\b");
    }
    if keyword.chars().last().is_some_and(char::is_alphanumeric) {
        pattern.push_str(r"\b");
    }
    pattern
}

fn present(fact: &Fact, answer: &str) -> bool {
    match &fact.matcher {
        FactMatcher::Keyword(keyword) => {
            compile(&keyword_pattern(keyword)).is_ok_and(|re| re.is_match(answer))
        }
        FactMatcher::Patterns(any) => any
            .iter()
            .any(|p| compile(p).is_ok_and(|re| re.is_match(answer))),
    }
}

/// Scores `answer`: the fraction of `facts` present, less for every word over `max_words`;
/// passes at `threshold` and within `max_words`.
pub fn check(facts: &[Fact], threshold: f64, max_words: Option<u32>, answer: &str) -> Verdict {
    let (found, missing): (Vec<&Fact>, Vec<&Fact>) =
        facts.iter().partition(|fact| present(fact, answer));
    let fraction = if facts.is_empty() {
        0.0
    } else {
        found.len() as f64 / facts.len() as f64
    };
    let words = answer.split_whitespace().count();
    let too_long = max_words.is_some_and(|max| words > max as usize);
    let score = match max_words {
        Some(max) if too_long => {
            let over = (words - max as usize) as f64;
            fraction * (1.0 - over / (0.5 * f64::from(max))).max(0.0)
        }
        _ => fraction,
    };
    let names = |facts: &[&Fact]| facts.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    let mut detail = json!({
        "found": names(&found),
        "missing": names(&missing),
        "threshold": threshold,
        "words": words,
    });
    if too_long && let Some(map) = detail.as_object_mut() {
        map.insert("too_long".into(), json!(max_words));
    }
    Verdict::new(score, fraction >= threshold && !too_long, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyword(k: &str) -> Fact {
        Fact {
            name: k.into(),
            matcher: FactMatcher::Keyword(k.into()),
        }
    }

    fn patterns(name: &str, any: &[&str]) -> Fact {
        Fact {
            name: name.into(),
            matcher: FactMatcher::Patterns(any.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn the_score_is_the_fraction_of_facts_present_and_passes_at_the_threshold() {
        let facts = [
            keyword("Eiffel Tower"),
            keyword("1889"),
            patterns("height", &[r"\b330\s*m", r"\b1,?083\s*(ft|feet)"]),
            keyword("iron"),
        ];
        let all = "The eiffel\ntower, finished in 1889, is made of iron and stands 1083 feet.";
        let verdict = check(&facts, 0.75, None, all);
        assert_eq!((verdict.score, verdict.passed), (1.0, true));
        let some = "Built in 1889 from iron.";
        let verdict = check(&facts, 0.75, None, some);
        assert_eq!((verdict.score, verdict.passed), (0.5, false));
        assert_eq!(verdict.detail["missing"][0], "Eiffel Tower");
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let facts = [keyword("cat")];
        assert_eq!(check(&facts, 1.0, None, "concatenate").score, 0.0);
        assert_eq!(check(&facts, 1.0, None, "the Cat sat").score, 1.0);
        let symbols = [keyword("C++")];
        assert_eq!(check(&symbols, 1.0, None, "written in C++.").score, 1.0);
    }

    #[test]
    fn an_answer_over_the_word_limit_fails_and_scores_less_the_longer_it_is() {
        let facts = [keyword("rain")];
        let within = check(&facts, 1.0, Some(4), "rain expected later today");
        assert_eq!((within.score, within.passed), (1.0, true));
        let over = check(&facts, 1.0, Some(4), "rain is expected later today");
        assert_eq!((over.score, over.passed), (0.5, false));
        assert_eq!(over.detail["too_long"], 4);
        let echoed = check(&facts, 1.0, Some(4), "rain is expected later on today");
        assert_eq!(echoed.score, 0.0, "half as long again as the limit");
    }
}
