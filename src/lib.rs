//! evalgate: a CI regression gate for LLM prompts and models.
//!
//! The modules follow the pipeline of DESIGN.md: `config` → `plan` → `execute` (providers, cache,
//! journal) → `check` → `aggregate` → `gate` → `report`.

pub mod aggregate;
pub mod check;
pub mod provider;
pub mod results;
pub mod secrets;
pub mod template;
