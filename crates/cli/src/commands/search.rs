//! `fusion search QUERY`: ranked hits from the code index enclosing `--root` (default: the
//! current directory), each with its path, line range, score and matching lines; matched words
//! in bold when stdout is a terminal, or everything as JSON with `--json`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use fusion_codesearch::{CodeIndex, Error, Hit, SearchRequest, SearchResults, SnippetLine};

use super::code_index_home;
use crate::cli::SearchArgs;

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub fn run(args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let home = code_index_home()?;
    let start = match &args.root {
        Some(root) => root.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let (index, within) = match CodeIndex::open_enclosing(&home, &start) {
        Ok(found) => found,
        Err(Error::NotIndexed(dir)) => anyhow::bail!(
            "no code index covers {}: run `fusion index DIR` on it (or a directory above it) first",
            dir.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let results = index.search(&SearchRequest {
        query: args.query.clone(),
        limit: args.limit,
        path: args.path.clone(),
        lang: args.lang.clone(),
        within,
        bm25: None,
    })?;
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        serde_json::to_writer_pretty(&mut out, &results)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        print_hits(&mut out, &results, std::io::stdout().is_terminal())
    };
    match printed {
        // `fusion search ... | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    }
    if results.hits.is_empty() {
        if !args.json {
            eprintln!(
                "fusion: no match for {:?} in {}",
                args.query,
                results.root.display()
            );
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_hits(out: &mut impl Write, results: &SearchResults, color: bool) -> std::io::Result<()> {
    for (i, hit) in results.hits.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        print_hit(out, hit, color)?;
    }
    Ok(())
}

fn print_hit(out: &mut impl Write, hit: &Hit, color: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "{}:{}-{}  {}  score {:.2}",
        hit.path, hit.start_line, hit.end_line, hit.language, hit.score
    )?;
    let width = hit
        .snippet
        .last()
        .map_or(1, |l| l.line.to_string().len())
        .max(4);
    for line in &hit.snippet {
        writeln!(out, "{:>width$}  {}", line.line, marked(line, color))?;
    }
    Ok(())
}

/// The line with its matches in bold (when `color`), else as it is.
fn marked(line: &SnippetLine, color: bool) -> String {
    if !color || line.matches.is_empty() {
        return line.text.clone();
    }
    let mut out = String::with_capacity(line.text.len() + line.matches.len() * 8);
    let mut next = line.matches.iter().peekable();
    let mut open = false;
    for (i, c) in line.text.chars().enumerate() {
        if open && next.peek().is_some_and(|m| m.end == i) {
            out.push_str(RESET);
            open = false;
            next.next();
        }
        if !open && next.peek().is_some_and(|m| m.start == i) {
            out.push_str(BOLD);
            open = true;
        }
        out.push(c);
    }
    if open {
        out.push_str(RESET);
    }
    out
}

#[cfg(test)]
mod tests {
    use fusion_codesearch::MatchRange;

    use super::*;

    #[test]
    fn matches_are_bold_on_a_terminal_and_plain_otherwise() {
        let line = SnippetLine {
            line: 3,
            text: "fn parse_config(p: Path)".to_owned(),
            matches: vec![
                MatchRange { start: 3, end: 15 },
                MatchRange { start: 19, end: 23 },
            ],
        };
        assert_eq!(
            marked(&line, true),
            "fn \x1b[1mparse_config\x1b[0m(p: \x1b[1mPath\x1b[0m)"
        );
        assert_eq!(marked(&line, false), "fn parse_config(p: Path)");
    }
}
