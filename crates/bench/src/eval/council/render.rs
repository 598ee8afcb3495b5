//! The council eval's report as people read it: a plain-text table for the terminal and the
//! same tables in Markdown — detection per arm, per fixture, over-flagging on the clean
//! control, and the checker's confidence against its detection.

use std::fmt::Write;

use super::arms::Arm;
use super::summary::EvalReport;

/// The report as terminal text.
pub fn text(report: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(report));
    if let Some(run) = &report.run_id {
        let _ = writeln!(out, "stored as benchmark run {run} (suite eval:council)");
    }
    let _ = writeln!(out);
    let model_width = report
        .arms
        .iter()
        .map(|a| a.model.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "{:<16} {:<model_width$} {:>9} {:>7} {:>16} {:>6}",
        "arm", "model", "detection", "found", "control findings", "failed"
    );
    for arm in &report.arms {
        let _ = writeln!(
            out,
            "{:<16} {:<model_width$} {:>9} {:>7} {:>16} {:>6}",
            arm.arm.as_str(),
            arm.model,
            percent(arm.detection_rate),
            format!("{}/{}", arm.issues_found, arm.issues_total),
            arm.control_findings,
            arm.failed
        );
    }
    let arms: Vec<Arm> = report.arms.iter().map(|a| a.arm).collect();
    let fixture_width = report
        .per_fixture
        .iter()
        .map(|f| f.fixture.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(out);
    let _ = write!(out, "{:<fixture_width$} {:>7}", "fixture", "issues");
    for arm in &arms {
        let _ = write!(out, " {:>15}", arm.as_str());
    }
    let _ = writeln!(out);
    for row in &report.per_fixture {
        let issues = if row.control {
            "control".to_owned()
        } else {
            row.issues.to_string()
        };
        let _ = write!(out, "{:<fixture_width$} {issues:>7}", row.fixture);
        for arm in &arms {
            let _ = write!(
                out,
                " {:>15}",
                cell(row.control, row.issues, row.by_arm.get(arm))
            );
        }
        let _ = writeln!(out);
    }
    if let Some(c) = &report.calibration {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", calibration_line(report));
        for point in &c.fixtures {
            let _ = writeln!(
                out,
                "  {:<fixture_width$} confidence {:.2}  detection {:.2}",
                point.fixture, point.stated_confidence, point.detection
            );
        }
    }
    out
}

/// The report as Markdown.
pub fn markdown(report: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Council eval\n\n{}\n", headline(report));
    if let Some(run) = &report.run_id {
        let _ = writeln!(
            out,
            "Stored as benchmark run `{run}` (suite `eval:council`).\n"
        );
    }
    let _ = writeln!(
        out,
        "## Detection per arm\n\n| arm | model | detection | found | findings on the clean \
         control | failed |\n|---|---|---:|---:|---:|---:|"
    );
    for arm in &report.arms {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {}/{} | {} | {} |",
            arm.arm.as_str(),
            arm.model,
            percent(arm.detection_rate),
            arm.issues_found,
            arm.issues_total,
            arm.control_findings,
            arm.failed
        );
    }
    let arms: Vec<Arm> = report.arms.iter().map(|a| a.arm).collect();
    let _ = write!(out, "\n## Per fixture\n\n| fixture | issues |");
    for arm in &arms {
        let _ = write!(out, " {} |", arm.as_str());
    }
    let _ = write!(out, "\n|---|---:|");
    for _ in &arms {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out);
    for row in &report.per_fixture {
        let issues = if row.control {
            "control".to_owned()
        } else {
            row.issues.to_string()
        };
        let _ = write!(out, "| {} | {issues} |", row.fixture);
        for arm in &arms {
            let _ = write!(
                out,
                " {} |",
                cell(row.control, row.issues, row.by_arm.get(arm))
            );
        }
        let _ = writeln!(out);
    }
    if let Some(c) = &report.calibration {
        let _ = writeln!(
            out,
            "\n## The checker's confidence against its detection\n\n{}\n\n| fixture | stated \
             confidence | detection |\n|---|---:|---:|",
            calibration_line(report)
        );
        for point in &c.fixtures {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} |",
                point.fixture, point.stated_confidence, point.detection
            );
        }
    }
    let _ = writeln!(
        out,
        "\nControl cells count the findings raised on a clean report (over-flagging); other \
         cells count planted issues found. `failed`: the arm gave no answer."
    );
    out
}

fn headline(report: &EvalReport) -> String {
    format!(
        "fusion eval council: {} fixtures with {} planted issues, {} clean control(s); graded \
         by {}",
        report.fixtures, report.issues, report.controls, report.graded_by
    )
}

fn calibration_line(report: &EvalReport) -> String {
    match &report.calibration {
        Some(c) => format!(
            "checker calibration ({}): stated confidence {:.2}, detection {:.2}, gap {:+.0} \
             points over {} graded fixtures",
            c.model,
            c.mean_confidence,
            c.mean_detection,
            c.gap * 100.0,
            c.fixtures.len()
        ),
        None => "checker calibration: no graded fixture with a stated confidence".to_owned(),
    }
}

fn cell(control: bool, issues: u32, value: Option<&Option<u32>>) -> String {
    match value {
        None => "-".to_owned(),
        Some(None) => "failed".to_owned(),
        Some(Some(n)) if control => format!("{n} flagged"),
        Some(Some(n)) => format!("{n}/{issues}"),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0))
}
