//! The code-aware tokenizer, used for indexed text and queries alike: identifiers are split at
//! `_` and `-` (snake_case, SCREAMING_CASE, kebab-case), at camelCase and PascalCase humps and
//! between letters and digits, every part lowercased; an identifier that was split is also kept
//! whole, lowercased and without separators, so `parseConfig`, `ParseConfig`, `parse_config`
//! and `parse-config` all share the token `parseconfig`, and each also yields `parse` and
//! `config`.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which the tokenizer is registered in a code index.
pub const ANALYZER: &str = "fusion_code";

/// Tokens longer than this (bytes) are noise (hashes, base64, minified blobs) and are dropped.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Splits code into identifier parts plus whole identifiers (see the module doc).
#[derive(Clone, Default)]
pub struct CodeTokenizer {
    tokens: Vec<Token>,
    parts: Vec<(usize, usize)>,
}

/// The tokens of one text, produced eagerly into the tokenizer's reused buffer.
pub struct CodeTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.tokens.clear();
        tokenize(text, &mut self.tokens, &mut self.parts);
        CodeTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        let at = self.next.saturating_sub(1);
        &mut self.tokens[at]
    }
}

/// The distinct tokens of `text`, in first-seen order (how queries are analyzed).
pub fn distinct_terms(text: &str) -> Vec<String> {
    let mut tokenizer = CodeTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    while stream.advance() {
        let text = &stream.token().text;
        if seen.insert(text.clone()) {
            terms.push(text.clone());
        }
    }
    terms
}

/// Calls `each(token, from, to)` for every token of `text` (byte offsets), without building
/// `Token`s: the snippet highlighter's path.
pub fn for_each_token(text: &str, mut each: impl FnMut(&str, usize, usize)) {
    let mut tokens = Vec::new();
    let mut parts = Vec::new();
    tokenize(text, &mut tokens, &mut parts);
    for token in &tokens {
        each(&token.text, token.offset_from, token.offset_to);
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Appends the tokens of `text` to `out`; `parts` is scratch space.
fn tokenize(text: &str, out: &mut Vec<Token>, parts: &mut Vec<(usize, usize)>) {
    let mut chars = text.char_indices().peekable();
    let mut run_start: Option<usize> = None;
    let mut prev_alnum = false;
    while let Some((at, c)) = chars.next() {
        let next_alnum = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
        // `-` joins an identifier only between two letters or digits (`parse-config`, not `a - b`).
        let joins = is_word(c) || (c == '-' && prev_alnum && next_alnum);
        match (joins, run_start) {
            (true, None) => run_start = Some(at),
            (false, Some(start)) => {
                identifier(text, start, at, out, parts);
                run_start = None;
            }
            _ => {}
        }
        prev_alnum = c.is_alphanumeric();
    }
    if let Some(start) = run_start {
        identifier(text, start, text.len(), out, parts);
    }
}

/// Emits the parts of the identifier `text[from..to]` and, when it has several, the whole.
fn identifier(
    text: &str,
    from: usize,
    to: usize,
    out: &mut Vec<Token>,
    parts: &mut Vec<(usize, usize)>,
) {
    parts.clear();
    let run = &text[from..to];
    let mut segment_start = None;
    for (i, c) in run.char_indices() {
        match (c == '_' || c == '-', segment_start) {
            (true, Some(start)) => {
                split_humps(run, start, i, from, parts);
                segment_start = None;
            }
            (false, None) => segment_start = Some(i),
            _ => {}
        }
    }
    if let Some(start) = segment_start {
        split_humps(run, start, run.len(), from, parts);
    }
    for &(a, b) in parts.iter() {
        push(out, lowercase(&text[a..b]), a, b);
    }
    if let (true, Some(&(first, _)), Some(&(_, last))) =
        (parts.len() > 1, parts.first(), parts.last())
    {
        let mut whole = String::with_capacity(last - first);
        for &(a, b) in parts.iter() {
            whole.push_str(&lowercase(&text[a..b]));
        }
        push(out, whole, first, last);
    }
}

/// Splits the separator-free `run[from..to]` at camelCase humps (`parseConfig`), at the end of
/// an acronym (`HTTPServer` → `HTTP` `Server`) and between letters and digits; pushes the
/// parts' byte ranges (offset by `base`, the run's position in the text).
fn split_humps(run: &str, from: usize, to: usize, base: usize, parts: &mut Vec<(usize, usize)>) {
    let segment = &run[from..to];
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = segment.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(p) = prev {
            let next = chars.peek().map(|&(_, n)| n);
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase))
                || (p.is_numeric() != c.is_numeric());
            if boundary {
                parts.push((base + from + start, base + from + i));
                start = i;
            }
        }
        prev = Some(c);
    }
    if start < segment.len() {
        parts.push((base + from + start, base + to));
    }
}

fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

fn push(out: &mut Vec<Token>, text: String, from: usize, to: usize) {
    if text.is_empty() || text.len() > MAX_TOKEN_BYTES {
        return;
    }
    out.push(Token {
        offset_from: from,
        offset_to: to,
        position: out.len(),
        text,
        position_length: 1,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn camel_case_splits_into_lowercased_parts_and_keeps_the_whole() {
        assert_eq!(tokens("parseConfig"), ["parse", "config", "parseconfig"]);
    }

    #[test]
    fn pascal_case_gives_the_same_tokens_as_camel_case() {
        assert_eq!(tokens("ParseConfig"), ["parse", "config", "parseconfig"]);
    }

    #[test]
    fn snake_and_screaming_case_split_at_underscores_and_join_without_them() {
        assert_eq!(tokens("parse_config"), ["parse", "config", "parseconfig"]);
        assert_eq!(tokens("PARSE_CONFIG"), ["parse", "config", "parseconfig"]);
        assert_eq!(tokens("__init__"), ["init"]);
    }

    #[test]
    fn kebab_case_joins_but_subtraction_with_spaces_does_not() {
        assert_eq!(tokens("parse-config"), ["parse", "config", "parseconfig"]);
        assert_eq!(tokens("a - b"), ["a", "b"]);
        assert_eq!(tokens("--exclude"), ["exclude"]);
    }

    #[test]
    fn acronyms_and_digit_runs_are_parts_of_their_own() {
        assert_eq!(
            tokens("HTTPServer2"),
            ["http", "server", "2", "httpserver2"]
        );
        assert_eq!(tokens("sha256sum"), ["sha", "256", "sum", "sha256sum"]);
        assert_eq!(tokens("v1_2"), ["v", "1", "2", "v12"]);
        assert_eq!(tokens("12345"), ["12345"]);
    }

    #[test]
    fn a_single_word_is_one_lowercased_token() {
        assert_eq!(tokens("Config"), ["config"]);
        assert_eq!(tokens("config"), ["config"]);
    }

    #[test]
    fn every_naming_style_shares_the_whole_identifier_token() {
        for style in [
            "parseConfig",
            "ParseConfig",
            "parse_config",
            "PARSE_CONFIG",
            "parse-config",
        ] {
            let found = tokens(style);
            for expected in ["parse", "config", "parseconfig"] {
                assert!(found.iter().any(|t| t == expected), "{style}: {found:?}");
            }
        }
    }

    #[test]
    fn punctuation_separates_identifiers_and_offsets_point_into_the_text() {
        let text = "let cfg = self.parseConfig(path);";
        let mut seen = Vec::new();
        for_each_token(text, |token, from, to| {
            seen.push((token.to_owned(), text[from..to].to_owned()));
        });
        let pairs: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("let", "let"),
                ("cfg", "cfg"),
                ("self", "self"),
                ("parse", "parse"),
                ("config", "Config"),
                ("parseconfig", "parseConfig"),
                ("path", "path"),
            ]
        );
    }

    #[test]
    fn non_ascii_identifiers_are_lowercased_and_kept() {
        assert_eq!(
            tokens("größeBerechnen"),
            ["größe", "berechnen", "größeberechnen"]
        );
        assert_eq!(tokens("变量"), ["变量"]);
    }

    #[test]
    fn overlong_tokens_are_dropped() {
        let blob = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(tokens(&blob).is_empty());
        assert_eq!(tokens(&format!("{blob} ok")), ["ok"]);
    }

    #[test]
    fn distinct_terms_drop_repeats_in_first_seen_order() {
        assert_eq!(
            distinct_terms("config parseConfig config"),
            ["config", "parse", "parseconfig"]
        );
        assert!(distinct_terms("  ++ -- ").is_empty());
    }
}
