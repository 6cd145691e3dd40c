//! Integration tests: the `evalgate` binary against suites in temporary folders and fake
//! providers on this machine (wiremock). No test reaches beyond localhost.

mod action;
mod batch;
mod ci;
mod cli_errors;
mod compare;
mod fixtures;
mod import;
mod init;
mod judges;
mod layering;
mod plan;
mod prompt_cache;
mod providers;
mod report;
mod resume;
mod robustness;
mod run;
mod secrets;
mod shard;
mod spend_cap;
