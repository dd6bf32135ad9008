//! Proximity's evaluation: the run API ([`runner`]: tools × cases × samples, concurrency,
//! retries, response cache, budget, resume) over cases held in memory or read from the
//! [`runner::suites`] as it goes, the queue [`worker`], assertions, verdicts and the probes.

pub mod assertions;
pub mod degenerate;
pub mod detect;
pub mod probe;
pub mod runner;
pub mod trace;

pub mod verdict;
pub mod worker;

pub use assertions::{evaluate_all, Context, Judge};
pub use verdict::{classify, Observed};
