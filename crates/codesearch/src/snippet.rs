//! Snippets: the few lines of a matching chunk that hold the most distinct query terms, with
//! the ranges of the matched words marked (character offsets), found by running the same
//! tokenizer over each line — so `parse_config` is marked for the query `parseConfig`.

use std::collections::HashSet;

use serde::Serialize;

use crate::tokenizer::for_each_token;

/// Lines in a snippet.
pub const SNIPPET_LINES: usize = 5;
/// Longest line shown, in characters; longer ones are cut around their first match.
const MAX_LINE_CHARS: usize = 240;

/// One line of a snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnippetLine {
    /// 1-based line number in the file.
    pub line: u32,
    pub text: String,
    /// Matched words, as character (Unicode scalar) offsets into `text`, end exclusive, in
    /// order and not overlapping.
    pub matches: Vec<MatchRange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatchRange {
    pub start: usize,
    pub end: usize,
}

struct Line<'a> {
    text: &'a str,
    /// Byte ranges of matched tokens, merged.
    ranges: Vec<(usize, usize)>,
    terms: HashSet<&'a str>,
}

/// The best window of `SNIPPET_LINES` lines of `content` (whose first line is `first_line`):
/// the one with the most distinct query terms, the earliest among equals; the chunk's first
/// lines when no line matches (a match on the path only).
pub fn snippet(content: &str, first_line: u32, terms: &HashSet<String>) -> Vec<SnippetLine> {
    let lines: Vec<Line<'_>> = content
        .split('\n')
        .map(|text| {
            let text = text.strip_suffix('\r').unwrap_or(text);
            let mut ranges = Vec::new();
            let mut matched = HashSet::new();
            for_each_token(text, |token, from, to| {
                if let Some(term) = terms.get(token) {
                    ranges.push((from, to));
                    matched.insert(term.as_str());
                }
            });
            Line {
                text,
                ranges: merge(ranges),
                terms: matched,
            }
        })
        .collect();
    let window = SNIPPET_LINES.min(lines.len()).max(1);
    let mut best = (0usize, 0usize);
    for start in 0..=lines.len().saturating_sub(window) {
        let distinct: HashSet<&str> = lines[start..start + window]
            .iter()
            .flat_map(|l| l.terms.iter().copied())
            .collect();
        if distinct.len() > best.1 {
            best = (start, distinct.len());
        }
    }
    // Start the window on its first matching line, so the match is not buried under context.
    let mut start = best.0;
    while start < lines.len() && lines[start].ranges.is_empty() && best.1 > 0 {
        start += 1;
    }
    let start = start
        .saturating_sub(1)
        .max(best.0)
        .min(lines.len().saturating_sub(window));
    lines
        .iter()
        .enumerate()
        .skip(start)
        .take(window)
        .map(|(i, line)| {
            let number = first_line.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            render(number, line)
        })
        .collect()
}

/// Sorted, overlapping or touching ranges joined.
fn merge(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// A line with its byte ranges turned into character ranges, cut to `MAX_LINE_CHARS`.
fn render(number: u32, line: &Line<'_>) -> SnippetLine {
    let chars = line.text.chars().count();
    let (cut_from, cut_to) = if chars <= MAX_LINE_CHARS {
        (0, line.text.len())
    } else {
        let first = line.ranges.first().map_or(0, |&(from, _)| from);
        let first_char = line.text[..first].chars().count();
        let start_char = first_char.saturating_sub(MAX_LINE_CHARS / 4);
        let from = byte_of_char(line.text, start_char);
        let to = byte_of_char(line.text, start_char + MAX_LINE_CHARS);
        (from, to)
    };
    let text = &line.text[cut_from..cut_to];
    let matches = line
        .ranges
        .iter()
        .filter(|&&(from, to)| from >= cut_from && to <= cut_to)
        .map(|&(from, to)| MatchRange {
            start: text[..from - cut_from].chars().count(),
            end: text[..to - cut_from].chars().count(),
        })
        .collect();
    SnippetLine {
        line: number,
        text: text.to_owned(),
        matches,
    }
}

fn byte_of_char(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &[&str]) -> HashSet<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    fn marked(line: &SnippetLine) -> Vec<String> {
        let chars: Vec<char> = line.text.chars().collect();
        line.matches
            .iter()
            .map(|m| chars[m.start..m.end].iter().collect())
            .collect()
    }

    #[test]
    fn the_window_with_most_distinct_terms_is_chosen_and_words_are_marked() {
        let content = (1..=20)
            .map(|i| match i {
                12 => "fn parse_config(path: &str) -> Config {".to_owned(),
                13 => "    let text = read(path);".to_owned(),
                _ => format!("// filler {i}"),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let lines = snippet(
            &content,
            101,
            &terms(&["parse", "config", "parseconfig", "path"]),
        );
        assert_eq!(lines.len(), SNIPPET_LINES);
        // Chunk line 12 is file line 112; the window starts one line above it.
        assert_eq!(lines[0].line, 111);
        assert!(lines[0].matches.is_empty());
        let first = lines.iter().find(|l| !l.matches.is_empty()).unwrap();
        assert_eq!(first.line, 112);
        assert_eq!(marked(first), ["parse_config", "path", "Config"]);
        assert_eq!(marked(&lines[2]), ["path"]);
    }

    #[test]
    fn match_offsets_count_characters_not_bytes() {
        let lines = snippet("let größe = parseConfig();", 1, &terms(&["parseconfig"]));
        assert_eq!(marked(&lines[0]), ["parseConfig"]);
        assert_eq!(lines[0].matches[0].start, 12);
    }

    #[test]
    fn no_matching_line_gives_the_first_lines() {
        let lines = snippet("a\nb\nc\nd\ne\nf\ng", 10, &terms(&["zzz"]));
        assert_eq!(lines.first().unwrap().line, 10);
        assert_eq!(lines.len(), SNIPPET_LINES);
        assert!(lines.iter().all(|l| l.matches.is_empty()));
    }

    #[test]
    fn long_lines_are_cut_around_their_first_match() {
        let line = format!("{} needle {}", "x ".repeat(400), "y ".repeat(400));
        let lines = snippet(&line, 1, &terms(&["needle"]));
        assert!(lines[0].text.chars().count() <= MAX_LINE_CHARS);
        assert_eq!(marked(&lines[0]), ["needle"]);
    }
}
