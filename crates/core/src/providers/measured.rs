//! The registry's copy of what benchmarks measured (`fusion bench`; the store's
//! `measured_quality`): per model id and category, the mean score and its count. Read from the
//! store at start and after every bench, held in memory, and put into each model's view for
//! the router, which blends it with the prior until `router.reliable_after` answers.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use super::registry::ProviderRegistry;
use crate::Result;
use crate::config::Category;
use crate::router::{Measured, MeasuredByCategory};
use crate::store::{MeasuredQuality, Store};

impl ProviderRegistry {
    /// Replaces the measured qualities held with `rows` (rows of unknown categories are
    /// skipped: a category the router does not know cannot steer it).
    pub fn set_measured(&self, rows: &[MeasuredQuality]) {
        let mut table: HashMap<String, MeasuredByCategory> = HashMap::new();
        for row in rows {
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
        *self
            .measured
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// Reads the measured qualities from the store again (after a bench).
    pub async fn reload_measured(&self, store: &Store) -> Result<()> {
        self.set_measured(&store.measured_quality().await?);
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
