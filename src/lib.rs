//! evalgate: a CI regression gate for LLM prompts and models.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod aggregate;
pub(crate) mod check;
pub(crate) mod ci;
pub mod cli;
pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod execute;
pub(crate) mod exit_codes;
pub(crate) mod gate;
pub(crate) mod git;
pub(crate) mod github;
pub(crate) mod merge;
pub(crate) mod pipeline;
pub(crate) mod plan;
pub(crate) mod privacy;
pub(crate) mod provider;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod stats;
pub(crate) mod support;

#[cfg(test)]
pub(crate) mod test_helpers;
