//! evalgate: a CI regression gate for LLM prompts and models.
//!
//! The modules follow the pipeline (docs/architecture.md has the full picture):
//!
//! ```text
//! config ─► plan ─► execute ─► check ─► aggregate ─► compare ─► gate ─► report ─► publish
//!                    (provider,  (grade)             (paired              (json,     (github,
//!                     store)                          stats)               junit,     ci)
//!                                                                          markdown)
//! ```
//!
//! `pipeline` drives config → gate for `evalgate run`; `ci` drives the whole Action's flow;
//! `cli` parses arguments, prints and maps outcomes to exit codes.
//!
//! # The layer rule
//!
//! A module names only modules on a layer below its own, never one above; within the suite and
//! stage layers, a later module may use an earlier one (config compiles checks; gate uses
//! compare). `tests/integration/layering.rs` fails on any `crate::` path that breaks it.
//!
//! | layer | modules |
//! |---|---|
//! | 0 leaves | `support`, `exit_codes`, `privacy::{secrets, pii, audit}` |
//! | 1 wire | `provider` |
//! | 2 contract | `results` (the results file: its types, its reader and writer) |
//! | 3 math and views of the contract | `stats`, `privacy::redact`, `git` |
//! | 4 suite | `check`, then `config` |
//! | 5 stages | `plan`, `execute`, `aggregate`, `compare`, `gate`, `merge`, in that order |
//! | 6 flows and views | `pipeline`, `report`, `github`, `import` |
//! | 7 | `ci` |
//! | 8 edge | `cli`, the only module that prints |
#![warn(clippy::print_stdout, clippy::print_stderr)]

// 0: leaves.
pub(crate) mod exit_codes;
pub(crate) mod privacy;
pub(crate) mod support;
// 1-3: the wire, the contract, and what reads it.
pub(crate) mod git;
pub(crate) mod provider;
pub(crate) mod results;
pub(crate) mod stats;
// 4: the suite.
pub(crate) mod check;
pub(crate) mod config;
// 5: the stages, in pipeline order.
pub(crate) mod plan;
pub(crate) mod execute;
pub(crate) mod aggregate;
pub(crate) mod compare;
pub(crate) mod gate;
pub(crate) mod merge;
// 6-8: flows, views and the edge.
pub(crate) mod ci;
pub mod cli;
pub(crate) mod github;
pub(crate) mod import;
pub(crate) mod pipeline;
pub(crate) mod report;

#[cfg(test)]
pub(crate) mod test_helpers;
/// Fuzz targets over suite, dataset and results files and the renderers: `docs/fuzzing.md`.
#[cfg(test)]
mod fuzz;
