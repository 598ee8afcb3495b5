//! The council's fallback when no judge analysis is usable: a word-overlap comparison of the
//! panel's answers (consensus, partial coverage, unique insights), and the choice of the most
//! representative answer when the synthesizer fails.

use std::collections::HashSet;

use fusion_types::{Analysis, MemberResponse, PartialCoverage, UniqueInsight};

/// Sentences whose word sets overlap at least this much (Jaccard) say the same thing.
const SAME_POINT: f64 = 0.5;
const MAX_ITEMS: usize = 8;

struct Sentence {
    text: String,
    words: HashSet<String>,
}

/// A heuristic analysis of the answers, with a judge note saying it is one.
pub fn analyse(responses: &[MemberResponse], why: &str) -> Analysis {
    let sentences: Vec<Vec<Sentence>> = responses.iter().map(|r| sentences(&r.content)).collect();
    let n = responses.len();
    let majority = n / 2 + 1;
    let mut analysis = Analysis {
        judge_notes: vec![format!(
            "heuristic analysis by word overlap ({why}); contradictions and blind spots are not detected"
        )],
        ..Analysis::default()
    };
    let mut seen: Vec<&Sentence> = Vec::new();
    for (i, own) in sentences.iter().enumerate() {
        let mut unique = Vec::new();
        for s in own {
            if seen
                .iter()
                .any(|t| jaccard(&s.words, &t.words) >= SAME_POINT)
            {
                continue;
            }
            let holders: Vec<usize> = (0..n)
                .filter(|&j| {
                    j == i
                        || sentences[j]
                            .iter()
                            .any(|t| jaccard(&s.words, &t.words) >= SAME_POINT)
                })
                .collect();
            seen.push(s);
            if n >= 2 && holders.len() >= majority.max(2) {
                analysis.consensus.push(s.text.clone());
            } else if holders.len() >= 2 {
                analysis.partial_coverage.push(PartialCoverage {
                    models: holders
                        .iter()
                        .map(|&j| responses[j].model.clone())
                        .collect(),
                    point: s.text.clone(),
                });
            } else if n >= 2 {
                unique.push(s);
            }
        }
        unique.sort_by_key(|s| std::cmp::Reverse(s.words.len()));
        analysis
            .unique_insights
            .extend(unique.into_iter().take(2).map(|s| UniqueInsight {
                model: responses[i].model.clone(),
                insight: s.text.clone(),
            }));
    }
    analysis.consensus.truncate(MAX_ITEMS);
    analysis.partial_coverage.truncate(MAX_ITEMS);
    analysis
}

/// The index of the answer closest to all the others (ties go to the longer answer).
pub fn best_answer(responses: &[MemberResponse]) -> Option<usize> {
    let bags: Vec<HashSet<String>> = responses.iter().map(|r| words(&r.content)).collect();
    (0..responses.len()).max_by(|&a, &b| {
        let score = |i: usize| -> f64 {
            bags.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, other)| jaccard(&bags[i], other))
                .sum()
        };
        score(a)
            .total_cmp(&score(b))
            .then(responses[a].content.len().cmp(&responses[b].content.len()))
            .then(b.cmp(&a))
    })
}

fn sentences(text: &str) -> Vec<Sentence> {
    text.split(['.', '!', '?', '\n'])
        .map(|s| {
            s.trim()
                .trim_start_matches(['-', '*', '#', '>', ' '])
                .trim()
        })
        .filter_map(|s| {
            let words = words(s);
            (words.len() >= 3).then(|| Sentence {
                text: s.to_owned(),
                words,
            })
        })
        .collect()
}

fn words(text: &str) -> HashSet<String> {
    const STOP: [&str; 24] = [
        "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "has", "have", "was",
        "were", "this", "that", "with", "from", "they", "will", "its", "into", "than", "then",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    shared / (a.len() as f64 + b.len() as f64 - shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusion_types::Usage;

    fn response(model: &str, content: &str) -> MemberResponse {
        MemberResponse {
            model: model.into(),
            content: content.into(),
            latency_ms: 1,
            usage: Usage::default(),
        }
    }

    #[test]
    fn shared_sentences_become_consensus_and_lone_ones_unique_insights() {
        let rs = [
            response(
                "a",
                "Paris is the capital of France. The Seine flows through the city centre.",
            ),
            response(
                "b",
                "The capital of France is Paris. Croissants were popularised in Vienna first.",
            ),
            response("c", "Paris is the capital city of France."),
        ];
        let a = analyse(&rs, "test");
        assert_eq!(a.consensus.len(), 1, "{a:?}");
        assert!(a.consensus[0].contains("Paris"));
        let models: Vec<_> = a.unique_insights.iter().map(|u| u.model.as_str()).collect();
        assert_eq!(models, vec!["a", "b"], "{a:?}");
        assert!(a.judge_notes[0].contains("heuristic"));
    }

    #[test]
    fn best_answer_is_the_most_central_one() {
        let rs = [
            response("outlier", "Bananas are yellow fruit grown in the tropics."),
            response(
                "central",
                "Paris is the capital of France and its largest city.",
            ),
            response("close", "Paris is the capital of France."),
        ];
        assert_eq!(best_answer(&rs), Some(1));
        assert_eq!(best_answer(&rs[..1]), Some(0));
        assert_eq!(best_answer(&[]), None);
    }
}
