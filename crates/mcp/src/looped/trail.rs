//! `fusion mcp --root-dir DIR`: after every loop tool call that changed a run, the run's trail
//! is written to `DIR/<run_id>/` in the council project's layout (`state.json`,
//! `report-N.json`, `check-N.json`, `fusion-review-N.json`, `next-N.json`), where its users'
//! scripts read it. The store stays the source of truth; a write that fails is logged and the
//! call still answers.

use std::path::Path;

use fusion_looped::{Layout, LoopRuns, export_run_as};
use serde_json::Value;

/// Writes the trail of the run a step's structured answer names.
pub(super) async fn write(runs: &LoopRuns<'_>, root: &Path, structured: &Value) {
    let Some(run_id) = structured.get("run_id").and_then(Value::as_str) else {
        return;
    };
    let dir = root.join(run_id);
    if let Err(err) = export_run_as(runs, run_id, &dir, Layout::Flat).await {
        tracing::warn!(run = %run_id, dir = %dir.display(), "cannot write the run's trail: {err}");
    }
}
