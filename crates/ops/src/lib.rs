//! One function per user action, in one place: the CLI (`crates/cli`), the dashboard
//! (`crates/web`) and the gateway (`crates/gateway`) call these and only render what they
//! return. Each operation takes typed input, checks it against the program and the
//! store, writes or reads through the store, and fails with an [`OpsError`] that carries
//! a hint a person can act on. Nothing here prints, parses command lines or speaks HTTP.
//!
//! | user action | operation |
//! | --- | --- |
//! | `note add`, the field log's form | [`notes::validate`], [`notes::add`], [`notes::add_all`] |
//! | `note list`, the field log | [`notes::list`] |
//! | `note promote`, the field log's Promote | [`notes::promote`] |
//! | `baseline accept`, the tool page's form | [`baselines::accept`] |
//! | `decide add` | [`decisions::add`] |
//! | `decide review`, the decisions page | [`decisions::review`] |
//! | `plan`, the persona page's what-if | [`plan::scored_input`], [`plan::what_if`] |
//! | `friction` | [`plan::input`] |
//! | the run a page or a plan rests on, run kinds | [`runs::eval_runs`], [`runs::eval_run`], [`runs::run_kind`] |
//! | the overview's and tool page's drift | [`drift::alerts`], [`drift::timeline`] |
//! | `import promptfoo` | [`promptfoo::import`] |
//! | `keys create|list|revoke`, the gateway's authentication | [`keys`] |
//! | `capture list`, `capture promote` | [`capture::list`], [`capture::promote`] |
//! | `mix`, `--weights observed` of `eval`, `report` and `plan` | [`mix::observe`], [`mix::weigh`], [`mix::price_plan`] |

pub mod baselines;
pub mod capture;
pub mod decisions;
pub mod drift;
pub mod error;
pub mod ids;
pub mod keys;
pub mod mix;
pub mod notes;
pub mod plan;
pub mod promptfoo;
pub mod runs;
pub mod when;

pub use error::OpsError;
