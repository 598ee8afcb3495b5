//! The `.env` reader of `fusion config import`: `KEY=VALUE` lines with `#` comments, an optional
//! `export ` prefix, single-, double- or backtick-quoted values (double quotes take `\n`, `\t`,
//! `\"` and `\\` escapes), and ` # comments` after unquoted values. Anything else is a
//! malformed line, reported by number without quoting its text (it may hold a secret).

/// One `KEY=VALUE` assignment and the line it is on (from 1).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Assignment {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// Every assignment of `text`, in file order; `(line, reason)` of the first malformed line.
pub(super) fn parse(text: &str) -> Result<Vec<Assignment>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if let Some((key, value)) = parse_line(raw).map_err(|reason| (line, reason))? {
            out.push(Assignment { line, key, value });
        }
    }
    Ok(out)
}

/// `None` for a blank or comment line.
fn parse_line(raw: &str) -> Result<Option<(String, String)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line
        .strip_prefix("export")
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map_or(line, str::trim_start);
    let Some((key, rest)) = line.split_once('=') else {
        return Err("expected KEY=VALUE (or a # comment)".to_owned());
    };
    let key = key.trim_end();
    if key.is_empty() {
        return Err("no variable name before `=`".to_owned());
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "`{key}` is not a variable name (letters, digits, `_`, `.` and `-`)"
        ));
    }
    let value = parse_value(rest.trim_start()).map_err(|reason| format!("{key}: {reason}"))?;
    Ok(Some((key.to_owned(), value)))
}

/// The value after `=` (leading blanks already trimmed).
fn parse_value(rest: &str) -> Result<String, String> {
    let mut chars = rest.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('\'' | '"' | '`'))) => q,
        _ => return Ok(unquoted(rest)),
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            match c {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                '"' | '\\' => value.push(c),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            let after = rest[i + c.len_utf8()..].trim_start();
            if after.is_empty() || after.starts_with('#') {
                return Ok(value);
            }
            return Err("unexpected text after the closing quote".to_owned());
        } else {
            value.push(c);
        }
    }
    Err(format!(
        "the value's opening {quote} is not closed on this line (multi-line values are not \
         supported)"
    ))
}

/// An unquoted value: up to a `#` that starts it or follows a blank, trailing blanks trimmed.
fn unquoted(rest: &str) -> String {
    let mut previous_blank = true;
    for (i, c) in rest.char_indices() {
        if c == '#' && previous_blank {
            return rest[..i].trim_end().to_owned();
        }
        previous_blank = c.is_whitespace();
    }
    rest.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> (String, String) {
        let parsed = parse(line).unwrap();
        let [only] = &parsed[..] else {
            panic!("{parsed:?}")
        };
        (only.key.clone(), only.value.clone())
    }

    fn value(line: &str) -> String {
        one(line).1
    }

    #[test]
    fn comments_blank_lines_and_export_prefixes_are_understood() {
        let parsed =
            parse("\u{feff}# a comment\n\n  export A=1\r\nexport\tB = 2\nexported=3\n").unwrap();
        let keys: Vec<(&str, &str, usize)> = parsed
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(keys, [("A", "1", 3), ("B", "2", 4), ("exported", "3", 5)]);
    }

    #[test]
    fn quoted_values_keep_hashes_and_blanks_and_double_quotes_unescape() {
        assert_eq!(value("K='a # b '  # note"), "a # b ");
        assert_eq!(value(r#"K="say \"hi\"\n\\""#), "say \"hi\"\n\\");
        assert_eq!(value(r"K='no \n escape'"), r"no \n escape");
        assert_eq!(value("K=`tick`"), "tick");
        assert_eq!(value("K=\"\""), "");
    }

    #[test]
    fn unquoted_values_end_at_a_hash_after_a_blank() {
        assert_eq!(
            value("LLAMA_CPP_ENDPOINT=http://localhost:8080 # leave unset to disable"),
            "http://localhost:8080"
        );
        assert_eq!(value("K=http://h/#frag"), "http://h/#frag");
        assert_eq!(value("K= # only a comment"), "");
        assert_eq!(value("K="), "");
        assert_eq!(
            value(r#"CODE_SEARCH_EXCLUDE_PATTERNS=["node_modules/**","dist/**"]"#),
            r#"["node_modules/**","dist/**"]"#
        );
    }

    #[test]
    fn malformed_lines_are_named_by_number_without_their_text() {
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(err("A=1\njust words\n").0, 2);
        assert!(err("just words").1.contains("expected KEY=VALUE"));
        assert_eq!(err("A=1\n\n=3").0, 3);
        let (line, reason) = err("# x\nSECRET=\"sk-unclosed");
        assert_eq!(line, 2);
        assert!(
            reason.contains("SECRET") && reason.contains("not closed"),
            "{reason}"
        );
        assert!(!reason.contains("sk-unclosed"), "{reason}");
        assert!(err("K='a' b").1.contains("after the closing quote"));
        assert!(err("MY KEY=1").1.contains("not a variable name"));
    }
}
