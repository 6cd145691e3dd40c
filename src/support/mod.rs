//! Leaves that every layer may use: number and text formats, file writing, fingerprints,
//! templates, child processes, signals, "did you mean". Nothing here names another evalgate module.

pub mod exact;
pub mod fingerprint;
pub mod fmt;
pub mod foreign;
pub mod fs;
pub mod process;
pub mod signals;
pub mod suggest;
pub mod template;
pub mod text;
