//! Estimation of what a task needs when the caller does not say: input tokens (tiktoken), the
//! category (keyword and shape heuristics), complexity (0–1) and expected output tokens. The text
//! is scanned once, and only when the category or the complexity has to be guessed; very long
//! texts are scanned at their head and tail only.

use super::{Estimate, RouteInput};
use crate::config::Category;

/// Texts longer than this are scanned at the first `HEAD` and last `TAIL` bytes.
const HEAD: usize = 12 * 1024;
const TAIL: usize = 4 * 1024;

/// Input tokens at which the length part of the complexity is full.
const FULL_LENGTH_TOKENS: f64 = 4096.0;

/// A text longer than this that asks for a summary is pasted material to condense.
const LONG_TEXT_BYTES: usize = 2000;

/// Estimates every value `input` leaves open; given values are kept and not marked estimated.
pub fn estimate(input: &RouteInput) -> Estimate {
    let (input_tokens, input_tokens_estimated) = match input.context_tokens {
        Some(tokens) => (tokens, false),
        None => (crate::tokens::estimate_text(&input.text), true),
    };
    let given_complexity = input.complexity.filter(|c| c.is_finite());
    let signals = (input.category.is_none() || given_complexity.is_none())
        .then(|| Signals::scan(&input.text));
    let category = input
        .category
        .or_else(|| signals.as_ref().map(Signals::category))
        .unwrap_or(Category::Chat);
    let complexity = match (given_complexity, &signals) {
        (Some(c), _) => c.clamp(0.0, 1.0),
        (None, Some(s)) => s.complexity(category, input_tokens),
        (None, None) => 0.5,
    };
    let output_tokens = input
        .expected_output_tokens
        .unwrap_or_else(|| output_tokens(category, complexity));
    Estimate {
        input_tokens,
        input_tokens_estimated,
        output_tokens,
        output_tokens_estimated: input.expected_output_tokens.is_none(),
        complexity,
        complexity_estimated: given_complexity.is_none(),
        category,
        category_estimated: input.category.is_none(),
    }
}

/// Expected answer length: a base by category × (0.5 + complexity).
pub(super) fn output_tokens(category: Category, complexity: f64) -> u64 {
    let base = match category {
        Category::Chat => 256.0,
        Category::Summarization => 384.0,
        Category::Writing | Category::Reasoning => 768.0,
        Category::Code => 1024.0,
    };
    (base * (0.5 + complexity.clamp(0.0, 1.0))).round() as u64
}

/// What a keyword says about the task.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Word {
    Code,
    Reasoning,
    Summarize,
    /// A requirement or a step ("must", "then", "each").
    Step,
    /// "write", "draft", …
    WriteVerb,
    /// "email", "essay", …
    WriteNoun,
}

/// What a lower-case word says about the task. A `match` (a jump on the length, then a few
/// word-sized compares) is several times faster here than a binary search over a table.
fn lookup(word: &str) -> Option<Word> {
    if word.starts_with("summar") {
        return Some(Word::Summarize);
    }
    if word.len() > 12 {
        return None;
    }
    Some(match word {
        "algorithm" | "api" | "bug" | "bugs" | "c#" | "c++" | "compile" | "compiler" | "debug"
        | "exception" | "function" | "functions" | "golang" | "implement" | "java"
        | "javascript" | "python" | "refactor" | "regex" | "rust" | "sql" | "stacktrace"
        | "typescript" => Word::Code,
        "analyse" | "analysis" | "analyze" | "calculate" | "compare" | "derive" | "equation"
        | "evaluate" | "integral" | "plan" | "probability" | "proof" | "prove" | "solve"
        | "theorem" | "tradeoff" | "tradeoffs" | "why" => Word::Reasoning,
        "also" | "each" | "ensure" | "every" | "must" | "requirement" | "requirements"
        | "should" | "step" | "steps" | "then" => Word::Step,
        "compose" | "draft" | "rewrite" | "write" => Word::WriteVerb,
        "article" | "blog" | "email" | "essay" | "letter" | "poem" | "speech" | "story" => {
            Word::WriteNoun
        }
        "condense" | "recap" | "tldr" => Word::Summarize,
        _ => return None,
    })
}

/// Counts gathered in one pass over the text.
#[derive(Debug, Default)]
struct Signals {
    bytes: usize,
    /// Lines opening or closing a ``` fence.
    fences: u32,
    /// Lines inside fences.
    fenced_lines: u32,
    /// Unfenced lines that look like code (`fn `, `def `, ending in `;`, `{`, `}`).
    code_shaped_lines: u32,
    /// Lines starting a list item (`-`, `*`, `•`, `1.`, `2)`).
    list_items: u32,
    /// Arithmetic such as `3 * 7`, `x^2`, `∑`.
    maths: u32,
    code_words: u32,
    reasoning_words: u32,
    step_words: u32,
    summarize: bool,
    write_verb: bool,
    write_noun: bool,
}

impl Signals {
    fn scan(text: &str) -> Self {
        let mut s = Self {
            bytes: text.len(),
            ..Self::default()
        };
        if text.len() <= HEAD + TAIL {
            s.scan_part(text);
        } else {
            s.scan_part(&text[..text.floor_char_boundary(HEAD)]);
            s.scan_part(&text[text.ceil_char_boundary(text.len() - TAIL)..]);
        }
        s
    }

    fn scan_part(&mut self, text: &str) {
        let lower = text.to_lowercase();
        if lower.contains("tl;dr") {
            self.summarize = true;
        }
        let mut in_fence = false;
        for line in lower.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with("```") {
                self.fences += 1;
                in_fence = !in_fence;
                continue;
            }
            if in_fence {
                self.fenced_lines += 1;
                continue;
            }
            if looks_like_code(trimmed) {
                self.code_shaped_lines += 1;
            }
            if is_list_item(trimmed) {
                self.list_items += 1;
            }
            self.maths += count_maths(trimmed);
            let words = trimmed.split(|c: char| !(c.is_alphanumeric() || c == '+' || c == '#'));
            for word in words.filter(|w| !w.is_empty()) {
                match lookup(word) {
                    Some(Word::Code) => self.code_words += 1,
                    Some(Word::Reasoning) => self.reasoning_words += 1,
                    Some(Word::Step) => self.step_words += 1,
                    Some(Word::Summarize) => self.summarize = true,
                    Some(Word::WriteVerb) => self.write_verb = true,
                    Some(Word::WriteNoun) => self.write_noun = true,
                    None => {}
                }
            }
        }
    }

    /// The best-scoring category; ties go to code, reasoning, summarization, writing.
    fn category(&self) -> Category {
        let code = if self.fences >= 1 { 3 } else { 0 }
            + self.code_words.min(3)
            + if self.code_shaped_lines >= 2 { 2 } else { 0 };
        let reasoning = self.reasoning_words.min(3) + self.maths.min(2);
        let summarization = if self.summarize {
            3 + u32::from(self.bytes > LONG_TEXT_BYTES)
        } else {
            0
        };
        let writing = if self.write_verb && self.write_noun {
            3
        } else {
            0
        };
        let scores = [
            (code, Category::Code),
            (reasoning, Category::Reasoning),
            (summarization, Category::Summarization),
            (writing, Category::Writing),
        ];
        let mut best = (0, Category::Chat);
        for (score, category) in scores {
            if score > best.0 {
                best = (score, category);
            }
        }
        best.1
    }

    /// A base by category plus length, steps, reasoning and code size, clamped to 0–1.
    fn complexity(&self, category: Category, input_tokens: u64) -> f64 {
        let base = match category {
            Category::Chat => 0.1,
            Category::Writing | Category::Summarization => 0.2,
            Category::Code => 0.3,
            Category::Reasoning => 0.35,
        };
        let length = ((1.0 + input_tokens as f64 / 64.0).ln()
            / (1.0 + FULL_LENGTH_TOKENS / 64.0).ln())
        .min(1.0);
        let steps = (f64::from(self.list_items + self.step_words) / 8.0).min(1.0);
        let reasoning = (f64::from(self.reasoning_words + self.maths) / 4.0).min(1.0);
        let code = (f64::from(self.fenced_lines + self.code_shaped_lines) / 150.0).min(1.0);
        (base + 0.25 * length + 0.2 * steps + 0.15 * reasoning + 0.2 * code).clamp(0.0, 1.0)
    }
}

fn looks_like_code(line: &str) -> bool {
    const STARTS: [&str; 8] = [
        "fn ",
        "def ",
        "class ",
        "import ",
        "#include",
        "function ",
        "let ",
        "const ",
    ];
    (line.len() > 1 && (line.ends_with(';') || line.ends_with('{') || line.ends_with('}')))
        || STARTS.iter().any(|s| line.starts_with(s))
}

fn is_list_item(line: &str) -> bool {
    if line.starts_with("- ") || line.starts_with("* ") || line.starts_with("• ") {
        return true;
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && digits < 3
        && matches!(line.as_bytes().get(digits), Some(b'.' | b')'))
        && matches!(line.as_bytes().get(digits + 1), Some(b' '))
}

/// Operators between operands and digits (`3 * 7`, `x^2`, `2+2=4`) and maths symbols.
fn count_maths(line: &str) -> u32 {
    let mut count = 0;
    let mut prev_operand = false;
    let mut pending_op = false;
    for &b in line.as_bytes() {
        match b {
            b'0'..=b'9' => {
                if pending_op {
                    count += 1;
                }
                pending_op = false;
                prev_operand = true;
            }
            b'+' | b'*' | b'/' | b'^' | b'=' if prev_operand => {
                pending_op = true;
                prev_operand = false;
            }
            b' ' => {}
            _ => {
                pending_op = false;
                prev_operand = b.is_ascii_alphanumeric();
            }
        }
    }
    if !line.is_ascii() {
        const SYMBOLS: [char; 8] = ['∑', '∫', '√', '≤', '≥', '≠', '∀', '∃'];
        count += line.matches(SYMBOLS).count() as u32;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(text: &str) -> Estimate {
        estimate(&RouteInput {
            text: text.to_owned(),
            ..RouteInput::default()
        })
    }

    #[test]
    fn keywords_say_what_kind_of_task_it_is() {
        let cases = [
            ("refactor", Some(Word::Code)),
            ("c++", Some(Word::Code)),
            ("prove", Some(Word::Reasoning)),
            ("summarise", Some(Word::Summarize)),
            ("summary", Some(Word::Summarize)),
            ("must", Some(Word::Step)),
            ("draft", Some(Word::WriteVerb)),
            ("essay", Some(Word::WriteNoun)),
            ("cat", None),
            ("summarization", Some(Word::Summarize)),
            ("implementations", None),
        ];
        for (word, kind) in cases {
            assert_eq!(lookup(word), kind, "{word}");
        }
        assert_eq!(count_maths("what is 17 * 23 + 4, or x^2 ≤ ∑ y?"), 5);
        assert_eq!(count_maths("a well-known and/or rough plan"), 0);
    }

    #[test]
    fn categories_come_from_keywords_and_shape() {
        let long_article = "The council met on Tuesday to discuss the new budget. ".repeat(60);
        let cases: Vec<(String, Category)> = vec![
            (
                "Fix the bug in this function:\n```rust\nfn add(a: i32) -> i32 { a }\n```".into(),
                Category::Code,
            ),
            (
                "Refactor my Python script to use pathlib".into(),
                Category::Code,
            ),
            (
                "let x = compute();\nif x > 3 {\n  run(x);\n}".into(),
                Category::Code,
            ),
            (
                "Prove that the square root of 2 is irrational.".into(),
                Category::Reasoning,
            ),
            ("What is 17 * 23 + 4?".into(), Category::Reasoning),
            (
                "Analyze the tradeoffs and plan a migration.".into(),
                Category::Reasoning,
            ),
            (
                format!("{long_article}\n\nSummarize the above in three bullets."),
                Category::Summarization,
            ),
            (
                "tl;dr please: the meeting ran long".into(),
                Category::Summarization,
            ),
            (
                "Write an email to my landlord about the broken heater".into(),
                Category::Writing,
            ),
            (
                "Draft a short story about a lighthouse".into(),
                Category::Writing,
            ),
            ("Hi! What's a good name for a cat?".into(), Category::Chat),
            ("hello".into(), Category::Chat),
        ];
        for (text, want) in cases {
            let est = guess(&text);
            assert_eq!(est.category, want, "{text:.60}");
            assert!(est.category_estimated);
        }
    }

    #[test]
    fn complexity_grows_with_length_steps_and_code() {
        let trivial = guess("hello there");
        let steps = guess(
            "Build a CLI tool. Requirements:\n- it must parse flags\n- it must read a config\n\
             - then it should print a report\n- each error must be explained\n1. also add tests",
        );
        let big_code = guess(&format!(
            "Refactor this:\n```rust\n{}```",
            "let a = b + c;\n".repeat(200)
        ));
        assert!(trivial.complexity < 0.2, "{}", trivial.complexity);
        assert!(
            steps.complexity > trivial.complexity + 0.2,
            "{}",
            steps.complexity
        );
        assert!(big_code.complexity > 0.6, "{}", big_code.complexity);
        for e in [&trivial, &steps, &big_code] {
            assert!((0.0..=1.0).contains(&e.complexity));
            assert!(e.complexity_estimated && e.input_tokens_estimated);
        }
    }

    #[test]
    fn output_tokens_scale_with_category_and_complexity() {
        assert_eq!(output_tokens(Category::Chat, 0.5), 256);
        assert_eq!(output_tokens(Category::Code, 1.0), 1536);
        assert_eq!(output_tokens(Category::Summarization, 0.0), 192);
        assert!(guess("hello").output_tokens < guess("Implement a function").output_tokens);
    }

    #[test]
    fn given_values_are_kept_and_not_marked_estimated() {
        let est = estimate(&RouteInput {
            text: "hello".into(),
            context_tokens: Some(1234),
            expected_output_tokens: Some(99),
            complexity: Some(1.7),
            category: Some(Category::Writing),
            priority: None,
        });
        assert_eq!(
            (est.input_tokens, est.output_tokens, est.category),
            (1234, 99, Category::Writing)
        );
        assert_eq!(est.complexity, 1.0, "given complexity is clamped");
        assert!(!est.input_tokens_estimated);
        assert!(!est.output_tokens_estimated);
        assert!(!est.complexity_estimated);
        assert!(!est.category_estimated);
    }

    #[test]
    fn a_nan_complexity_is_replaced_by_an_estimate() {
        let est = estimate(&RouteInput {
            text: "hello".into(),
            complexity: Some(f64::NAN),
            ..RouteInput::default()
        });
        assert!(est.complexity.is_finite() && est.complexity_estimated);
    }

    #[test]
    fn long_texts_are_scanned_at_head_and_tail() {
        let text = format!(
            "Summarize this:\n{}\nthanks",
            "é plain words without keywords ".repeat(2000)
        );
        let est = guess(&text);
        assert_eq!(est.category, Category::Summarization);
    }
}
