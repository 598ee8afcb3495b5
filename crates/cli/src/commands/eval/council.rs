//! `fusion eval council`: the four arms (the loop's checker, a single reviewer, a council of
//! diverse members, a council with one model in every seat) on the fixtures with hidden issues,
//! graded by keywords and optionally a model; a table on stdout (or `--json`), JSON and
//! Markdown in `--out DIR`, and the results kept in the store, where the loop gate learns each
//! checker model's calibration. The work is `fusion_bench::eval::council`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use fusion_bench::eval::council::{self as eval, EvalChoice, EvalRun, Fixture, Graded, render};
use fusion_core::providers::as_caller;
use fusion_core::store::Caller;

use crate::commands::start;

/// What `fusion eval council` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CouncilArgs {
    /// The checker arm: a model id or council:NAME (default: the loop's checker role).
    #[arg(long, value_name = "MODEL")]
    pub checker_model: Option<String>,
    /// The single reviewer's model, also in every seat of the one-model council (default: the
    /// checker's model).
    #[arg(long, value_name = "MODEL")]
    pub reviewer_model: Option<String>,
    /// The council of diverse members (default: the default council).
    #[arg(long, value_name = "NAME")]
    pub council: Option<String>,
    /// A model that also grades each answer (strict JSON, yes or no per issue); its verdicts
    /// count where it answered, the keyword rules elsewhere.
    #[arg(long, value_name = "MODEL")]
    pub grader_model: Option<String>,
    /// Fixtures from this directory (*.toml) instead of the built-in set.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Only these fixtures (ids, comma-separated).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Arm × fixture jobs at once (1 to 16).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub parallel: usize,
    /// Print the whole report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write council-eval.json and council-eval.md into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep nothing in the store (the loop gate will not learn this eval's calibration).
    #[arg(long)]
    pub no_store: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

pub async fn run(config: Option<&Path>, args: &CouncilArgs) -> anyhow::Result<ExitCode> {
    // Bad fixtures or options cost no model call.
    let fixtures = pick_fixtures(args)?;
    if !(1..=eval::MAX_PARALLEL).contains(&args.parallel) {
        bail!(
            "--parallel is {}; it must be 1 to {}",
            args.parallel,
            eval::MAX_PARALLEL
        );
    }
    let runtime = start(config).await?;
    let outcome = as_caller(Caller::Cli, evaluate(&runtime, args, &fixtures)).await;
    runtime.shutdown().await;
    let report = outcome?;

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render::text(&report))?;
    }
    out.flush()?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --out {}", dir.display()))?;
        let json = serde_json::to_string_pretty(&report)?;
        for (name, text) in [
            ("council-eval.json", json),
            ("council-eval.md", render::markdown(&report)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if !args.quiet {
            eprintln!(
                "fusion: wrote council-eval.json and council-eval.md to {}",
                dir.display()
            );
        }
    }
    if report.results.iter().all(|r| r.error.is_some()) {
        eprintln!("fusion: no arm answered any fixture; see `error` in --json");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn evaluate(
    runtime: &fusion_core::runtime::Runtime,
    args: &CouncilArgs,
    fixtures: &[Fixture],
) -> anyhow::Result<eval::EvalReport> {
    let now = runtime.snapshot();
    let choice = EvalChoice {
        checker: args.checker_model.clone(),
        reviewer: args.reviewer_model.clone(),
        council: args.council.clone(),
    };
    let setup = eval::setup(&now.config, &now.registry, &choice).map_err(anyhow::Error::msg)?;
    if let Some(grader) = &args.grader_model
        && now.registry.model(grader).is_none()
    {
        bail!("--grader-model: no model `{grader}` is known");
    }
    let store = if args.no_store {
        None
    } else {
        Some(runtime.require_store()?)
    };
    let run = EvalRun {
        registry: &now.registry,
        config: &now.config,
        store,
        setup: &setup,
        grader: args.grader_model.as_deref(),
        parallel: args.parallel,
    };
    let quiet = args.quiet;
    let progress = move |graded: &Graded| {
        if quiet {
            return;
        }
        let outcome = match (&graded.error, graded.control) {
            (Some(error), _) => format!("failed: {error}"),
            (None, true) => format!("{} finding(s) on the clean control", graded.findings),
            (None, false) => format!(
                "{}/{} issues found",
                graded.found.len(),
                graded.issues_total
            ),
        };
        eprintln!(
            "fusion: eval: {} on {}: {outcome}",
            graded.arm, graded.fixture
        );
    };
    Ok(run.run(fixtures, &progress).await?)
}

fn pick_fixtures(args: &CouncilArgs) -> anyhow::Result<Vec<Fixture>> {
    let all = match &args.fixtures {
        Some(dir) => eval::fixtures::load_dir(dir),
        None => eval::fixtures::builtin(),
    }
    .map_err(anyhow::Error::msg)
    .context("fixtures")?;
    if args.only.is_empty() {
        return Ok(all);
    }
    if let Some(unknown) = args
        .only
        .iter()
        .find(|id| !all.iter().any(|f| &f.id == *id))
    {
        let known: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
        bail!(
            "--only: no fixture `{unknown}`; the fixtures are {}",
            known.join(", ")
        );
    }
    Ok(all
        .into_iter()
        .filter(|f| args.only.contains(&f.id))
        .collect())
}
