//! Evaluations on fixed evidence: `council` (does a council find more of a build report's
//! hidden issues than one reviewer or a terse checker, and is the checker's confidence
//! calibrated?) and `routing` (what the router's choices cost and score against baselines).

pub mod council;
pub mod routing;
