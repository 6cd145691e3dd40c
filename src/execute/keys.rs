//! Request keys and the journal's path: what names a stored response, so a replay finds exactly
//! the answer a call would have got and never one meant for another request.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::config::Model;
use crate::plan::Plan;
use crate::provider::{CallParams, ChatRequest, HttpSpec, Message};
use crate::support::fingerprint::{hash_canonical, hash_json};

/// The cache key: everything that determines the response, and nothing secret.
pub fn request_key(model: &Model, request: &ChatRequest, repeat: u32) -> String {
    hash_canonical(&KeyFields {
        repeat: Some(repeat),
        ..KeyFields::new(model, request)
    })
}

/// The cache key of a check's call: like [`request_key`], with the purpose (so a judge prompt
/// can never collide with a graded call) and the sample index in place of the repeat.
pub(super) fn check_call_key(
    purpose: &str,
    model: &Model,
    request: &ChatRequest,
    sample: u32,
) -> String {
    hash_canonical(&KeyFields {
        purpose: Some(purpose),
        sample: Some(sample),
        ..KeyFields::new(model, request)
    })
}

/// What every cache key holds: the endpoint and the request, never a secret. Graded calls add
/// their repeat, check calls their purpose and sample. Hashed as canonical JSON (keys sorted):
/// the fields are declared in that order, which spares reordering them; a field left out
/// (`None`) is absent, not `null`.
#[derive(Serialize)]
struct KeyFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    case_id: Option<&'a str>,
    command: &'a Option<Vec<String>>,
    endpoint: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a [(String, String)]>,
    http: &'a Option<HttpSpec>,
    messages: &'a [Message],
    model: &'a str,
    params: &'a CallParams,
    provider: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a [(String, String)]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<u32>,
    v: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    vars: Option<&'a serde_json::Value>,
}

impl<'a> KeyFields<'a> {
    fn new(model: &'a Model, request: &'a ChatRequest) -> Self {
        // `http` bodies and `command` programs see the case's variables and id, not only the
        // rendered messages, so those determine their answers too. (Left out for chat APIs,
        // whose keys must not change when a variable no prompt uses is added.)
        let templated = model.kind.sees_case_vars();
        KeyFields {
            v: 1,
            provider: model.kind.as_str(),
            endpoint: &model.base_url,
            http: &model.http,
            command: &model.command,
            model: &model.model,
            messages: &request.messages,
            params: &request.params,
            vars: templated.then_some(&request.vars),
            case_id: templated.then_some(request.case_id.as_str()),
            // Query parameters (Azure's `api-version`) and headers select what answers; headers
            // are keyed as written, `${ENV}` references unexpanded, so no secret enters the key.
            // Both are left out when empty so that keys of suites without them stay what they
            // were.
            query: (!model.query.is_empty()).then_some(model.query.as_slice()),
            headers: (!model.headers.is_empty()).then_some(model.headers.as_slice()),
            repeat: None,
            purpose: None,
            sample: None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{CallParams, Message, Role, ToolCall, ToolChoice, ToolDef};

    /// Models of every kind that enters a key differently: extra headers, query parameters,
    /// `extra_body` and every sampling parameter; an `http` body; a `command`.
    fn suite(dir: &Path) -> crate::config::Suite {
        std::fs::write(
            dir.join("evalgate.toml"),
            r#"
[suite]
name = "keys"

[models.chat]
provider = "openai-compatible"
base_url = "http://localhost:8080/v1"
model = "gemma"
headers = { X-Team = "evals-${CI_JOB_ID}" }
query = { api-version = "2024-10-21" }
temperature = 0.7
top_p = 0.9
max_tokens = 300
seed = 42
stop = ["\n\n", "END"]
extra_body = { response_format = { type = "json_object" }, n = 1 }

[models.ours]
provider = "http"
url = "https://bot.internal.example/v1/answer"
body = { conversation = "{{ messages }}", question = "{{ question }}", fixed = [1, 2.5, true] }
output_pointer = "/answer/text"

[models.script]
provider = "command"
command = ["python3", "answer.py"]

[prompts.p]
user = "{{ question }}"

[datasets.d]
cases = [
  { id = "a", vars = { question = "q" } },
  { vars = { question = "Ünïcödé \"quoted\"", n = -2, f = 1.5, nested = { b = [1, "x"], a = false } } },
]

[[checks]]
type = "contains"
value = "x"
"#,
        )
        .expect("write");
        crate::config::load(&dir.join("evalgate.toml")).expect("suite")
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "Answer in \"JSON\".\n\tNo \u{1} control, some ünïcödé ✓".into(),
                    ..Default::default()
                },
                Message {
                    role: Role::Assistant,
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: Some("call_1".into()),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris", "days": 3, "units": null}),
                        raw_arguments: None,
                    }],
                    ..Default::default()
                },
                Message {
                    role: Role::Tool,
                    content: "{\"temp\": -3.5}".into(),
                    tool_call_id: Some("call_1".into()),
                    ..Default::default()
                },
            ],
            params: CallParams {
                tools: vec![ToolDef {
                    name: "get_weather".into(),
                    description: Some("Weather".into()),
                    parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                }],
                tool_choice: Some(ToolChoice::Function("get_weather".into())),
                ..CallParams::default()
            },
            vars: json!({"question": "q", "n": 18446744073709551615u64, "x": -1, "f": 0.1, "list": [true, {"b": 1, "a": 2}]}),
            case_id: "case-7".into(),
        }
    }

    /// Cache keys name responses stored by earlier versions: a change to how they are computed
    /// must not change them, or every cache and journal on disk would miss.
    #[test]
    fn keys_stay_what_they_were() {
        let dir = tempfile::tempdir().expect("tempdir");
        let suite = suite(dir.path());
        let mut request = request();
        // The models' own parameters, as a run sends them, and the prompt's tools on top.
        let keys: Vec<String> = suite
            .models
            .iter()
            .flat_map(|model| {
                request.params = CallParams {
                    tools: request.params.tools.clone(),
                    tool_choice: request.params.tool_choice.clone(),
                    ..model.params.clone()
                };
                [
                    request_key(model, &request, 0),
                    request_key(model, &request, 3),
                    check_call_key("judge", model, &request, 1),
                ]
            })
            .collect();
        assert_eq!(
            keys,
            [
                "581b73028e03a7c46717e65a5d1a2606f678c250e168146cac5e0e1f183bcd13",
                "9e5968abbc70e588a84255304700dd2042f4ea06175381b1f9bb6ee7a4cb5ed4",
                "7fbf21a0db40dbefcb3112c60a4c9dafd16553431b53ffcbfa8152290ddaf324",
                "cdc803c42e1f9239c13032e0745ea3ecc2bc0304edc6c223856623e0f78e5215",
                "e848db2979d0191e783ab947c13a0aad4656b52769a01d6d168e13d0c1aa2c2b",
                "0020567c806d3874f01ff2978efe3d11d5251b4f2d7b84e6519ec46cd38d3239",
                "a74b9ebeadc4be7e077890c086aa7e73a09a04bc2a5d75afbb8c2d154188ae34",
                "c1e21ddda49e50cfe8e5bda30c90a43fdb47b301b050c4da10f1fb5ccb8b1879",
                "e3a21285be8f60c15b167f74307effcb1969a77ca089cdf7d51b49dff10102f8",
            ]
        );
        // A case without an id is named by a hash of its variables.
        assert_eq!(suite.datasets[0].cases[1].id, "7a3255534228");
        // The plan's fingerprints (which let `ci` reuse a cell), and the journal's name.
        let plan = crate::plan::plan(&suite, 2, &[]);
        let mut fingerprints: Vec<&str> =
            plan.cells.iter().map(|c| c.fingerprint.as_str()).collect();
        fingerprints.push(&plan.config_fingerprint);
        assert_eq!(
            fingerprints,
            [
                "589389d1e07da32e56c94392a12589fbe26f9e827ecb7e659003738135bce1a8",
                "94cc6528a89afbfddac818d4201018159e66e5370703b086bb6bde4b7368ac10",
                "a99fcf38d5953649a485e6104f81822c948833c03a43cdb0b6932a3ac7d7d7b4",
                "5699408597a2cef6c329c6708b538c213e01aa7114b31308f6c4b472ec6683f9",
            ]
        );
        assert_eq!(
            journal_path(Path::new("s"), &plan, &["a".into()]),
            PathBuf::from("s/journal-be9c17f8f229.jsonl")
        );
    }
}
