//! Lines of an SSE byte stream read as it passes through, holding at most
//! [`SCAN_LINE_BYTES`] of one line: a longer line is skipped to its end, unread. The raw
//! passthroughs (`passthrough`, `raw`) scan relayed streams with it for usage and the ending.

/// The longest line kept for reading; usage and ending events are far shorter.
pub(super) const SCAN_LINE_BYTES: usize = 64 * 1024;

/// The line being gathered across pieces.
#[derive(Default)]
pub(super) struct BoundedLines {
    line: Vec<u8>,
    /// The current line is longer than [`SCAN_LINE_BYTES`]: skipped to its end.
    skipping: bool,
}

impl BoundedLines {
    /// Feeds one piece of the stream; `on_line` gets every whole line kept (without its `\n`).
    pub(super) fn feed(&mut self, piece: &[u8], mut on_line: impl FnMut(&[u8])) {
        let mut rest = piece;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(at);
            self.push(head);
            if !self.skipping {
                on_line(&self.line);
            }
            self.line.clear();
            self.skipping = false;
            rest = &tail[1..];
        }
        self.push(rest);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.line.len() + bytes.len() > SCAN_LINE_BYTES {
            self.skipping = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_anywhere_arrive_whole_and_a_long_one_is_skipped_unheld() {
        let mut lines = BoundedLines::default();
        let mut seen: Vec<String> = Vec::new();
        let long = format!("data: {}\n", "x".repeat(SCAN_LINE_BYTES * 2));
        for piece in [b"da".as_slice(), b"ta: a\nda", long.as_bytes(), b"ta: b\n"] {
            lines.feed(piece, |l| {
                seen.push(String::from_utf8_lossy(l).into_owned())
            });
        }
        // "da" + the long line is one over-long line, skipped; the next line arrives whole.
        assert_eq!(seen, ["data: a", "ta: b"]);
        lines.feed(&long.as_bytes()[..SCAN_LINE_BYTES + 10], |_| {});
        assert!(
            lines.line.is_empty() && lines.skipping,
            "a long line is not held"
        );
    }
}
