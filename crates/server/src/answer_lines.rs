//! Lines of the chat door's own SSE answer, read back by the doors that translate it
//! (`/v1/messages`, `/v1/responses`): split across pieces, `\r\n` or `\n`, one partial line
//! held at most, and a line over [`MAX_LINE_BYTES`] ends the stream with an error.

/// A line of the chat stream longer than this ends the stream with an error.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Splits bytes into lines (without their `\n` / `\r\n`), holding at most one partial line.
#[derive(Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&rest[..at]);
            let mut line = std::mem::take(&mut self.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(String::from_utf8_lossy(&line).into_owned());
            rest = &rest[at + 1..];
        }
        if self.partial.len() + rest.len() > MAX_LINE_BYTES {
            return Err(format!(
                "a line of the answer stream is longer than {MAX_LINE_BYTES} bytes"
            ));
        }
        self.partial.extend_from_slice(rest);
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn lines_are_split_across_pieces() {
        let mut lines = Lines::default();
        assert!(lines.feed(b"data: a").unwrap().is_empty());
        assert_eq!(
            lines.feed(b"b\r\ndata: c\n").unwrap(),
            ["data: ab", "data: c"]
        );
    }
}
