//! evalgate: a CI regression gate for LLM prompts and models.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod aggregate;
pub mod check;
pub mod ci;
pub mod cli;
pub mod compare;
pub mod config;
pub mod execute;
pub mod exit_codes;
pub mod gate;
pub mod git;
pub mod github;
pub mod merge;
pub mod pipeline;
pub mod plan;
pub mod privacy;
pub mod provider;
pub mod report;
pub mod results;
pub mod stats;
pub mod support;

#[cfg(test)]
pub(crate) mod test_helpers;
