//! The registry's copy of what benchmarks measured (`fusion bench`; the store's
//! `measured_quality` and `measured_by_complexity`): per model id and category, the mean score
//! with its count, and the fit of the scores against the router's complexity estimate of each
//! task. Read from the store at start and after every bench, held in memory, and put into each
//! model's view for the router, which reads the fit at a task's complexity (or, without enough
//! answers, the mean, blended with the prior until `router.reliable_after` answers). A council's
//! `fusion eval council` record (model `council:<name>`, category `review`) is kept under
//! `council:<name>` in every category: the rating of the escalation council where `fusion
//! bench` has not measured `fusion/<name>` (see `crate::router::CouncilView`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

use super::registry::ProviderRegistry;
use crate::Result;
use crate::config::Category;
use crate::router::{ComplexityFit, Measured, MeasuredByCategory, ScoredAt};
use crate::store::{MeasuredAtComplexity, MeasuredQuality, Store};

/// The category `fusion eval council` records its answers under.
const EVAL_COUNCIL_CATEGORY: &str = "review";
/// How `fusion eval council` names a council's arm: `council:<name>`.
pub(super) const EVAL_COUNCIL_PREFIX: &str = "council:";

impl ProviderRegistry {
    /// Replaces the measured qualities held with `means` and the fits of `by_complexity`
    /// (rows of unknown categories are skipped: a category the router does not know cannot
    /// steer it).
    pub fn set_measured(&self, means: &[MeasuredQuality], by_complexity: &[MeasuredAtComplexity]) {
        let mut table: HashMap<String, MeasuredByCategory> = HashMap::new();
        for row in means {
            if row.category == EVAL_COUNCIL_CATEGORY && row.model.starts_with(EVAL_COUNCIL_PREFIX) {
                let reviewed = table.entry(row.model.clone()).or_default();
                for category in Category::ALL {
                    reviewed.set(
                        category,
                        Measured {
                            quality: row.mean_score.clamp(0.0, 1.0),
                            n: row.n,
                        },
                    );
                }
                continue;
            }
            let Some(category) = Category::parse(&row.category) else {
                continue;
            };
            table.entry(row.model.clone()).or_default().set(
                category,
                Measured {
                    quality: row.mean_score.clamp(0.0, 1.0),
                    n: row.n,
                },
            );
        }
        let mut points: BTreeMap<(&str, Category), Vec<ScoredAt>> = BTreeMap::new();
        for row in by_complexity {
            let Some(category) = Category::parse(&row.category) else {
                continue;
            };
            points
                .entry((row.model.as_str(), category))
                .or_default()
                .push(ScoredAt {
                    complexity: row.complexity,
                    score: row.mean_score,
                    n: row.n,
                });
        }
        for ((model, category), points) in points {
            if let Some(fit) = ComplexityFit::fit(&points) {
                table
                    .entry(model.to_owned())
                    .or_default()
                    .set_fit(category, fit);
            }
        }
        *self
            .measured
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// Reads the measured qualities from the store again (after a bench).
    pub async fn reload_measured(&self, store: &Store) -> Result<()> {
        let means = store.measured_quality().await?;
        let by_complexity = store.measured_by_complexity().await?;
        self.set_measured(&means, &by_complexity);
        Ok(())
    }

    /// The measured table (a snapshot; cheap).
    pub(super) fn measured_table(&self) -> Arc<HashMap<String, MeasuredByCategory>> {
        Arc::clone(&self.measured.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// What benchmarks measured for a model, per category.
    pub fn measured(&self, id: &str) -> MeasuredByCategory {
        self.measured_table().get(id).copied().unwrap_or_default()
    }
}
