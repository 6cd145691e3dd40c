//! Names other eval tools use (promptfoo's, above all, and the providers people know by name) for
//! what evalgate calls something else, each with what to write instead.
//!
//! A generic "did you mean" misleads on these: `contains-all` is nearest to `contains`, which
//! passes when *any* value occurs, and `not-equals` to `equals`, its opposite. So these names are
//! looked up here first, and the error says how evalgate expresses the same thing.

/// Check types of other tools → what to write in evalgate.
const CHECKS: &[(&[&str], &str)] = &[
    (
        &["contains-all"],
        "write `type = \"contains\"` with `values = [...]` and `mode = \"all\"`: every value must \
         occur (without `mode = \"all\"`, one is enough)",
    ),
    (
        &["icontains-all"],
        "write `type = \"icontains\"` with `values = [...]` and `mode = \"all\"`: every value must \
         occur, ignoring case (without `mode = \"all\"`, one is enough)",
    ),
    (
        &["contains-any"],
        "write `type = \"contains\"` with `values = [...]`: it passes when any value occurs \
         (`mode = \"any\"` is the default)",
    ),
    (
        &["icontains-any"],
        "write `type = \"icontains\"` with `values = [...]`: it passes when any value occurs, \
         ignoring case (`mode = \"any\"` is the default)",
    ),
    (
        &["not-contains-any"],
        "write `type = \"not-contains\"` with `values = [...]`: it fails when any value occurs \
         (`mode = \"any\"` is the default)",
    ),
    (
        &["not-icontains-any"],
        "write `type = \"not-icontains\"` with `values = [...]`: it fails when any value occurs, \
         ignoring case (`mode = \"any\"` is the default)",
    ),
    (
        &["not-contains-all"],
        "write `type = \"not-contains\"` with `values = [...]` and `mode = \"all\"`: it fails only \
         when every value occurs",
    ),
    (
        &["not-icontains-all"],
        "write `type = \"not-icontains\"` with `values = [...]` and `mode = \"all\"`: it fails only \
         when every value occurs, ignoring case",
    ),
    (
        &["not-equals", "not-starts-with"],
        "evalgate has no negated `equals` or `starts-with`: write `type = \"not-regex\"` with an \
         anchored `pattern` (`'^exact text$'`, `'^prefix'`; escape regex metacharacters)",
    ),
    (
        &["contains-json", "is-valid-json"],
        "write `type = \"is-json\"` (or `json-schema` with a `schema`); add \
         `extract = \"first\"` to read the first JSON value inside other text, or \
         `extract = \"fenced\"` for a fenced ```json block",
    ),
    (
        &["llm-rubric", "model-graded-closedqa", "g-eval"],
        "write `type = \"llm-judge\"` with `rubric = \"...\"` and `judge = \"MODEL\"` (the id of a \
         model in `[models]`)",
    ),
    (
        &["factuality", "model-graded-factuality"],
        "write `type = \"llm-judge\"` with `judge = \"MODEL\"` (the id of a model in `[models]`), \
         `reference = \"{{ expected }}\"` and a `rubric` saying the answer must agree with the \
         reference",
    ),
    (
        &["javascript", "python", "webhook"],
        "write `type = \"command\"` with `command = [\"python3\", \"grade.py\"]`: your own grader, \
         in any language (see docs/checks-graders.md)",
    ),
    (
        &["levenshtein"],
        "write `type = \"similarity\"` (Levenshtein unless `method` says otherwise) with `value` \
         and `threshold`: the threshold is a similarity ratio between 0 and 1 (default 0.8), not \
         an edit distance",
    ),
    (
        &["is-refusal"],
        "write `type = \"refusal\"` with `expect = \"refusal\"`: without it, the check fails on a \
         refusal",
    ),
    (
        &["not-is-refusal"],
        "write `type = \"refusal\"`: by default it fails when the answer is a refusal",
    ),
];

/// Providers of other tools → what to write in evalgate.
const PROVIDERS: &[(&[&str], &str)] = &[
    (
        &["azure", "azureopenai", "azure-openai"],
        "Azure OpenAI speaks OpenAI's protocol with its key in an `api-key` header: write \
         `provider = \"openai-compatible\"`, `base_url = \
         \"https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT\"`, `query = { \
         api-version = \"2024-10-21\" }` and `headers = { api-key = \"${AZURE_OPENAI_KEY}\" }`",
    ),
    (
        &["ollama"],
        "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:11434/v1\"` \
         (Ollama's OpenAI-compatible API)",
    ),
    (
        &["vllm"],
        "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:8000/v1\"` \
         (vLLM's OpenAI-compatible server)",
    ),
    (
        &["llamacpp", "llama-cpp", "llama.cpp"],
        "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:8080/v1\"` \
         (llama.cpp's `llama-server`)",
    ),
    (
        &["lmstudio", "lm-studio"],
        "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:1234/v1\"` \
         (LM Studio's local server)",
    ),
    (
        &["litellm"],
        "write `provider = \"openai-compatible\"` with `base_url = \"http://localhost:4000/v1\"` \
         (the LiteLLM proxy)",
    ),
    (
        &["openrouter"],
        "write `provider = \"openai-compatible\"` with `base_url = \
         \"https://openrouter.ai/api/v1\"` and `api_key_env = \"OPENROUTER_API_KEY\"`",
    ),
    (
        &["groq"],
        "write `provider = \"openai-compatible\"` with `base_url = \
         \"https://api.groq.com/openai/v1\"` and `api_key_env = \"GROQ_API_KEY\"`",
    ),
    (
        &["mistral"],
        "write `provider = \"openai-compatible\"` with `base_url = \"https://api.mistral.ai/v1\"` \
         and `api_key_env = \"MISTRAL_API_KEY\"`",
    ),
    (
        &["bedrock", "aws-bedrock", "amazon-bedrock"],
        "evalgate has no Bedrock provider: call Bedrock through an OpenAI-compatible gateway (the LiteLLM \
         proxy: `provider = \"openai-compatible\"`, `base_url = \"http://localhost:4000/v1\"`), or through your own endpoint with `provider = \"http\"`",
    ),
    (
        &["vertex", "vertexai", "vertex-ai"],
        "evalgate has no Vertex AI provider: call Vertex through an OpenAI-compatible gateway (the LiteLLM \
         proxy: `provider = \"openai-compatible\"`, `base_url = \"http://localhost:4000/v1\"`), or through your own endpoint with `provider = \"http\"`",
    ),
];

/// What to write in evalgate for `name`, another tool's check type.
pub fn check_hint(name: &str) -> Option<&'static str> {
    lookup(CHECKS, name)
}

/// What to write in evalgate for `name`, another tool's provider.
pub fn provider_hint(name: &str) -> Option<&'static str> {
    lookup(PROVIDERS, name)
}

fn lookup(table: &[(&[&str], &'static str)], name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    table
        .iter()
        .find(|(names, _)| names.contains(&name.as_str()))
        .map(|(_, hint)| *hint)
}

/// Every foreign name and its hint, for the tests that check the hints against evalgate's own
/// names.
#[cfg(test)]
pub(crate) fn all() -> impl Iterator<Item = (&'static str, bool, &'static str)> {
    let rows = |table: &'static [(&'static [&'static str], &'static str)], is_check: bool| {
        table
            .iter()
            .flat_map(move |&(names, hint)| names.iter().map(move |&n| (n, is_check, hint)))
    };
    rows(CHECKS, true).chain(rows(PROVIDERS, false))
}
