//! evalgate: a CI regression gate for LLM prompts and models.
//!
//! The modules follow the pipeline of DESIGN.md: `config` → `plan` → `execute` (providers, cache,
//! journal) → `check` → `aggregate` → `gate` → `report`.

pub mod aggregate;
pub mod check;
pub mod gate;
pub mod provider;
pub mod report;
pub mod results;
pub mod secrets;
pub mod template;
