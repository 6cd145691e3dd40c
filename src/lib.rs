//! evalgate: a CI regression gate for LLM prompts and models.
//!
//! The modules follow the pipeline of DESIGN.md: `config` → `plan` → `execute` (providers,
//! `store` for the cache and journal) → `check` → `aggregate` → `compare` (paired `stats`
//! against a baseline) → `gate` → `report`; `merge` joins the results of a sharded run. `cli` is
//! the edge that parses arguments and maps errors to exit codes.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod aggregate;
pub mod audit;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod execute;
pub mod exit_codes;
pub mod fingerprint;
pub mod gate;
pub mod git;
pub mod github;
pub mod merge;
pub mod pii;
pub mod plan;
pub mod process;
pub mod progress;
pub mod provider;
pub mod redact;
pub mod report;
pub mod results;
pub mod secrets;
pub mod stats;
pub mod store;
pub mod template;
