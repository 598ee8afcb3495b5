//! Durable loop runs: the build/check gate's operations over the store — start a run (freezing
//! its objective and acceptance criteria), record a report, check it, have a council review it,
//! decide what comes next, read a run's status — and a deliberation round for a stored run.
//! Every step is a record in the run's trail, so runs survive restarts and any process sharing
//! the store can go on with them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::checker::{self, CheckInput};
use super::prompts;
use super::record::{Check, Decision, Report, Review, RunStatus};
use super::roles::RoleCaller;
use super::round::{self, Round};
use super::sentinel::{self, HealthReport};
use super::state::RunState;
use fusion_core::config::Config;
use fusion_core::council;
use fusion_core::error::ErrorKind;
use fusion_core::providers::{ProviderRegistry, current_caller};
use fusion_core::store::{LoopRecordKind, LoopRecordRow, LoopRunRow, Store, now_ms};

/// Longest run id a caller may choose.
const MAX_RUN_ID: usize = 100;

/// A record of a run's trail with its number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded<T> {
    pub seq: u32,
    pub created_ms: i64,
    #[serde(flatten)]
    pub record: T,
}

/// A run as the gate shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopRun {
    pub run_id: String,
    pub status: RunStatus,
    pub objective: String,
    pub acceptance_criteria: Vec<String>,
    pub first_prompt: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub caller: String,
}

/// A run with its counts and latest records (`looped_status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: LoopRun,
    pub reports: usize,
    pub checks: usize,
    pub reviews: usize,
    pub decisions: usize,
    pub latest_report: Option<Recorded<Report>>,
    pub latest_check: Option<Recorded<Check>>,
    /// The latest review without the council's whole trace.
    pub latest_review: Option<ReviewSummary>,
    pub latest_next: Option<Recorded<Decision>>,
    /// The loop's computed health now.
    pub health: HealthReport,
    /// How to get the whole trail as files.
    pub export: String,
}

/// A review in brief.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSummary {
    pub seq: u32,
    pub created_ms: i64,
    pub council: String,
    pub final_answer: String,
    pub degradation_reasons: Vec<String>,
}

/// What `looped_start` is given.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub objective: String,
    pub acceptance_criteria: Vec<String>,
    /// Chosen by the caller; default `loop_` and 16 hex digits.
    pub run_id: Option<String>,
}

/// The gate's operations over one store, registry and config.
#[derive(Clone, Copy)]
pub struct LoopRuns<'a> {
    store: &'a Store,
    pub(super) roles: RoleCaller<'a>,
}

impl<'a> LoopRuns<'a> {
    pub fn new(store: &'a Store, registry: &'a ProviderRegistry, config: &'a Config) -> Self {
        Self {
            store,
            roles: RoleCaller::new(registry, config),
        }
    }

    pub(crate) fn store(&self) -> &'a Store {
        self.store
    }

    pub(super) fn config(&self) -> &'a Config {
        self.roles.config
    }

    /// Starts a run: objective and acceptance criteria are frozen for its life.
    pub async fn start(&self, new: NewRun) -> fusion_core::Result<LoopRun> {
        let objective = new.objective.trim().to_owned();
        if objective.is_empty() {
            return Err(invalid("`objective` is empty"));
        }
        let criteria: Vec<String> = new
            .acceptance_criteria
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        let id = match new.run_id.map(|id| id.trim().to_owned()) {
            Some(id) => {
                check_run_id(&id)?;
                id
            }
            None => format!("loop_{:016x}", rand::random::<u64>()),
        };
        let now = now_ms();
        let row = LoopRunRow {
            first_prompt: prompts::first_prompt(&objective, &criteria),
            id: id.clone(),
            objective,
            acceptance_criteria: criteria,
            status: RunStatus::Started.as_str().to_owned(),
            created_ms: now,
            updated_ms: now,
            caller: current_caller().as_str().to_owned(),
        };
        if !self.store.insert_loop_run(&row).await? {
            return Err(invalid(&format!(
                "a loop run with id `{id}` exists already; continue it, or start one with \
                 another run_id"
            )));
        }
        tracing::info!(run = %id, "loop run started");
        Ok(to_run(row))
    }

    /// Records the executor's report of a step.
    pub async fn report(
        &self,
        run_id: &str,
        report: Report,
    ) -> fusion_core::Result<Recorded<Report>> {
        self.open_run(run_id).await?;
        if report.summary.trim().is_empty() {
            return Err(invalid("`summary` is required: say what this step did"));
        }
        self.append(
            run_id,
            LoopRecordKind::Report,
            &report,
            Some(RunStatus::Reported),
        )
        .await
    }

    /// Checks the latest report (recording `inline` first as a report, when given).
    pub async fn check(
        &self,
        run_id: &str,
        extra_evidence: Option<&str>,
        inline: Option<Report>,
    ) -> fusion_core::Result<Recorded<Check>> {
        let run = self.open_run(run_id).await?;
        if let Some(report) = inline {
            self.report(run_id, report).await?;
        }
        let report = self
            .latest::<Report>(run_id, LoopRecordKind::Report)
            .await?
            .ok_or_else(|| {
                invalid(&format!(
                    "loop run `{run_id}` has no report yet: call looped_report first"
                ))
            })?;
        let input = CheckInput {
            objective: &run.objective,
            criteria: &run.acceptance_criteria,
            report: &report.record,
            report_seq: report.seq,
            extra_evidence,
        };
        let mut check = checker::check(&self.roles, &input).await;
        self.apply_calibration(&mut check).await?;
        self.append(
            run_id,
            LoopRecordKind::Check,
            &check,
            Some(RunStatus::Checked),
        )
        .await
    }

    /// A council reviews the latest report with its check (`council`, else
    /// `loop.review_council`, else the default council).
    pub async fn review(
        &self,
        run_id: &str,
        question: Option<&str>,
        council_name: Option<&str>,
    ) -> fusion_core::Result<Recorded<Review>> {
        let run = self.open_run(run_id).await?;
        let report = self
            .latest::<Report>(run_id, LoopRecordKind::Report)
            .await?
            .ok_or_else(|| {
                invalid(&format!(
                    "loop run `{run_id}` has no report to review: call looped_report first"
                ))
            })?;
        let check = self
            .latest::<Check>(run_id, LoopRecordKind::Check)
            .await?
            .filter(|c| c.record.report_seq == report.seq);
        let config = self.config();
        let wanted = council_name.or(config.looped.review_council.as_deref());
        let name = config.pick_council(wanted).map_err(|m| invalid(&m))?;
        let council_config = config
            .councils
            .get(name)
            .ok_or_else(|| invalid(&format!("no council named `{name}`")))?;
        let prompt = prompts::review_prompt(
            &run.objective,
            &run.acceptance_criteria,
            &report.record,
            check.as_ref().map(|c| &c.record),
            question,
        );
        let result = council::run(self.roles.registry, name, council_config, &prompt, None).await;
        let review = Review {
            report_seq: report.seq,
            check_seq: check.map(|c| c.seq),
            council: name.to_owned(),
            final_answer: result.final_answer.clone(),
            fusion: result,
        };
        self.append(
            run_id,
            LoopRecordKind::Review,
            &review,
            Some(RunStatus::Reviewed),
        )
        .await
    }

    /// A deliberation round for a stored run: its state from the trail (step overridable),
    /// the decision kept in the trail. A complete run is refused.
    pub async fn deliberate(&self, run_id: &str, step: Option<u32>) -> fusion_core::Result<Round> {
        let run = self.open_run(run_id).await?;
        let trail = self.trail(&run).await?;
        let mut state = trail.state.clone();
        if step.is_some() {
            state.step = step;
        }
        let mut decision = round::deliberate(&self.roles, &run.objective, &state, now_ms()).await;
        decision.report_seq = trail.reports.last().map(|r| r.seq);
        let status = Some(decision.status.run_status());
        let recorded = self
            .append(run_id, LoopRecordKind::Decision, &decision, status)
            .await?;
        Ok(Round {
            objective: run.objective,
            run_id: Some(run.run_id),
            step: state.step.unwrap_or(1),
            state,
            decision: recorded.record,
            decision_seq: Some(recorded.seq),
        })
    }

    /// A deliberation round over a state given by the caller (not stored).
    pub async fn deliberate_state(&self, objective: &str, state: RunState) -> Round {
        let decision = round::deliberate(&self.roles, objective, &state, now_ms()).await;
        Round {
            objective: objective.to_owned(),
            run_id: None,
            step: state.step.unwrap_or(1),
            state,
            decision,
            decision_seq: None,
        }
    }

    /// A run with its counts and latest records.
    pub async fn status(&self, run_id: &str) -> fusion_core::Result<RunView> {
        let run = self.run(run_id).await?;
        let records = self.store.loop_records(run_id, None).await?;
        let count = |kind| records.iter().filter(|r| r.kind == kind).count();
        let latest_review =
            latest_of::<Review>(&records, LoopRecordKind::Review)?.map(|r| ReviewSummary {
                seq: r.seq,
                created_ms: r.created_ms,
                council: r.record.council,
                final_answer: r.record.final_answer,
                degradation_reasons: r.record.fusion.degradation_reasons,
            });
        let trail = self.trail_of(&run, &records)?;
        Ok(RunView {
            reports: count(LoopRecordKind::Report),
            checks: count(LoopRecordKind::Check),
            reviews: count(LoopRecordKind::Review),
            decisions: count(LoopRecordKind::Decision),
            latest_report: latest_of(&records, LoopRecordKind::Report)?,
            latest_check: latest_of(&records, LoopRecordKind::Check)?,
            latest_review,
            latest_next: latest_of(&records, LoopRecordKind::Decision)?,
            health: trail.health,
            export: format!("fusion loop export {} DIR", run.run_id),
            run,
        })
    }

    /// Runs, most recently updated first.
    pub async fn list(&self, limit: u32) -> fusion_core::Result<Vec<LoopRun>> {
        Ok(self
            .store
            .list_loop_runs(limit)
            .await?
            .into_iter()
            .map(to_run)
            .collect())
    }

    /// The run, or `LoopRunNotFound`.
    pub async fn run(&self, run_id: &str) -> fusion_core::Result<LoopRun> {
        match self.store.loop_run(run_id.trim()).await? {
            Some(row) => Ok(to_run(row)),
            None => Err(ErrorKind::LoopRunNotFound {
                id: run_id.to_owned(),
            }
            .into()),
        }
    }

    /// The run, refused once complete.
    pub(super) async fn open_run(&self, run_id: &str) -> fusion_core::Result<LoopRun> {
        let run = self.run(run_id).await?;
        if run.status == RunStatus::Complete {
            return Err(ErrorKind::LoopRunClosed {
                id: run.run_id,
                status: run.status.as_str().to_owned(),
            }
            .into());
        }
        Ok(run)
    }

    pub(super) async fn trail(&self, run: &LoopRun) -> fusion_core::Result<Trail> {
        let records = self.store.loop_records(&run.run_id, None).await?;
        self.trail_of(run, &records)
    }

    fn trail_of(&self, run: &LoopRun, records: &[LoopRecordRow]) -> fusion_core::Result<Trail> {
        let reports: Vec<Recorded<Report>> = all_of(records, LoopRecordKind::Report)?;
        let check = latest_of::<Check>(records, LoopRecordKind::Check)?
            .filter(|c| Some(c.record.report_seq) == reports.last().map(|r| r.seq));
        let review = latest_of::<Review>(records, LoopRecordKind::Review)?.filter(|r| {
            check
                .as_ref()
                .is_some_and(|c| r.record.check_seq == Some(c.seq))
        });
        let row = LoopRunRow {
            id: run.run_id.clone(),
            objective: run.objective.clone(),
            acceptance_criteria: run.acceptance_criteria.clone(),
            status: run.status.as_str().to_owned(),
            first_prompt: run.first_prompt.clone(),
            created_ms: run.created_ms,
            updated_ms: run.updated_ms,
            caller: run.caller.clone(),
        };
        let report_bodies: Vec<Report> = reports.iter().map(|r| r.record.clone()).collect();
        let last_ms = records.iter().map(|r| r.created_ms).max();
        let now = now_ms();
        let state = RunState::from_trail(&row, &report_bodies, last_ms, now);
        let health = sentinel::assess(&state, &self.config().looped, now);
        Ok(Trail {
            reports,
            check,
            review,
            state,
            health,
        })
    }

    pub(super) async fn latest<T: DeserializeOwned>(
        &self,
        run_id: &str,
        kind: LoopRecordKind,
    ) -> fusion_core::Result<Option<Recorded<T>>> {
        self.store
            .latest_loop_record(run_id, kind)
            .await?
            .map(|row| decode(&row))
            .transpose()
    }

    pub(super) async fn append<T: Serialize + DeserializeOwned>(
        &self,
        run_id: &str,
        kind: LoopRecordKind,
        record: &T,
        status: Option<RunStatus>,
    ) -> fusion_core::Result<Recorded<T>> {
        let body = serde_json::to_value(record)
            .map_err(|e| invalid(&format!("cannot encode the {}: {e}", kind.as_str())))?;
        let now = now_ms();
        let seq = self
            .store
            .append_loop_record(run_id, kind, &body, status.map(RunStatus::as_str), now)
            .await?
            .ok_or_else(|| ErrorKind::LoopRunNotFound {
                id: run_id.to_owned(),
            })?;
        let record = serde_json::from_value(body)
            .map_err(|e| invalid(&format!("cannot decode the {}: {e}", kind.as_str())))?;
        Ok(Recorded {
            seq,
            created_ms: now,
            record,
        })
    }
}

/// What the gate reads of a run's trail.
pub(super) struct Trail {
    pub(super) reports: Vec<Recorded<Report>>,
    /// The check of the latest report.
    pub(super) check: Option<Recorded<Check>>,
    /// The review of that check.
    pub(super) review: Option<Recorded<Review>>,
    pub(super) state: RunState,
    pub(super) health: HealthReport,
}

fn to_run(row: LoopRunRow) -> LoopRun {
    LoopRun {
        status: RunStatus::parse(&row.status).unwrap_or(RunStatus::Started),
        run_id: row.id,
        objective: row.objective,
        acceptance_criteria: row.acceptance_criteria,
        first_prompt: row.first_prompt,
        created_ms: row.created_ms,
        updated_ms: row.updated_ms,
        caller: row.caller,
    }
}

/// A stored record as its type.
pub fn decode<T: DeserializeOwned>(row: &LoopRecordRow) -> fusion_core::Result<Recorded<T>> {
    let record = serde_json::from_value(row.body.clone()).map_err(|e| {
        let message = format!(
            "loop run `{}`: {} {} cannot be read: {e}",
            row.run_id,
            row.kind.as_str(),
            row.seq
        );
        ErrorKind::Store(fusion_core::store::StoreError::caused_by(message, e))
    })?;
    Ok(Recorded {
        seq: row.seq,
        created_ms: row.created_ms,
        record,
    })
}

fn all_of<T: DeserializeOwned>(
    records: &[LoopRecordRow],
    kind: LoopRecordKind,
) -> fusion_core::Result<Vec<Recorded<T>>> {
    let mut out: Vec<Recorded<T>> = records
        .iter()
        .filter(|r| r.kind == kind)
        .map(decode)
        .collect::<fusion_core::Result<_>>()?;
    out.sort_by_key(|r| r.seq);
    Ok(out)
}

fn latest_of<T: DeserializeOwned>(
    records: &[LoopRecordRow],
    kind: LoopRecordKind,
) -> fusion_core::Result<Option<Recorded<T>>> {
    records
        .iter()
        .filter(|r| r.kind == kind)
        .max_by_key(|r| r.seq)
        .map(decode)
        .transpose()
}

fn check_run_id(id: &str) -> fusion_core::Result<()> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if id.is_empty() || id.len() > MAX_RUN_ID || !ok_chars || id.starts_with('.') {
        return Err(invalid(&format!(
            "`run_id` `{id}` is not usable: up to {MAX_RUN_ID} letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

pub(super) fn invalid(message: &str) -> fusion_core::Error {
    ErrorKind::Invalid(message.to_owned()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_file_safe() {
        assert!(check_run_id("build-42_a.b").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
        assert!(check_run_id(&"x".repeat(101)).is_err());
    }
}
