//! Splitting a file's text into overlapping chunks of whole lines, each with its 1-based,
//! inclusive line range: the unit that is indexed, ranked and returned.

/// One chunk: lines `start_line..=end_line` of the file (1-based), as a slice of its text
/// without the last line's line break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub start_line: u32,
    pub end_line: u32,
    pub text: &'a str,
}

/// Chunks of `lines` lines, each starting `lines - overlap` lines after the previous one; the
/// last chunk ends at the file's last line. An empty text has no chunks. `overlap` must be
/// smaller than `lines` (checked where the options are validated; here it is clamped).
pub fn chunks(text: &str, lines: usize, overlap: usize) -> Vec<Chunk<'_>> {
    let lines = lines.max(1);
    let overlap = overlap.min(lines - 1);
    // Byte offset where each line starts, plus the end of the text.
    let mut starts = vec![0usize];
    starts.extend(
        text.char_indices()
            .filter(|&(_, c)| c == '\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| i < text.len()),
    );
    let count = if text.is_empty() { 0 } else { starts.len() };
    let mut out = Vec::with_capacity(count / (lines - overlap) + 1);
    let mut first = 0usize;
    while first < count {
        let last = (first + lines).min(count) - 1;
        let from = starts[first];
        let slice = if last + 1 < count {
            // Up to the line break that ends line `last`.
            &text[from..starts[last + 1] - 1]
        } else {
            let rest = &text[from..];
            rest.strip_suffix('\n').unwrap_or(rest)
        };
        out.push(Chunk {
            start_line: line_number(first),
            end_line: line_number(last),
            text: slice.strip_suffix('\r').unwrap_or(slice),
        });
        if last + 1 >= count {
            break;
        }
        first = last + 1 - overlap;
    }
    out
}

fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    fn ranges(text: &str, lines: usize, overlap: usize) -> Vec<(u32, u32)> {
        chunks(text, lines, overlap)
            .iter()
            .map(|c| (c.start_line, c.end_line))
            .collect()
    }

    #[test]
    fn consecutive_chunks_overlap_by_the_given_number_of_lines() {
        assert_eq!(
            ranges(&numbered(130), 60, 10),
            [(1, 60), (51, 110), (101, 130)]
        );
    }

    #[test]
    fn a_chunk_ending_on_the_last_line_is_the_last_chunk() {
        assert_eq!(ranges(&numbered(110), 60, 10), [(1, 60), (51, 110)]);
        assert_eq!(ranges(&numbered(60), 60, 10), [(1, 60)]);
        assert_eq!(ranges(&numbered(3), 60, 10), [(1, 3)]);
    }

    #[test]
    fn chunk_text_holds_exactly_its_lines() {
        let text = numbered(12);
        let all = chunks(&text, 5, 2);
        assert_eq!(
            all.iter()
                .map(|c| (c.start_line, c.end_line))
                .collect::<Vec<_>>(),
            [(1, 5), (4, 8), (7, 11), (10, 12)]
        );
        assert_eq!(all[1].text, "line 4\nline 5\nline 6\nline 7\nline 8");
        assert_eq!(all[3].text, "line 10\nline 11\nline 12");
        for chunk in &all {
            let first: u32 = chunk.text.lines().next().unwrap()[5..].parse().unwrap();
            assert_eq!(first, chunk.start_line);
            assert_eq!(
                chunk.text.lines().count() as u32,
                chunk.end_line - chunk.start_line + 1
            );
        }
    }

    #[test]
    fn a_missing_final_newline_and_crlf_endings_keep_the_line_count() {
        assert_eq!(ranges("a\nb\nc", 2, 1), [(1, 2), (2, 3)]);
        let crlf = chunks("a\r\nb\r\n", 10, 0);
        assert_eq!(crlf.len(), 1);
        assert_eq!((crlf[0].start_line, crlf[0].end_line), (1, 2));
        assert_eq!(crlf[0].text, "a\r\nb");
    }

    #[test]
    fn empty_text_has_no_chunks_and_blank_lines_count() {
        assert!(chunks("", 60, 10).is_empty());
        assert_eq!(ranges("\n\n\n", 2, 0), [(1, 2), (3, 3)]);
    }

    #[test]
    fn an_overlap_as_large_as_the_chunk_is_clamped_and_still_advances() {
        assert_eq!(ranges(&numbered(4), 2, 5), [(1, 2), (2, 3), (3, 4)]);
    }
}
