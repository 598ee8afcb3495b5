//! The council eval: does a council find more of a build report's hidden issues than one
//! reviewer or the loop's terse checker, and is the checker's confidence calibrated? Four arms
//! (`arms`) answer the same fixtures (`fixtures`: reports that meet their criteria on their face
//! but hide known issues, and a clean control); each answer is graded by keyword rules and,
//! when one is given, a model grader (`grade`); the results are summed up per arm and fixture
//! with the checker's confidence against its detection (`summary`), printed (`render`), and
//! kept in the bench tables, where the loop gate reads each checker model's calibration.

pub mod arms;
pub mod fixtures;
pub mod grade;
pub mod render;
pub mod summary;

use std::collections::BTreeMap;

use fusion_core::config::Config;
use fusion_core::providers::ProviderRegistry;
use fusion_core::store::{BenchRunRow, Store, now_ms};
use fusion_looped::{EVAL_COUNCIL_SUITE, LoopRole, Target, targets};
use futures::StreamExt;

pub use arms::{Arm, ArmSetup, uniform_council};
pub use fixtures::{Fixture, Issue};
pub use summary::{EvalReport, Graded};

/// Most arm × fixture jobs run at once.
pub const MAX_PARALLEL: usize = 16;

/// Who plays the arms, as asked for (each unset one defaults from the config).
#[derive(Debug, Clone, Default)]
pub struct EvalChoice {
    /// Default: the loop's checker (`[loop.roles] checker`, else the default council's judge,
    /// else the first model).
    pub checker: Option<String>,
    /// Default: the checker's model (the first model of the checker role).
    pub reviewer: Option<String>,
    /// Default: the default council.
    pub council: Option<String>,
}

/// Resolves who plays each arm, or says what is missing.
pub fn setup(
    config: &Config,
    registry: &ProviderRegistry,
    choice: &EvalChoice,
) -> Result<ArmSetup, String> {
    let known = |model: &str| registry.model(model).is_some();
    let checker_targets = targets(config, registry, LoopRole::Checker);
    let checker = match &choice.checker {
        Some(checker) => checker.clone(),
        None => checker_targets
            .first()
            .map(ToString::to_string)
            .ok_or("no model to check with: configure [[models]] or pass --checker-model")?,
    };
    match checker.strip_prefix(fusion_core::config::COUNCIL_PREFIX) {
        Some(name) if !config.councils.contains_key(name.trim()) => {
            return Err(format!(
                "--checker-model: no council named `{}`",
                name.trim()
            ));
        }
        None if !known(&checker) => {
            return Err(format!("--checker-model: no model `{checker}` is known"));
        }
        _ => {}
    }
    let reviewer = match &choice.reviewer {
        Some(reviewer) if !known(reviewer) => {
            return Err(format!("--reviewer-model: no model `{reviewer}` is known"));
        }
        Some(reviewer) => reviewer.clone(),
        None => checker_targets
            .iter()
            .find_map(|t| match t {
                Target::Model(model) => Some(model.clone()),
                Target::Council(_) => None,
            })
            .or_else(|| config.models.first().map(|m| m.id.clone()))
            .ok_or("no model to review with: pass --reviewer-model")?,
    };
    let council_name = config
        .pick_council(choice.council.as_deref())
        .map_err(|e| format!("{e} (choose with --council)"))?
        .to_owned();
    let council = config
        .councils
        .get(&council_name)
        .cloned()
        .ok_or_else(|| format!("no council named `{council_name}`"))?;
    let uniform = uniform_council(&council, &reviewer);
    Ok(ArmSetup {
        checker,
        reviewer,
        council_name,
        council,
        uniform,
    })
}

/// How an eval runs.
pub struct EvalRun<'a> {
    pub registry: &'a ProviderRegistry,
    pub config: &'a Config,
    /// Where the run and its results are kept (none: nothing is stored).
    pub store: Option<&'a Store>,
    pub setup: &'a ArmSetup,
    /// A model that grades each answer too, when given.
    pub grader: Option<&'a str>,
    /// Arm × fixture jobs at once (1 to [`MAX_PARALLEL`]).
    pub parallel: usize,
}

/// What went wrong running an eval (model failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] fusion_core::Error),
}

impl EvalRun<'_> {
    /// Runs every arm on every fixture, grades the answers, stores them (when there is a
    /// store) and sums them up. `on_result` sees each graded answer as it comes.
    pub async fn run(
        &self,
        fixtures: &[Fixture],
        on_result: &(dyn Fn(&Graded) + Sync),
    ) -> Result<EvalReport, EvalError> {
        if fixtures.is_empty() {
            return Err(EvalError::Invalid("no fixtures to evaluate".into()));
        }
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return Err(EvalError::Invalid(format!(
                "--parallel is {}; it must be 1 to {MAX_PARALLEL}",
                self.parallel
            )));
        }
        let models: BTreeMap<Arm, String> = Arm::ALL
            .iter()
            .map(|arm| (*arm, self.setup.label(*arm)))
            .collect();
        let run_id = match self.store {
            Some(store) => Some(self.start_run(store, fixtures, &models).await?),
            None => None,
        };
        let jobs = fixtures
            .iter()
            .enumerate()
            .flat_map(|(at, fixture)| Arm::ALL.iter().map(move |arm| (at, fixture, *arm)));
        let mut stream = futures::stream::iter(jobs)
            .map(|(at, fixture, arm)| async move { (at, self.grade(arm, fixture).await) })
            .buffer_unordered(self.parallel);
        let mut results = Vec::new();
        let mut grader_answered = false;
        while let Some((at, graded)) = stream.next().await {
            grader_answered |= graded.grader_found.is_some();
            if let (Some(store), Some(run_id)) = (self.store, &run_id) {
                store
                    .put_bench_result(&graded.to_row(run_id, now_ms()))
                    .await?;
            }
            on_result(&graded);
            results.push((at, graded));
        }
        results.sort_by_key(|(at, graded)| (*at, graded.arm));
        if let (Some(store), Some(run_id)) = (self.store, &run_id) {
            store
                .set_bench_run_status(run_id, "completed", Some(now_ms()))
                .await?;
        }
        let graded_by = match self.grader {
            Some(grader) if grader_answered => format!("model:{grader} (keywords where it failed)"),
            Some(grader) => format!("keywords (the grader {grader} never answered)"),
            None => "keywords".to_owned(),
        };
        Ok(EvalReport::new(
            run_id,
            graded_by,
            models,
            results.into_iter().map(|(_, graded)| graded).collect(),
        ))
    }

    async fn start_run(
        &self,
        store: &Store,
        fixtures: &[Fixture],
        models: &BTreeMap<Arm, String>,
    ) -> Result<String, EvalError> {
        let created_ms = now_ms();
        let id = format!("eval-council-{created_ms}-{}", std::process::id());
        let spec = serde_json::json!({
            "eval": "council",
            "arms": models,
            "council": self.setup.council_name,
            "grader": self.grader,
            "fixtures": fixtures.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        });
        store
            .insert_bench_run(&BenchRunRow {
                id: id.clone(),
                suites: EVAL_COUNCIL_SUITE.to_owned(),
                spec,
                status: "running".to_owned(),
                created_ms,
                finished_ms: None,
            })
            .await?;
        Ok(id)
    }

    async fn grade(&self, arm: Arm, fixture: &Fixture) -> Graded {
        let output = arms::run_arm(self.registry, self.config, self.setup, arm, fixture).await;
        let keyword_found = grade::keyword_found(fixture, &output.text);
        let (grader_found, grader_error) = match self.grader {
            // Nothing said finds nothing: no call.
            Some(_) if output.error.is_none() && output.text.trim().is_empty() => {
                (Some(Vec::new()), None)
            }
            Some(grader) if output.error.is_none() && !fixture.issues.is_empty() => {
                match grade::grade_with_model(self.registry, grader, fixture, &output.text).await {
                    Ok(found) => (Some(found), None),
                    Err(error) => (None, Some(error)),
                }
            }
            _ => (None, None),
        };
        Graded {
            arm,
            model: self.setup.label(arm),
            fixture: fixture.id.clone(),
            control: fixture.control,
            issues_total: u32::try_from(fixture.issues.len()).unwrap_or(u32::MAX),
            found: grader_found
                .clone()
                .unwrap_or_else(|| keyword_found.clone()),
            keyword_found,
            grader_found,
            grader_error,
            findings: output.findings,
            stated_confidence: output.stated_confidence,
            verdict: output.verdict,
            error: output.error,
            latency_ms: output.latency_ms,
            output_tokens: output.output_tokens,
            notes: output.notes,
            output: output.text.chars().take(summary::MAX_KEPT_OUTPUT).collect(),
        }
    }
}
