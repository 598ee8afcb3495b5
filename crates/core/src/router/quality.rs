//! The quality the router uses for a model on a task, and where it came from: the model's
//! benchmark record read at the task's complexity (a [`ComplexityFit`]) once it has
//! `reliable_after` answers with a recorded complexity; else its mean in the category, blended
//! with the prior by count below `reliable_after` answers; else the prior (configured, or by
//! tier).

use serde::Serialize;

use super::ModelView;
use super::fit::ComplexityFit;
use crate::config::{Category, Tier};

/// A model's benchmark record in one category: the mean score of `n` answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    pub quality: f64,
    pub n: u64,
}

/// What benchmarks measured for a model, per category: the mean score and the fit against
/// complexity (fixed arrays: a model view is built per decision and must not allocate for it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeasuredByCategory {
    means: [Option<Measured>; Category::ALL.len()],
    fits: [Option<ComplexityFit>; Category::ALL.len()],
}

impl MeasuredByCategory {
    /// The mean score in a category.
    pub fn get(&self, category: Category) -> Option<Measured> {
        self.means[category_index(category)]
    }

    pub fn set(&mut self, category: Category, measured: Measured) {
        self.means[category_index(category)] = Some(measured);
    }

    /// The fit of the scores against complexity in a category (answers with a recorded
    /// complexity only).
    pub fn fit(&self, category: Category) -> Option<ComplexityFit> {
        self.fits[category_index(category)]
    }

    pub fn set_fit(&mut self, category: Category, fit: ComplexityFit) {
        self.fits[category_index(category)] = Some(fit);
    }

    /// Each category with a mean.
    pub fn iter(&self) -> impl Iterator<Item = (Category, Measured)> + '_ {
        Category::ALL
            .iter()
            .filter_map(|c| self.get(*c).map(|m| (*c, m)))
    }

    pub fn is_empty(&self) -> bool {
        self.means.iter().all(Option::is_none) && self.fits.iter().all(Option::is_none)
    }
}

fn category_index(category: Category) -> usize {
    Category::ALL
        .iter()
        .position(|c| *c == category)
        .unwrap_or(0)
}

/// Where a quality the router used came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum QualitySource {
    /// Configured, or by tier: nothing measured yet.
    Prior,
    /// `n` ≥ `reliable_after` benchmark answers: their fit read at `complexity` (the task's, or
    /// the nearest one benchmarked), or, with `complexity` absent, their mean in the category.
    Measured {
        n: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        complexity: Option<f64>,
    },
    /// Fewer answers: `measured` (over `n`) and `prior`, weighted `n / reliable_after`.
    Blended { n: u64, measured: f64, prior: f64 },
}

/// How near a task's complexity a fit must have been read for its quality to count as measured
/// at the task's complexity (farther, it was read at the nearest complexity benched).
pub const NEAR_COMPLEXITY: f64 = 0.1;

impl QualitySource {
    /// The quality was measured at `complexity` (within [`NEAR_COMPLEXITY`]): not a mean over
    /// every complexity, nor a fit read at a complexity far from the task's.
    pub fn is_at_complexity(self, complexity: f64) -> bool {
        matches!(
            self,
            Self::Measured {
                complexity: Some(at),
                ..
            } if (at - complexity).abs() <= NEAR_COMPLEXITY + 1e-9
        )
    }
}

/// A model's quality for a task and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityEstimate {
    pub quality: f64,
    pub source: QualitySource,
}

/// The quality the router uses for a model on a task of `category` and `complexity`: its
/// benchmark fit read at that complexity once the fit has `reliable_after` answers, else
/// [`quality_estimate`] (the category's mean, blended, or the prior).
pub fn quality_at(
    model: &ModelView,
    category: Category,
    complexity: f64,
    reliable_after: u32,
) -> QualityEstimate {
    let needed = u64::from(reliable_after.max(1));
    if let Some(fit) = model.measured.fit(category)
        && fit.n >= needed
    {
        let (chance, at) = fit.chance_at(complexity);
        if chance.is_finite() {
            return QualityEstimate {
                quality: chance,
                source: QualitySource::Measured {
                    n: fit.n,
                    complexity: Some(at),
                },
            };
        }
    }
    quality_estimate(model, category, reliable_after)
}

/// The quality the router uses for a model in a category, whatever the complexity: measured
/// once it has `reliable_after` answers there, blended with the prior by count below that, the
/// prior ([`quality_for`]) with none.
pub fn quality_estimate(
    model: &ModelView,
    category: Category,
    reliable_after: u32,
) -> QualityEstimate {
    let prior = quality_for(model, category);
    match model.measured.get(category) {
        Some(m) if m.n > 0 && m.quality.is_finite() => {
            let needed = u64::from(reliable_after.max(1));
            if m.n >= needed {
                QualityEstimate {
                    quality: m.quality,
                    source: QualitySource::Measured {
                        n: m.n,
                        complexity: None,
                    },
                }
            } else {
                let weight = m.n as f64 / needed as f64;
                QualityEstimate {
                    quality: weight * m.quality + (1.0 - weight) * prior,
                    source: QualitySource::Blended {
                        n: m.n,
                        measured: m.quality,
                        prior,
                    },
                }
            }
        }
        _ => QualityEstimate {
            quality: prior,
            source: QualitySource::Prior,
        },
    }
}

/// The model's prior quality for a category: its configured value for the category, else its
/// `default`, else by tier (local 0.5, free 0.6, paid 0.8).
pub fn quality_for(model: &ModelView, category: Category) -> f64 {
    configured_quality(model, category).unwrap_or(match model.tier {
        Tier::Local => 0.5,
        Tier::Free => 0.6,
        Tier::Paid => 0.8,
    })
}

/// The prior the config gives the model for a category (`None`: only its tier's default).
pub(super) fn configured_quality(model: &ModelView, category: Category) -> Option<f64> {
    model
        .quality
        .by_category
        .get(&category)
        .copied()
        .or(model.quality.default)
}
