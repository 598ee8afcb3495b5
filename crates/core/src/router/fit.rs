//! How a model's benchmark success depends on a task's complexity: a logistic fit, per model
//! and category, of the scores of its answers against the router's own complexity estimate of
//! each task (recorded by `fusion bench`), so that the router can read a model's chance on
//! *this* task rather than its mean over easy and hard ones alike.
//!
//! `chance(c) = logistic(intercept + slope × (c − 0.5))`, fitted by penalised maximum
//! likelihood (Newton's method on two parameters; scores between 0 and 1 count as fractional
//! successes). Small ridge penalties keep it finite when every answer passed (or failed) and
//! keep the slope near 0 when the answers' complexities barely differ, so that a fit over few
//! or alike tasks reads as their mean. It is read only within the complexities it was fitted
//! on: beyond them, at the nearest one.

use serde::Serialize;

/// Ridge penalty on the intercept (keeps it finite when every answer passed or failed).
const INTERCEPT_PENALTY: f64 = 0.01;
/// Ridge penalty on the slope: small against the curvature a spread of complexities gives (60
/// answers over 0–1 give about 1), large against a spread of a few hundredths.
const SLOPE_PENALTY: f64 = 0.1;
/// Newton steps at most (it converges in under ten on any data seen).
const MAX_STEPS: usize = 50;

/// Answers at one complexity: their mean score and how many they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredAt {
    /// The router's complexity estimate of the task, 0–1.
    pub complexity: f64,
    /// Mean score, 0–1.
    pub score: f64,
    /// Answers.
    pub n: u64,
}

/// A model's chance of success in one category as a function of complexity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ComplexityFit {
    /// Log-odds of success at complexity 0.5.
    pub intercept: f64,
    /// Change of the log-odds from complexity 0 to 1 (negative: harder tasks fail more).
    pub slope: f64,
    /// Answers fitted.
    pub n: u64,
    /// The complexities the answers spanned; the fit is not read beyond them.
    pub min_complexity: f64,
    pub max_complexity: f64,
}

impl ComplexityFit {
    /// Fits `points` (points with no answers, or values that are not finite, are skipped);
    /// `None` when none is left.
    pub fn fit(points: &[ScoredAt]) -> Option<Self> {
        let usable: Vec<(f64, f64, f64)> = points
            .iter()
            .filter(|p| p.n > 0 && p.complexity.is_finite() && p.score.is_finite())
            .map(|p| {
                (
                    p.complexity.clamp(0.0, 1.0),
                    p.score.clamp(0.0, 1.0),
                    p.n as f64,
                )
            })
            .collect();
        if usable.is_empty() {
            return None;
        }
        let (mut a, mut b) = (0.0f64, 0.0f64);
        for _ in 0..MAX_STEPS {
            let (mut ga, mut gb) = (INTERCEPT_PENALTY * a, SLOPE_PENALTY * b);
            let (mut haa, mut hab, mut hbb) = (INTERCEPT_PENALTY, 0.0, SLOPE_PENALTY);
            for &(c, y, w) in &usable {
                let x = c - 0.5;
                let p = logistic(a + b * x);
                let r = w * (p - y);
                ga += r;
                gb += r * x;
                let v = w * p * (1.0 - p);
                haa += v;
                hab += v * x;
                hbb += v * x * x;
            }
            // Positive definite: the penalties are on the diagonal.
            let det = haa * hbb - hab * hab;
            if det.is_nan() || det <= 0.0 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if !(a.is_finite() && b.is_finite()) {
                return None;
            }
            if da.abs() + db.abs() < 1e-10 {
                break;
            }
        }
        let n = points.iter().filter(|p| p.n > 0).map(|p| p.n).sum();
        let min = usable.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let max = usable.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            intercept: a,
            slope: b,
            n,
            min_complexity: min,
            max_complexity: max,
        })
    }

    /// The fitted chance at `complexity`, and the complexity it was read at: `complexity`
    /// itself, or the nearest one the fit spans.
    pub fn chance_at(&self, complexity: f64) -> (f64, f64) {
        let c = if complexity.is_finite() {
            complexity.clamp(
                self.min_complexity,
                self.max_complexity.max(self.min_complexity),
            )
        } else {
            self.max_complexity
        };
        (logistic(self.intercept + self.slope * (c - 0.5)), c)
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(complexity: f64, score: f64, n: u64) -> ScoredAt {
        ScoredAt {
            complexity,
            score,
            n,
        }
    }

    #[test]
    fn a_model_that_fails_hard_tasks_is_fitted_falling_with_complexity() {
        let points: Vec<ScoredAt> = (0..=10)
            .map(|i| {
                let c = f64::from(i) / 10.0;
                at(c, if c < 0.55 { 1.0 } else { 0.0 }, 6)
            })
            .collect();
        let fit = ComplexityFit::fit(&points).unwrap();
        assert!(fit.slope < -5.0, "{fit:?}");
        assert_eq!(fit.n, 66);
        assert!(fit.chance_at(0.1).0 > 0.9, "{fit:?}");
        assert!(fit.chance_at(0.9).0 < 0.1, "{fit:?}");
        assert_eq!((fit.min_complexity, fit.max_complexity), (0.0, 1.0));
    }

    #[test]
    fn answers_at_one_complexity_read_as_their_mean_everywhere() {
        let fit = ComplexityFit::fit(&[at(0.4, 0.75, 20)]).unwrap();
        assert!(fit.slope.abs() < 0.5, "{fit:?}");
        for c in [0.0, 0.4, 1.0] {
            let (chance, read_at) = fit.chance_at(c);
            assert!((chance - 0.75).abs() < 0.01, "{c}: {chance}");
            assert_eq!(read_at, 0.4, "read at the only complexity benched");
        }
    }

    #[test]
    fn all_passed_stays_finite_and_below_one() {
        let fit = ComplexityFit::fit(&[at(0.2, 1.0, 3), at(0.3, 1.0, 3)]).unwrap();
        let (chance, _) = fit.chance_at(0.25);
        assert!(chance > 0.95 && chance < 1.0, "{fit:?}");
    }

    #[test]
    fn nothing_usable_is_no_fit() {
        assert_eq!(ComplexityFit::fit(&[]), None);
        assert_eq!(ComplexityFit::fit(&[at(0.5, 1.0, 0)]), None);
        assert_eq!(ComplexityFit::fit(&[at(f64::NAN, 1.0, 4)]), None);
    }

    #[test]
    fn the_fit_is_read_only_within_the_complexities_benched() {
        let fit = ComplexityFit::fit(&[at(0.2, 1.0, 10), at(0.5, 0.5, 10)]).unwrap();
        assert_eq!(fit.chance_at(0.9), fit.chance_at(0.5));
        assert_eq!(fit.chance_at(0.0).1, 0.2);
        assert_eq!(fit.chance_at(f64::NAN).1, 0.5);
    }
}
