//! Matching a concrete URI against an RFC 6570 URI template (`test://item/{id}`), to find which
//! child's resource template a `resources/read` belongs to. Only matching, never expansion:
//! `{var}` matches one or more characters other than `/`, `?` and `#`; `{+var}` and `{#var}`
//! match anything non-empty; `{?a,b}` and `{&a}` match an optional query tail.

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// One path-like segment.
    Segment,
    /// Anything (reserved expansion).
    Any,
    /// An optional query string up to the end.
    Query,
}

impl UriTemplate {
    /// Parses `template`; an unclosed `{` is taken literally.
    pub fn parse(template: &str) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            literal.push_str(&rest[..open]);
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            let expression = &rest[open + 1..open + close];
            parts.push(match expression.chars().next() {
                Some('+' | '#') => Part::Any,
                Some('?' | '&') => Part::Query,
                _ => Part::Segment,
            });
            rest = &rest[open + close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Self { parts }
    }

    pub fn matches(&self, uri: &str) -> bool {
        matches_from(&self.parts, uri)
    }
}

fn matches_from(parts: &[Part], input: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return input.is_empty();
    };
    match first {
        Part::Literal(text) => input
            .strip_prefix(text.as_str())
            .is_some_and(|after| matches_from(rest, after)),
        Part::Query => {
            rest.is_empty()
                && (input.is_empty() || input.starts_with('?') || input.starts_with('&'))
        }
        Part::Segment | Part::Any => {
            let stop = |c: char| matches!(first, Part::Segment) && matches!(c, '/' | '?' | '#');
            // Try every non-empty prefix the variable may take, shortest first.
            for (i, c) in input.char_indices() {
                if stop(c) {
                    break;
                }
                if matches_from(rest, &input[i + c.len_utf8()..]) {
                    return true;
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_variable_matches_one_segment() {
        let t = UriTemplate::parse("test://template/{id}/data");
        assert!(t.matches("test://template/123/data"));
        assert!(!t.matches("test://template/1/2/data"));
        assert!(!t.matches("test://template//data"));
        assert!(!t.matches("test://template/123/other"));
    }

    #[test]
    fn reserved_expansion_matches_slashes() {
        let t = UriTemplate::parse("file:///{+path}");
        assert!(t.matches("file:///home/me/notes.txt"));
        assert!(!t.matches("file:///"));
    }

    #[test]
    fn a_query_expression_is_optional() {
        let t = UriTemplate::parse("weather://{city}{?units}");
        assert!(t.matches("weather://paris"));
        assert!(t.matches("weather://paris?units=metric"));
        assert!(!t.matches("weather://paris/today"));
    }

    #[test]
    fn templates_without_variables_match_exactly_and_unclosed_braces_are_literal() {
        assert!(UriTemplate::parse("a://b").matches("a://b"));
        assert!(!UriTemplate::parse("a://b").matches("a://bc"));
        assert!(UriTemplate::parse("a://{b").matches("a://{b"));
    }
}
