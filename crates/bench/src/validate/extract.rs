//! Finding what a validator judges inside a model's answer: fenced code blocks (``` or ~~~,
//! an unclosed one runs to the end), the code to run, and the JSON value.

use serde_json::Value;

/// Most `{`/`[` starts tried when looking for a balanced JSON value.
const MAX_JSON_STARTS: usize = 64;

/// One fenced block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a> {
    /// The info string's first word, lower-case as written (`python`, `json`, or empty).
    pub lang: &'a str,
    pub body: &'a str,
}

/// Every fenced block of `text`, in order.
pub fn fences(text: &str) -> Vec<Fence<'_>> {
    let mut found = Vec::new();
    let mut offset = 0;
    let mut open: Option<(&str, usize, &str)> = None; // (marker, body start, lang)
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        let trimmed = trimmed.trim_end();
        match open {
            None => {
                if let Some(marker) = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m)) {
                    let info = trimmed.trim_start_matches(marker.chars().next().unwrap_or('`'));
                    let lang = info.split_whitespace().next().unwrap_or("");
                    open = Some((marker, offset, lang));
                }
            }
            Some((marker, body_start, lang)) => {
                let fence_char = marker.chars().next().unwrap_or('`');
                if trimmed.len() >= 3 && trimmed.chars().all(|c| c == fence_char) {
                    found.push(Fence {
                        lang,
                        body: &text[body_start..start],
                    });
                    open = None;
                }
            }
        }
    }
    if let Some((_, body_start, lang)) = open {
        found.push(Fence {
            lang,
            body: &text[body_start.min(text.len())..],
        });
    }
    found
}

/// The code in an answer: the first Python-tagged fenced block, else the first fenced block,
/// else the whole answer.
pub fn code(answer: &str) -> &str {
    let blocks = fences(answer);
    let python = blocks.iter().find(|f| {
        matches!(
            f.lang.to_ascii_lowercase().as_str(),
            "python" | "py" | "python3"
        )
    });
    match python.or(blocks.first()) {
        Some(block) => block.body,
        None => answer,
    }
}

/// The JSON value in an answer: the first fenced block that parses as an object or array, else
/// the first balanced `{...}` or `[...]` in the text that parses.
pub fn json_value(answer: &str) -> Option<Value> {
    for block in fences(answer) {
        if let Ok(value) = serde_json::from_str::<Value>(block.body.trim())
            && (value.is_object() || value.is_array())
        {
            return Some(value);
        }
    }
    let bytes = answer.as_bytes();
    let starts = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'{' || **b == b'[')
        .map(|(i, _)| i)
        .take(MAX_JSON_STARTS);
    for start in starts {
        if let Some(end) = balanced_end(bytes, start)
            && let Ok(value) = serde_json::from_str::<Value>(&answer[start..end])
        {
            return Some(value);
        }
    }
    None
}

/// The end (exclusive) of the bracketed value starting at `start`, skipping brackets inside
/// JSON strings; `None` when it never closes.
fn balanced_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return None;
                }
                if stack.is_empty() {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_python_block_is_the_code_else_the_first_block_else_everything() {
        let answer = "Run this:\n```bash\npip install x\n```\nthen\n```python\ndef f():\n    return 1\n```\n";
        assert_eq!(code(answer), "def f():\n    return 1\n");
        assert_eq!(code("~~~\nx = 1\n~~~"), "x = 1\n");
        assert_eq!(code("def g(): pass"), "def g(): pass");
        assert_eq!(
            code("```py\nunclosed = True\n"),
            "unclosed = True\n",
            "an unclosed fence runs to the end"
        );
    }

    #[test]
    fn json_comes_from_a_fence_or_the_first_balanced_value() {
        let fenced = "Here:\n```json\n{\"a\": 1}\n```";
        assert_eq!(json_value(fenced), Some(json!({"a": 1})));
        let inline = "The record is {\"name\": \"a}b\", \"tags\": [\"x\"]} as asked.";
        assert_eq!(
            json_value(inline),
            Some(json!({"name": "a}b", "tags": ["x"]}))
        );
        let after_prose = "Set {not json} first, then [1, 2].";
        assert_eq!(json_value(after_prose), Some(json!([1, 2])));
        assert_eq!(json_value("{\"a\": 1"), None, "never closed");
        assert_eq!(json_value("no json here"), None);
    }
}
