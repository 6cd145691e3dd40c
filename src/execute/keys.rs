//! Request keys and the journal's path: what names a stored response, so a replay finds exactly
//! the answer a call would have got and never one meant for another request.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::config::Model;
use crate::plan::Plan;
use crate::provider::{ChatRequest, ProviderKind};
use crate::support::fingerprint::hash_json;

/// The cache key: everything that determines the response, and nothing secret.
pub fn request_key(model: &Model, request: &ChatRequest, repeat: u32) -> String {
    let mut key = request_fields(model, request);
    key["repeat"] = json!(repeat);
    hash_json(&key)
}

/// The cache key of a check's call: like [`request_key`], with the purpose (so a judge prompt
/// can never collide with a graded call) and the sample index in place of the repeat.
pub(super) fn check_call_key(
    purpose: &str,
    model: &Model,
    request: &ChatRequest,
    sample: u32,
) -> String {
    let mut key = request_fields(model, request);
    key["purpose"] = json!(purpose);
    key["sample"] = json!(sample);
    hash_json(&key)
}

/// What every cache key holds: the endpoint and the request, never a secret. Graded calls add
/// their repeat, check calls their purpose and sample.
fn request_fields(model: &Model, request: &ChatRequest) -> serde_json::Value {
    let mut key = json!({
        "v": 1,
        "provider": model.kind.as_str(),
        "endpoint": model.base_url,
        "http": model.http,
        "command": model.command,
        "model": model.model,
        "messages": request.messages,
        "params": request.params,
    });
    // `http` bodies and `command` programs see the case's variables and id, not only the
    // rendered messages, so those determine their answers too. (Left out for chat APIs, whose
    // keys must not change when a variable no prompt uses is added.)
    if matches!(model.kind, ProviderKind::Http | ProviderKind::Command) {
        key["vars"] = request.vars.clone();
        key["case_id"] = json!(request.case_id);
    }
    // Query parameters (Azure's `api-version`) and headers select what answers; headers are
    // keyed as written, `${ENV}` references unexpanded, so no secret enters the key. Both are
    // left out when empty so that keys of suites without them stay what they were.
    if !model.query.is_empty() {
        key["query"] = json!(model.query);
    }
    if !model.headers.is_empty() {
        key["headers"] = json!(model.headers);
    }
    key
}

/// Where a run keeps its journal: one file per (suite, plan), removed once the results file is
/// written.
pub fn journal_path(state_dir: &Path, plan: &Plan, filters: &[String]) -> PathBuf {
    let key = hash_json(
        &json!({"plan": plan.config_fingerprint, "repeats": plan.repeats, "filters": filters}),
    );
    state_dir.join(format!(
        "journal-{}.jsonl",
        crate::support::fingerprint::short(&key)
    ))
}
