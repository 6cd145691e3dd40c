//! evalgate: a CI regression gate for LLM prompts and models.
//!
//! The modules follow the pipeline of DESIGN.md: `config` → `plan` → `execute` (providers, cache,
//! journal) → `check` → `aggregate` → `gate` → `report`.

pub mod check;
pub mod cli;
pub mod config;
pub mod execute;
pub mod exit_codes;
pub mod fingerprint;
pub mod git;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod results;
pub mod secrets;
pub mod store;
pub mod template;
