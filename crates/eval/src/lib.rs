//! Proximity's evaluation: the runner (tools × cases × samples, concurrency, retries,
//! response cache, budget, resume), assertions and verdicts.

pub mod assertions;
pub mod detect;
pub mod probe;
pub mod runner;
pub mod suites;
pub mod verdict;
pub mod worker;

pub use assertions::{evaluate_all, Context, Judge};
pub use verdict::{classify, Observed};
