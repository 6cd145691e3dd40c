//! promptfoo configs (`promptfooconfig.yaml`) to evalgate suites: prompts, providers,
//! `defaultTest`, tests (inline or a CSV file) and the assertions that have an evalgate check.
//! The mapping table is docs/importing.md.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::{
    ImportError, Imported, OutFile, is_role_line, read, toml_inline, toml_section, unique_id,
};

/// promptfoo's default threshold for `similar`.
const SIMILAR_THRESHOLD: f64 = 0.75;
/// promptfoo's default embedding model for `similar`.
const EMBEDDING_MODEL: &str = "text-embedding-3-large";

/// A message of an imported prompt.
#[derive(Debug, Clone)]
struct Message {
    role: String,
    content: String,
}

#[derive(Debug)]
struct Prompt {
    id: String,
    messages: Vec<Message>,
}

#[derive(Debug)]
struct Model {
    id: String,
    fields: Vec<(&'static str, Value)>,
}

/// What the mapping of assertions needs to know about the suite.
struct Context<'a> {
    dir: &'a Path,
    models: Vec<Model>,
    taken_models: Vec<String>,
    /// The model that grades `llm-rubric`, created on first use.
    judge: Option<String>,
    /// The grading provider `defaultTest.options.provider` names, if any.
    default_grader: Option<Value>,
    /// The embedding model of `similar`, created on first use.
    embed: Option<String>,
}

pub fn import(path: &Path) -> Result<Imported, ImportError> {
    let text = read(path)?;
    let root = parse_yaml(path, &text, "a promptfoo config")?;
    let Value::Object(root) = root else {
        return Err(shape(
            path,
            "(top level)",
            "expected a mapping of promptfoo's keys",
        ));
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut out = Imported::default();
    let mut cx = Context {
        dir: &dir,
        models: Vec::new(),
        taken_models: Vec::new(),
        judge: None,
        default_grader: None,
        embed: None,
    };

    for key in root.keys() {
        if !matches!(
            key.as_str(),
            "description" | "prompts" | "providers" | "targets" | "defaultTest" | "tests"
        ) {
            out.not_mapped(
                key.clone(),
                "no evalgate equivalent: this top-level key is ignored",
            );
        }
    }

    let providers = root.get("providers").or_else(|| root.get("targets"));
    match providers {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                map_provider(item, &format!("providers[{i}]"), &mut cx, &mut out);
            }
        }
        Some(single) => map_provider(single, "providers", &mut cx, &mut out),
    }
    let targets = cx.models.len();
    if targets == 0 {
        let id = unique_id("replace-me", "replace-me", &mut cx.taken_models);
        cx.models.push(placeholder_model(&id));
        out.not_mapped(
            "providers",
            format!(
                "no provider could be mapped: wrote the placeholder model `{id}` \
                 (openai-compatible at localhost): set its provider and model"
            ),
        );
    }

    let prompts = match root.get("prompts") {
        Some(Value::Array(items)) => items.clone(),
        // The map form: `prompts: {file://a.txt: label}`.
        Some(Value::Object(map)) if !map.contains_key("raw") && !map.contains_key("id") => map
            .iter()
            .map(|(id, label)| json!({"id": id, "label": label}))
            .collect(),
        Some(single @ (Value::String(_) | Value::Object(_))) => vec![single.clone()],
        Some(_) => return Err(shape(path, "prompts", "expected a list of prompts")),
        None => return Err(shape(path, "prompts", "missing: a suite needs a prompt")),
    };
    let mut taken_prompts = Vec::new();
    let mut imported_prompts = Vec::new();
    for (i, item) in prompts.iter().enumerate() {
        let at = format!("prompts[{i}]");
        for (label, messages) in read_prompt(item, &at, &dir, &mut out) {
            let fallback = format!("prompt{}", imported_prompts.len() + 1);
            let id = unique_id(
                label.as_deref().unwrap_or(&fallback),
                &fallback,
                &mut taken_prompts,
            );
            for m in &messages {
                flag_template(&format!("{at} ({id})"), &m.content, &mut out);
            }
            imported_prompts.push(Prompt { id, messages });
        }
    }
    if imported_prompts.is_empty() {
        return Err(empty(path, "no prompt could be mapped", &out));
    }

    // defaultTest: its vars join every case, its asserts become the dataset's checks.
    let default_test = root.get("defaultTest").cloned().unwrap_or(Value::Null);
    let mut default_vars = Map::new();
    let mut dataset_checks = Vec::new();
    if !matches!(default_test, Value::Object(_) | Value::Null) {
        out.not_mapped(
            "defaultTest",
            "only an inline mapping is read: copy its vars and asserts into the config",
        );
    }
    if let Value::Object(dt) = &default_test {
        if let Some(Value::Object(options)) = dt.get("options")
            && let Some(p) = options.get("provider")
        {
            cx.default_grader = Some(p.clone());
        }
        for (key, value) in dt {
            match key.as_str() {
                "vars" => match value {
                    Value::Object(vars) => default_vars = vars.clone(),
                    _ => return Err(shape(path, "defaultTest.vars", "expected a mapping")),
                },
                "assert" => {
                    for (j, a) in as_list(value).iter().enumerate() {
                        let at = format!("defaultTest.assert[{j}]");
                        match map_assert(a, &at, &mut cx, &mut out) {
                            Ok(check) if toml_inline(&check).is_ok() => {
                                flag_check_templates(&at, &check, &mut out);
                                dataset_checks.push(check);
                            }
                            Ok(_) => out.not_mapped(
                                at,
                                "its value holds a null, which a TOML suite file cannot hold",
                            ),
                            Err(reason) => out.not_mapped(format!("{at} ({})", kind(a)), reason),
                        }
                    }
                }
                "options" => {
                    if let Value::Object(options) = value {
                        for k in options.keys().filter(|k| *k != "provider") {
                            out.not_mapped(
                                format!("defaultTest.options.{k}"),
                                "no evalgate equivalent",
                            );
                        }
                    }
                }
                other => out.not_mapped(format!("defaultTest.{other}"), "no evalgate equivalent"),
            }
        }
    }

    let tests = read_tests(path, root.get("tests"), &dir, &mut out)?;
    let mut rows = Vec::new();
    let mut taken_cases = Vec::new();
    for (at, test) in &tests {
        rows.extend(map_test(
            at,
            test,
            &default_vars,
            !dataset_checks.is_empty(),
            &mut taken_cases,
            &mut cx,
            &mut out,
        ));
    }
    if rows.is_empty() {
        return Err(empty(path, "no test case could be mapped", &out));
    }
    for prompt in &imported_prompts {
        flag_missing_vars(prompt, &rows, &mut out);
    }

    // The files.
    let suite_name = root
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .unwrap_or("imported from promptfoo")
        .to_owned();
    let mut toml = format!(
        "# Imported from {} by `evalgate import promptfoo`.\n\
         # The import printed what it could not map: review it (docs/importing.md).\n",
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    toml_section(&mut toml, "suite", &[("name", json!(suite_name))]);
    for model in &cx.models {
        toml_section(&mut toml, &format!("models.{}", model.id), &model.fields);
    }
    for prompt in &imported_prompts {
        let file = format!("prompts/{}.txt", prompt.id);
        match prompt_file(&prompt.messages) {
            Some(content) => {
                toml_section(
                    &mut toml,
                    &format!("prompts.{}", prompt.id),
                    &[("file", json!(file))],
                );
                out.files.push(OutFile {
                    path: file,
                    content,
                });
            }
            None => {
                let messages: Vec<Value> = prompt
                    .messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect();
                toml_section(
                    &mut toml,
                    &format!("prompts.{}", prompt.id),
                    &[("messages", Value::Array(messages))],
                );
            }
        }
    }
    toml.push_str("\n[datasets.cases]\nfile = \"data/cases.jsonl\"\n");
    if !dataset_checks.is_empty() {
        toml.push_str("checks = [\n");
        for check in &dataset_checks {
            // Checked above: every dataset check converts.
            if let Ok(text) = toml_inline(check) {
                toml.push_str(&format!("  {text},\n"));
            }
        }
        toml.push_str("]\n");
    }
    toml.push_str(
        "\n# promptfoo fails an eval when any test fails; so does this gate.\n\
         [gate]\nmin_pass_rate = 1.0\n",
    );
    let mut jsonl = String::new();
    for row in &rows {
        jsonl.push_str(&row.to_string());
        jsonl.push('\n');
    }
    out.files.insert(
        0,
        OutFile {
            path: "evalgate.toml".into(),
            content: toml,
        },
    );
    out.files.push(OutFile {
        path: "data/cases.jsonl".into(),
        content: jsonl,
    });
    Ok(out)
}

/// YAML (JSON is YAML too) as JSON values, with `<<` merge keys applied as promptfoo's YAML
/// loader does.
fn parse_yaml(path: &Path, text: &str, what: &str) -> Result<Value, ImportError> {
    let syntax = |e: serde_yaml_ng::Error| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ImportError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: format!("not {what}: {e}"),
        }
    };
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(syntax)?;
    yaml.apply_merge().map_err(syntax)?;
    serde_json::to_value(&yaml).map_err(|e| ImportError::Shape {
        path: path.to_path_buf(),
        field: "(a key)".into(),
        message: format!("not {what}: {e} (keys must be text)"),
    })
}

fn shape(path: &Path, field: &str, message: &str) -> ImportError {
    ImportError::Shape {
        path: path.to_path_buf(),
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn empty(path: &Path, what: &str, out: &Imported) -> ImportError {
    let reasons: Vec<String> = out
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.item, f.message))
        .collect();
    ImportError::Empty {
        path: path.to_path_buf(),
        message: if reasons.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({})", reasons.join("; "))
        },
    }
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn kind(assert: &Value) -> String {
    assert
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("no type")
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Providers

fn placeholder_model(id: &str) -> Model {
    Model {
        id: id.to_owned(),
        fields: vec![
            ("provider", json!("openai-compatible")),
            ("base_url", json!("http://localhost:8080/v1")),
            ("model", json!("REPLACE-ME")),
        ],
    }
}

/// `(provider, model, base_url)` for the provider ids evalgate can call.
fn provider_kind(id: &str) -> Option<(&'static str, String, Option<&'static str>)> {
    let model = |rest: &str| (!rest.is_empty()).then(|| rest.to_owned());
    if let Some(rest) = id.strip_prefix("openai:chat:") {
        return model(rest).map(|m| ("openai", m, None));
    }
    if let Some(rest) = id.strip_prefix("openai:") {
        // `openai:completion:`, `openai:embedding:`, `openai:assistant:`... are other APIs.
        if rest.contains(':') {
            return None;
        }
        return model(rest).map(|m| ("openai", m, None));
    }
    if let Some(rest) = id.strip_prefix("anthropic:messages:") {
        return model(rest).map(|m| ("anthropic", m, None));
    }
    if let Some(rest) = id.strip_prefix("ollama:chat:") {
        return model(rest).map(|m| ("openai-compatible", m, Some("http://localhost:11434/v1")));
    }
    None
}

fn map_provider(item: &Value, at: &str, cx: &mut Context<'_>, out: &mut Imported) {
    let (id, label, config, rest) = match item {
        Value::String(id) => (id.clone(), None, Map::new(), Map::new()),
        Value::Object(obj) if obj.get("id").is_some_and(Value::is_string) => {
            let mut rest = obj.clone();
            let id = rest
                .remove("id")
                .and_then(|v| v.as_str().map(str::to_owned));
            let label = rest
                .remove("label")
                .and_then(|v| v.as_str().map(str::to_owned));
            let config = match rest.remove("config") {
                Some(Value::Object(c)) => c,
                _ => Map::new(),
            };
            (id.unwrap_or_default(), label, config, rest)
        }
        // The map form: `- openai:gpt-4.1: {config: ...}`.
        Value::Object(obj) if obj.len() == 1 => {
            let (id, body) = obj
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap_or_default();
            let mut with_id = body.as_object().cloned().unwrap_or_default();
            with_id.insert("id".into(), Value::String(id));
            return map_provider(&Value::Object(with_id), at, cx, out);
        }
        _ => {
            out.not_mapped(at, "expected a provider id or an object with `id`");
            return;
        }
    };
    let api_base = config
        .get("apiBaseUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (provider, model, base_url) = match (provider_kind(&id), &api_base) {
        (Some((_, model, _)), Some(base)) if id.starts_with("openai:") => {
            ("openai-compatible", model, Some(base.clone()))
        }
        (Some((p, model, base)), _) => (p, model, base.map(str::to_owned)),
        (None, _) => {
            out.not_mapped(
                format!("{at} ({id})"),
                "evalgate cannot call this provider: use an `openai`, `openai-compatible`, \
                 `anthropic`, `http` or `command` model (docs/configuration.md)",
            );
            return;
        }
    };
    let wanted = label.clone().unwrap_or_else(|| model.clone());
    let model_id = unique_id(&wanted, "model", &mut cx.taken_models);
    let mut fields = vec![("provider", json!(provider))];
    if let Some(base) = base_url {
        fields.push(("base_url", json!(base)));
    }
    fields.push(("model", json!(model)));
    if provider == "openai-compatible" && id.starts_with("openai:") {
        // promptfoo sends $OPENAI_API_KEY to an `apiBaseUrl`; keep sending it when it is set.
        fields.push(("api_key_env", json!("OPENAI_API_KEY")));
    }
    for (key, value) in &config {
        let mapped = match key.as_str() {
            "temperature" if value.is_number() => Some("temperature"),
            "top_p" if value.is_number() => Some("top_p"),
            "seed" if value.is_i64() => Some("seed"),
            "max_tokens" if value.is_u64() => Some("max_tokens"),
            "stop" if value.is_array() => Some("stop"),
            "apiBaseUrl" => continue,
            "headers"
                if value
                    .as_object()
                    .is_some_and(|h| h.values().all(Value::is_string)) =>
            {
                Some("headers")
            }
            "apiKey" => {
                out.not_mapped(
                    format!("{at}.config.apiKey"),
                    format!(
                        "a key written in the config is not carried over: put it in an \
                         environment variable and name it in `api_key_env` of model `{model_id}`"
                    ),
                );
                continue;
            }
            "apiKeyEnvar" if value.is_string() => {
                fields.retain(|(k, _)| *k != "api_key_env");
                Some("api_key_env")
            }
            _ => None,
        };
        match mapped {
            Some(k) => fields.push((k, value.clone())),
            None => out.not_mapped(
                format!("{at}.config.{key}"),
                format!("not carried over to model `{model_id}`: put it in its `extra_body` if the API takes it"),
            ),
        }
    }
    for key in rest.keys() {
        out.not_mapped(
            format!("{at}.{key}"),
            format!("no evalgate equivalent on model `{model_id}`"),
        );
    }
    cx.models.push(Model {
        id: model_id,
        fields,
    });
}

/// A grader-only model for a grading provider given as a string id, or `None`.
fn grader_model(provider: &Value, fallback: &str, cx: &mut Context<'_>) -> Option<String> {
    let id = provider.as_str()?;
    let (kind, model, base) = match id.strip_prefix("openai:embedding:") {
        Some(m) if !m.is_empty() => ("openai", m.to_owned(), None),
        _ => provider_kind(id)?,
    };
    let model_id = unique_id(fallback, fallback, &mut cx.taken_models);
    let mut fields = vec![("provider", json!(kind))];
    if let Some(b) = base {
        fields.push(("base_url", json!(b)));
    }
    fields.push(("model", json!(model)));
    fields.push(("grader_only", json!(true)));
    cx.models.push(Model {
        id: model_id.clone(),
        fields,
    });
    Some(model_id)
}

fn judge(
    assert_provider: Option<&Value>,
    at: &str,
    cx: &mut Context<'_>,
    out: &mut Imported,
) -> String {
    if let Some(p) = assert_provider {
        if let Some(id) = grader_model(p, "judge", cx) {
            return id;
        }
        out.note(
            at,
            "its grading `provider` cannot be mapped: the suite's judge grades it",
        );
    }
    if let Some(id) = &cx.judge {
        return id.clone();
    }
    let grader = cx.default_grader.clone();
    let id = match grader.as_ref().and_then(|p| grader_model(p, "judge", cx)) {
        Some(id) => id,
        None => {
            let first = cx.models[0].id.clone();
            out.note(
                format!("{at} (llm-rubric)"),
                format!(
                    "the judge is `{first}`, the first model (promptfoo grades with its own \
                     default grader): point `judge` at another model to change it"
                ),
            );
            first
        }
    };
    cx.judge = Some(id.clone());
    id
}

fn embedder(
    assert_provider: Option<&Value>,
    at: &str,
    cx: &mut Context<'_>,
    out: &mut Imported,
) -> String {
    if let Some(p) = assert_provider
        && let Some(id) = grader_model(p, "embed", cx)
    {
        return id;
    }
    if let Some(id) = &cx.embed {
        return id.clone();
    }
    let id = unique_id("embed", "embed", &mut cx.taken_models);
    cx.models.push(Model {
        id: id.clone(),
        fields: vec![
            ("provider", json!("openai")),
            ("model", json!(EMBEDDING_MODEL)),
            ("grader_only", json!(true)),
        ],
    });
    out.note(
        format!("{at} (similar)"),
        format!("embeddings come from the grader-only model `{id}` (OpenAI {EMBEDDING_MODEL}, promptfoo's default)"),
    );
    cx.embed = Some(id.clone());
    id
}

// ---------------------------------------------------------------------------------------------
// Prompts

/// The prompts one `prompts` entry holds (a `.txt` file may hold several, split by `---`), each
/// with its label.
fn read_prompt(
    item: &Value,
    at: &str,
    dir: &Path,
    out: &mut Imported,
) -> Vec<(Option<String>, Vec<Message>)> {
    let (raw, label) = match item {
        Value::String(s) => (s.clone(), None),
        Value::Object(obj) => {
            let raw = obj
                .get("raw")
                .or_else(|| obj.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let label = obj.get("label").and_then(Value::as_str).map(str::to_owned);
            match raw {
                Some(raw) => (raw, label),
                None => {
                    out.not_mapped(at, "expected `raw` or `id` holding the prompt or its file");
                    return Vec::new();
                }
            }
        }
        _ => {
            out.not_mapped(at, "expected a string or an object with `raw` or `id`");
            return Vec::new();
        }
    };
    let Some(reference) = raw.strip_prefix("file://") else {
        return match chat_messages(&raw) {
            Some(Ok(messages)) => vec![(label, messages)],
            Some(Err(reason)) => {
                out.not_mapped(at, reason);
                Vec::new()
            }
            None => vec![(label, vec![user(&raw)])],
        };
    };
    if reference.contains('*') {
        out.not_mapped(at, "a glob of prompt files: list the files one by one");
        return Vec::new();
    }
    let file = dir.join(reference);
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(ext.as_str(), "py" | "js" | "ts" | "mjs" | "cjs")
        || reference.contains(".py:")
        || reference.contains(".js:")
    {
        out.not_mapped(
            format!("{at} ({reference})"),
            "a prompt function: evalgate prompts are templates; render it once and write it as a \
             text or chat prompt",
        );
        return Vec::new();
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            out.not_mapped(
                format!("{at} ({reference})"),
                format!("cannot read {}: {e}", file.display()),
            );
            return Vec::new();
        }
    };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let label = label.or(stem);
    match ext.as_str() {
        "json" | "yaml" | "yml" => {
            let parsed: Result<Value, String> = if ext == "json" {
                serde_json::from_str(&text).map_err(|e| e.to_string())
            } else {
                serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
            };
            match parsed
                .map_err(|e| format!("not a chat prompt: {e}"))
                .and_then(|v| {
                    chat_from_value(&v).unwrap_or_else(|| {
                        Err("expected a list of {role, content} messages".into())
                    })
                }) {
                Ok(messages) => vec![(label, messages)],
                Err(reason) => {
                    out.not_mapped(format!("{at} ({reference})"), reason);
                    Vec::new()
                }
            }
        }
        _ => {
            // promptfoo splits a text file into several prompts on `---` lines.
            let parts = split_on_separator(&text);
            let many = parts.len() > 1;
            parts
                .into_iter()
                .enumerate()
                .map(|(k, part)| {
                    let name = label
                        .clone()
                        .map(|l| if many { format!("{l}-{}", k + 1) } else { l });
                    match chat_messages(&part) {
                        Some(Ok(messages)) => (name, messages),
                        _ => (name, vec![user(&part)]),
                    }
                })
                .collect()
        }
    }
}

fn split_on_separator(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn user(text: &str) -> Message {
    Message {
        role: "user".into(),
        content: text.trim().to_owned(),
    }
}

/// A prompt string that is a JSON chat (`[{"role": ..., "content": ...}]`): `None` when it is
/// plain text.
fn chat_messages(text: &str) -> Option<Result<Vec<Message>, String>> {
    let trimmed = text.trim();
    if !trimmed.starts_with('[') {
        return None;
    }
    let value: Value = serde_json::from_str(trimmed).ok()?;
    chat_from_value(&value)
}

fn chat_from_value(value: &Value) -> Option<Result<Vec<Message>, String>> {
    let items = value.as_array()?;
    if !items.iter().all(|m| m.get("role").is_some()) {
        return None;
    }
    let mut messages = Vec::new();
    for (k, m) in items.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "system" | "user" | "assistant") {
            return Some(Err(format!(
                "message {k} has role `{role}`: evalgate prompts take system, user and assistant"
            )));
        }
        let Some(content) = m.get("content").and_then(Value::as_str) else {
            return Some(Err(format!(
                "message {k}'s content is not text (images and content parts are not supported)"
            )));
        };
        messages.push(Message {
            role: role.to_owned(),
            content: content.to_owned(),
        });
    }
    Some(Ok(messages))
}

/// The prompt in evalgate's prompt file format, or `None` when a message's content would be
/// read differently there (a line that looks like a role line), so it goes inline instead.
fn prompt_file(messages: &[Message]) -> Option<String> {
    if messages
        .iter()
        .any(|m| m.content.lines().any(is_role_line) || m.content.trim().is_empty())
    {
        return None;
    }
    if let [only] = messages
        && only.role == "user"
    {
        return Some(format!("{}\n", only.content.trim()));
    }
    let mut text = String::new();
    for m in messages {
        text.push_str(&format!("{}:\n{}\n", m.role, m.content.trim()));
    }
    Some(text)
}

/// Flags the templates of a check (they render per case at run time, and `validate` does not
/// render them).
fn flag_check_templates(at: &str, check: &Value, out: &mut Imported) {
    for key in ["value", "pattern", "rubric"] {
        if let Some(text) = check.get(key).and_then(Value::as_str) {
            flag_template(at, text, out);
        }
    }
    if let Some(values) = check.get("values").and_then(Value::as_array) {
        for text in values.iter().filter_map(Value::as_str) {
            flag_template(at, text, out);
        }
    }
}

/// Notes the Nunjucks constructs that minijinja reads differently or not at all.
fn flag_template(at: &str, text: &str, out: &mut Imported) {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return;
    }
    if text.contains("_conversation") {
        out.note(
            at,
            "`_conversation` (promptfoo's multi-turn history) is not set by evalgate",
        );
    }
    let for_pair = regex::Regex::new(r"\{%-?\s*for\s+\w+\s*,\s*\w+\s+in\s+([^%]*)%\}").ok();
    if let Some(re) = for_pair {
        for cap in re.captures_iter(text) {
            let iterable = cap.get(1).map_or("", |m| m.as_str());
            if !iterable.contains("items") {
                out.note(
                    at,
                    "`{% for key, value in obj %}` iterates an object's pairs in Nunjucks; in \
                     evalgate (minijinja) write `in obj | items`",
                );
            }
        }
    }
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    let rendered = env
        .template_from_str(text)
        .and_then(|t| t.render(minijinja::context! {}));
    if let Err(e) = rendered {
        use minijinja::ErrorKind;
        let what = match e.kind() {
            ErrorKind::SyntaxError => "syntax minijinja does not accept",
            ErrorKind::UnknownFilter => "a filter minijinja does not have",
            ErrorKind::UnknownTest => "a test minijinja does not have",
            ErrorKind::UnknownFunction => "a function minijinja does not have",
            ErrorKind::UnknownMethod => "a method minijinja does not have",
            _ => return,
        };
        let detail = e.detail().unwrap_or_default();
        let advice = if detail.contains("filter dump ") {
            " (Nunjucks `dump` is `tojson` in minijinja)"
        } else if detail.contains("filter load ") {
            " (promptfoo's `load` parses JSON text: write the variable as a JSON object in the \
             dataset instead, and drop the filter)"
        } else {
            ""
        };
        out.note(
            at,
            format!("the template uses {what}: {detail}{advice}; rewrite it in minijinja syntax (docs/configuration.md#templates-and-their-variables)"),
        );
    }
}

/// promptfoo renders a variable a test does not set as empty text; evalgate stops at it. Each
/// variable a prompt reads and some cases lack is listed once, with how many cases lack it.
fn flag_missing_vars(prompt: &Prompt, rows: &[Value], out: &mut Imported) {
    let env = minijinja::Environment::new();
    let mut read: Vec<String> = Vec::new();
    for m in &prompt.messages {
        if let Ok(t) = env.template_from_str(&m.content) {
            for name in t.undeclared_variables(false) {
                if !read.contains(&name) && !matches!(name.as_str(), "vars" | "id" | "expected") {
                    read.push(name);
                }
            }
        }
    }
    read.sort();
    for name in read {
        let lacking = rows
            .iter()
            .filter(|r| r["vars"].get(&name).is_none())
            .count();
        if lacking > 0 {
            out.note(
                format!("prompt `{}`", prompt.id),
                format!(
                    "it reads `{name}`, which {lacking} of {} cases do not set: promptfoo renders \
                     it empty, evalgate stops at it (`validate` names the cases); set it in those \
                     cases or in defaultTest.vars",
                    rows.len()
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The tests, each with where it came from (`tests[3]`, `cases.csv:4`).
fn read_tests(
    path: &Path,
    tests: Option<&Value>,
    dir: &Path,
    out: &mut Imported,
) -> Result<Vec<(String, Value)>, ImportError> {
    let mut found = Vec::new();
    let items = match tests {
        None => return Err(shape(path, "tests", "missing: a suite needs test cases")),
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(shape(
                path,
                "tests",
                "expected a list of tests or a `file://` path",
            ));
        }
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("tests[{i}]");
        match item {
            Value::Object(_) => found.push((at, item.clone())),
            Value::String(s) => match s.strip_prefix("file://") {
                Some(file)
                    if file.to_ascii_lowercase().ends_with(".csv") && !file.contains('*') =>
                {
                    let full = dir.join(file);
                    let text = read(&full)?;
                    found.extend(csv_tests(&full, file, &text)?);
                }
                Some(file) if !file.contains('*') && test_file_kind(file).is_some() => {
                    let full = dir.join(file);
                    let text = read(&full)?;
                    found.extend(structured_tests(&full, file, &text)?);
                }
                _ => out.not_mapped(
                    format!("{at} ({s})"),
                    "only CSV, YAML, JSON and JSONL test files are read (no globs, scripts or \
                     sheets): list the tests inline or in such a file",
                ),
            },
            _ => out.not_mapped(at, "expected a test (a mapping) or a `file://` path"),
        }
    }
    Ok(found)
}

fn test_file_kind(file: &str) -> Option<&'static str> {
    let lower = file.to_ascii_lowercase();
    [".yaml", ".yml", ".json", ".jsonl"]
        .into_iter()
        .find(|ext| lower.ends_with(ext))
}

/// A YAML or JSON file holding a list of tests, or a JSONL file of one test a line.
fn structured_tests(
    full: &Path,
    shown: &str,
    text: &str,
) -> Result<Vec<(String, Value)>, ImportError> {
    let syntax = |line: usize, column: usize, message: String| ImportError::Syntax {
        path: full.to_path_buf(),
        line,
        column,
        message,
    };
    let items: Vec<(String, Value)> = if test_file_kind(shown) == Some(".jsonl") {
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .map_err(|e| syntax(n + 1, e.column(), format!("not a JSON test: {e}")))?;
            items.push((format!("{shown}:{}", n + 1), value));
        }
        items
    } else {
        let value = parse_yaml(full, text, "a test file")?;
        let Value::Array(list) = value else {
            return Err(shape(full, "(top level)", "expected a list of tests"));
        };
        list.into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{shown}[{i}]"), v))
            .collect()
    };
    for (at, item) in &items {
        if !item.is_object() {
            return Err(shape(full, at, "expected a test (a mapping)"));
        }
    }
    Ok(items)
}

/// promptfoo's CSV test format: every column is a variable except `__expected*` (assertions,
/// `type: value` or a bare value meaning `equals`), `__description`, `__metric` and
/// `__threshold`.
fn csv_tests(full: &Path, shown: &str, text: &str) -> Result<Vec<(String, Value)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(full, &e))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let mut tests = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(full, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let mut vars = Map::new();
        let mut asserts = Vec::new();
        let mut test = Map::new();
        let mut metric = None;
        let mut configs: Vec<(usize, f64)> = Vec::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            match header.trim() {
                h if h.starts_with("__expected") => {
                    if !cell.trim().is_empty() {
                        asserts.push(csv_assert(cell));
                    }
                }
                "__description" => {
                    test.insert("description".into(), json!(cell));
                }
                "__metric" if !cell.is_empty() => metric = Some(cell.to_owned()),
                h if h.starts_with("__metadata") => {}
                h if h.starts_with("__config:") => {
                    // `__config:__expectedN:threshold`: the threshold of the Nth assertion.
                    let index = h
                        .trim_start_matches("__config:__expected")
                        .split(':')
                        .next()
                        .map_or(Some(0), |n| {
                            if n.is_empty() {
                                Some(0)
                            } else {
                                n.parse::<usize>().ok().map(|n| n.saturating_sub(1))
                            }
                        });
                    if let (Some(index), true, Ok(t)) =
                        (index, h.ends_with(":threshold"), cell.trim().parse::<f64>())
                    {
                        configs.push((index, t));
                    } else {
                        test.insert(h.to_owned(), json!(cell));
                    }
                }
                "__threshold" if !cell.is_empty() => {
                    if let Ok(t) = cell.trim().parse::<f64>() {
                        test.insert("threshold".into(), json!(t));
                    }
                }
                h if h.starts_with("__") => {
                    if !cell.is_empty() {
                        test.insert(h.to_owned(), json!(cell));
                    }
                }
                h => {
                    vars.insert(h.to_owned(), json!(cell));
                }
            }
        }
        for (index, t) in configs {
            if let Some(Value::Object(a)) = asserts.get_mut(index) {
                a.insert("threshold".into(), json!(t));
            }
        }
        if let Some(metric) = metric {
            for a in &mut asserts {
                if let Value::Object(a) = a {
                    a.insert("metric".into(), json!(metric));
                }
            }
        }
        test.insert("vars".into(), Value::Object(vars));
        test.insert("assert".into(), Value::Array(asserts));
        tests.push((format!("{shown}:{line}"), Value::Object(test)));
    }
    Ok(tests)
}

fn csv_error(path: &Path, e: &csv::Error) -> ImportError {
    let line = e.position().map_or(1, |p| p.line() as usize);
    ImportError::Syntax {
        path: path.to_path_buf(),
        line,
        column: 1,
        message: format!("not a CSV test file: {e}"),
    }
}

/// The assertion types a CSV `__expected` cell may start with (`type:` or `type(threshold):`); a
/// cell that starts with anything else is an `equals` value, as in promptfoo.
const CSV_TYPES: &[&str] = &[
    "answer-relevance",
    "bleu",
    "classifier",
    "contains-all",
    "contains-any",
    "contains-json",
    "contains-sql",
    "contains-xml",
    "contains",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "cost",
    "equals",
    "factuality",
    "finish-reason",
    "g-eval",
    "gleu",
    "icontains-all",
    "icontains-any",
    "icontains",
    "is-json",
    "is-sql",
    "is-valid-openai-function-call",
    "is-valid-openai-tools-call",
    "is-xml",
    "latency",
    "levenshtein",
    "meteor",
    "model-graded-closedqa",
    "model-graded-factuality",
    "moderation",
    "perplexity-score",
    "perplexity",
    "regex",
    "rouge-n",
    "select-best",
    "similar",
    "starts-with",
    "webhook",
];

/// One `__expected` cell as an assertion, read as promptfoo reads it: `javascript:`, `fn:`,
/// `python:` and `file://` scripts; `grade:` and `llm-rubric:` rubrics; `[not-]TYPE[(threshold)][:value]`
/// for a known type (list types split on commas, values trimmed; `similar` defaults to 0.8, other
/// thresholded types to 0.75); anything else is an `equals` value.
fn csv_assert(cell: &str) -> Value {
    let cell = cell.trim();
    for (prefix, kind) in [
        ("javascript:", "javascript"),
        ("fn:", "javascript"),
        ("eval:", "javascript"),
        ("python:", "python"),
    ] {
        if let Some(body) = cell.strip_prefix(prefix) {
            return json!({"type": kind, "value": body.trim()});
        }
    }
    if let Some(file) = cell.strip_prefix("file://") {
        let kind = if file.ends_with(".py") || file.contains(".py:") {
            "python"
        } else {
            "javascript"
        };
        return json!({"type": kind, "value": cell});
    }
    for prefix in ["grade:", "llm-rubric:"] {
        if let Some(rubric) = cell.strip_prefix(prefix) {
            return json!({"type": "llm-rubric", "value": rubric.trim()});
        }
    }
    let (neg, rest) = match cell.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, cell),
    };
    // The longest type that the cell starts with and that a `(`, a `:` or the end follows.
    let found = CSV_TYPES
        .iter()
        .filter(|t| {
            rest.strip_prefix(**t).is_some_and(|after| {
                after.is_empty() || after.starts_with(':') || after.starts_with('(')
            })
        })
        .max_by_key(|t| t.len());
    let Some(kind) = found else {
        return json!({"type": "equals", "value": cell});
    };
    let mut after = &rest[kind.len()..];
    let mut threshold = None;
    if let Some(open) = after.strip_prefix('(') {
        let Some((number, tail)) = open.split_once(')') else {
            return json!({"type": "equals", "value": cell});
        };
        match number.parse::<f64>() {
            Ok(t) => threshold = Some(t),
            Err(_) => return json!({"type": "equals", "value": cell}),
        }
        after = tail;
    }
    let value = match after.strip_prefix(':') {
        Some(v) => Some(v),
        None if after.is_empty() => None,
        None => return json!({"type": "equals", "value": cell}),
    };
    let full = if neg {
        format!("not-{kind}")
    } else {
        (*kind).to_owned()
    };
    let mut a = Map::new();
    a.insert("type".into(), json!(full));
    if let Some(v) = value {
        let v = if kind.ends_with("-any") || kind.ends_with("-all") {
            json!(v.split(',').map(str::trim).collect::<Vec<_>>())
        } else if matches!(*kind, "is-json" | "contains-json") {
            json!(v)
        } else {
            json!(v.trim())
        };
        a.insert("value".into(), v);
    }
    let thresholded = matches!(
        *kind,
        "answer-relevance"
            | "classifier"
            | "context-faithfulness"
            | "context-recall"
            | "context-relevance"
            | "cost"
            | "latency"
            | "levenshtein"
            | "perplexity-score"
            | "perplexity"
            | "rouge-n"
            | "similar"
            | "starts-with"
    );
    if let Some(t) =
        threshold.or_else(|| thresholded.then_some(if *kind == "similar" { 0.8 } else { 0.75 }))
    {
        a.insert("threshold".into(), json!(t));
    }
    Value::Object(a)
}

/// The rows one test becomes (one per combination when a variable holds a list, as promptfoo
/// runs them).
fn map_test(
    at: &str,
    test: &Value,
    default_vars: &Map<String, Value>,
    dataset_has_checks: bool,
    taken: &mut Vec<String>,
    cx: &mut Context<'_>,
    out: &mut Imported,
) -> Vec<Value> {
    let Value::Object(test) = test else {
        return Vec::new();
    };
    let mut vars = default_vars.clone();
    let mut checks = Vec::new();
    let mut threshold = None;
    let mut description = None;
    for (key, value) in test {
        match key.as_str() {
            "vars" => match value {
                Value::Object(v) => vars.extend(v.clone()),
                _ => {
                    out.not_mapped(at, "its `vars` is not a mapping: the test is left out");
                    return Vec::new();
                }
            },
            "assert" => {
                for (j, a) in as_list(value).iter().enumerate() {
                    let item = format!("{at}.assert[{j}]");
                    match map_assert(a, &item, cx, out) {
                        Ok(check) => {
                            flag_check_templates(&item, &check, out);
                            checks.push(check);
                        }
                        Err(reason) => out.not_mapped(format!("{item} ({})", kind(a)), reason),
                    }
                }
            }
            "threshold" if value.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t)) => {
                threshold = Some(value.clone());
            }
            "description" => description = value.as_str().map(str::to_owned),
            "metadata" => out.note(
                format!("{at}.metadata"),
                "not carried over (evalgate filters cases by `tags`)",
            ),
            other => out.not_mapped(format!("{at}.{other}"), "no evalgate equivalent"),
        }
    }
    // Variables that name files hold the file's text, as in promptfoo.
    for (name, value) in vars.iter_mut() {
        if let Some(file) = value.as_str().and_then(|s| s.strip_prefix("file://")) {
            let script = [".py", ".js", ".ts", ".mjs", ".cjs"]
                .iter()
                .any(|ext| file.ends_with(ext) || file.contains(&format!("{ext}:")));
            if script {
                out.not_mapped(
                    format!("{at}.vars.{name}"),
                    "a variable computed by a script: evalgate variables are data; run the \
                     script once and write its value; the test is left out",
                );
                return Vec::new();
            }
            let full = cx.dir.join(file);
            match std::fs::read_to_string(&full) {
                Ok(text) => *value = Value::String(text),
                Err(e) => {
                    out.not_mapped(
                        format!("{at}.vars.{name}"),
                        format!("cannot read {}: {e}; the test is left out", full.display()),
                    );
                    return Vec::new();
                }
            }
        }
    }
    if checks.is_empty() && !dataset_has_checks {
        out.not_mapped(
            at,
            "no assertion could be mapped and evalgate needs a check on every case: the test is \
             left out; add a check to it",
        );
        return Vec::new();
    }
    let combos = expand(&vars);
    if combos.len() > 1 {
        out.note(
            at,
            format!(
                "a variable holds a list: written as {} cases, one per combination, as promptfoo runs it",
                combos.len()
            ),
        );
    }
    let base = description
        .clone()
        .unwrap_or_else(|| format!("case-{}", taken.len() + 1));
    combos
        .into_iter()
        .enumerate()
        .map(|(k, vars)| {
            let wanted = if k == 0 {
                base.clone()
            } else {
                format!("{base}-{}", k + 1)
            };
            let id = unique_case_id(&wanted, taken);
            let mut row = Map::new();
            row.insert("id".into(), json!(id));
            row.insert("vars".into(), Value::Object(vars));
            if !checks.is_empty() {
                row.insert("checks".into(), Value::Array(checks.clone()));
            }
            if let Some(t) = &threshold {
                row.insert("threshold".into(), t.clone());
            }
            Value::Object(row)
        })
        .collect()
}

fn unique_case_id(wanted: &str, taken: &mut Vec<String>) -> String {
    let wanted = if wanted.trim().is_empty() {
        "case"
    } else {
        wanted
    };
    let mut id = wanted.to_owned();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{wanted} ({n})");
        n += 1;
    }
    taken.push(id.clone());
    id
}

/// Every combination of the list-valued variables.
fn expand(vars: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut combos = vec![Map::new()];
    for (name, value) in vars {
        let choices = match value {
            Value::Array(items) if !items.is_empty() => items.clone(),
            other => vec![other.clone()],
        };
        combos = combos
            .into_iter()
            .flat_map(|c| {
                choices.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(name.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    combos
}

// ---------------------------------------------------------------------------------------------
// Assertions

const CODE_HINT: &str = "evalgate does not run JavaScript or Python inline: rewrite it as a \
                         `command` check, a program that reads the answer as JSON on stdin \
                         (docs/checks-graders.md#command)";

/// One assertion as an evalgate check (JSON), or why it has none.
fn map_assert(
    a: &Value,
    at: &str,
    cx: &mut Context<'_>,
    out: &mut Imported,
) -> Result<Value, String> {
    let Value::Object(obj) = a else {
        return Err("expected a mapping with `type`".into());
    };
    let Some(full_type) = obj.get("type").and_then(Value::as_str) else {
        return Err("it has no `type`".into());
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "type" | "value" | "threshold" | "weight" | "metric" | "provider" | "rubricPrompt"
        ) {
            return Err(format!(
                "its `{key}` has no evalgate equivalent, so the check would differ"
            ));
        }
    }
    let (neg, base) = match full_type.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, full_type),
    };
    let value = obj.get("value");
    let threshold = obj.get("threshold").and_then(Value::as_f64);
    let text = |v: Option<&Value>| -> Result<String, String> {
        match v {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(format!("`{full_type}` needs a text `value`")),
        }
    };
    let texts = |v: Option<&Value>| -> Result<Vec<String>, String> {
        match v {
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().map(|i| text(Some(i))).collect()
            }
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()),
            _ => Err(format!("`{full_type}` needs a list `value`")),
        }
    };
    let anchored = |prefix: &str, suffix: &str| -> Result<Value, String> {
        let v = text(value)?;
        if v.contains("{{") || v.contains("{%") {
            return Err(format!(
                "evalgate has no `{full_type}` check, and a templated value cannot be turned into a `not-regex`"
            ));
        }
        Ok(
            json!({"type": "not-regex", "pattern": format!("{prefix}{}{suffix}", regex::escape(&v))}),
        )
    };
    let mut check = match (base, neg) {
        ("equals", false) => match value {
            Some(v @ (Value::Object(_) | Value::Array(_))) => {
                json!({"type": "json-path", "path": "$", "value": v})
            }
            // promptfoo compares exactly; evalgate trims unless told not to.
            _ => json!({"type": "equals", "value": text(value)?, "trim": false}),
        },
        ("equals", true) => anchored("^", "$")?,
        ("starts-with", false) => {
            json!({"type": "starts-with", "value": text(value)?, "trim": false})
        }
        ("starts-with", true) => anchored("^", "")?,
        ("contains", _) | ("icontains", _) => {
            let t = match (base, neg) {
                ("contains", false) => "contains",
                ("contains", true) => "not-contains",
                (_, false) => "icontains",
                (_, true) => "not-icontains",
            };
            json!({"type": t, "value": text(value)?})
        }
        ("contains-any" | "contains-all" | "icontains-any" | "icontains-all", _) => {
            let ignore_case = base.starts_with('i');
            let t = match (ignore_case, neg) {
                (false, false) => "contains",
                (false, true) => "not-contains",
                (true, false) => "icontains",
                (true, true) => "not-icontains",
            };
            let mode = if base.ends_with("-all") { "all" } else { "any" };
            if matches!(value, Some(Value::String(_))) {
                out.note(at, "its comma-separated `value` was split into a list");
            }
            json!({"type": t, "values": texts(value)?, "mode": mode})
        }
        ("regex", _) => {
            let pattern = text(value)?;
            if !pattern.contains("{{") && !pattern.contains("{%") {
                regex::Regex::new(&pattern).map_err(|e| {
                    format!(
                        "its pattern is not valid in evalgate's regex syntax (Rust `regex`: no \
                         look-around, no back-references): {}; rewrite it or use a `command` check",
                        e.to_string()
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim_start_matches("error: ")
                    )
                })?;
            }
            json!({"type": if neg { "not-regex" } else { "regex" }, "pattern": pattern})
        }
        ("is-json" | "contains-json", false) => {
            let mut check = match value {
                None => json!({"type": "is-json"}),
                Some(Value::Object(schema)) => json!({"type": "is-json", "schema": schema}),
                Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                    let schema: Value = serde_json::from_str(s)
                        .map_err(|e| format!("its schema is not JSON: {e}"))?;
                    json!({"type": "is-json", "schema": schema})
                }
                Some(_) => {
                    return Err("its schema is not inline: copy it into a file and use \
                                `json-schema` with `schema_file`"
                        .into());
                }
            };
            // promptfoo's `contains-json` finds JSON inside the answer: evalgate's `extract`.
            if base == "contains-json" {
                check["extract"] = json!("first");
            }
            check
        }
        ("javascript" | "python" | "webhook", _) => return Err(CODE_HINT.into()),
        ("llm-rubric", false) => {
            let rubric = text(value)?;
            let judge = judge(obj.get("provider"), at, cx, out);
            if obj.contains_key("rubricPrompt") {
                out.note(at, "its `rubricPrompt` was dropped: evalgate's judge uses its own prompt (docs/checks-graders.md#llm-judge)");
            }
            match threshold {
                Some(t) => {
                    json!({"type": "llm-judge", "judge": judge, "rubric": rubric, "scale": "0-1", "threshold": t})
                }
                None => json!({"type": "llm-judge", "judge": judge, "rubric": rubric}),
            }
        }
        ("similar", false) => {
            let reference = match value {
                Some(Value::Array(_)) => {
                    return Err("a list of references: evalgate's `similar` takes one; keep one or write one check per reference".into());
                }
                v => text(v)?,
            };
            let model = embedder(obj.get("provider"), at, cx, out);
            json!({"type": "similar", "model": model, "value": reference, "threshold": threshold.unwrap_or(SIMILAR_THRESHOLD)})
        }
        ("latency", false) => match threshold {
            Some(t) if t >= 0.0 => json!({"type": "latency", "max_ms": t.round() as u64}),
            _ => return Err("`latency` needs a `threshold` in milliseconds".into()),
        },
        ("cost", false) => match threshold {
            Some(t) if t >= 0.0 => {
                out.note(at, "evalgate costs a call from the model's `price`: set `price` on each model, or every call costs 0");
                json!({"type": "cost", "max_usd": t})
            }
            _ => return Err("`cost` needs a `threshold` in US dollars".into()),
        },
        ("levenshtein", _) => {
            return Err(
                "promptfoo's threshold is an edit distance; evalgate's `similarity` check \
                        takes a ratio in [0, 1]: write a `similarity` check by hand"
                    .into(),
            );
        }
        (_, true)
            if matches!(
                base,
                "is-json" | "llm-rubric" | "similar" | "latency" | "cost"
            ) =>
        {
            return Err(format!("evalgate has no negated `{base}` check"));
        }
        _ => return Err(format!("evalgate has no check like `{full_type}`")),
    };
    if obj.contains_key("provider") && !matches!(base, "llm-rubric" | "similar") {
        return Err("its `provider` has no meaning for this check in evalgate".into());
    }
    if let Some(w) = obj.get("weight") {
        match w.as_f64() {
            Some(w) if w > 0.0 => {
                check["weight"] = json!(w);
            }
            _ => return Err("its `weight` is not above 0; evalgate weights must be (leave the assertion out instead)".into()),
        }
    }
    if let Some(m) = obj
        .get("metric")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
    {
        check["metric"] = json!(m);
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(a: Value) -> Result<Value, String> {
        let dir = std::path::PathBuf::from(".");
        let mut cx = Context {
            dir: &dir,
            models: vec![placeholder_model("m")],
            taken_models: vec!["m".into()],
            judge: None,
            default_grader: None,
            embed: None,
        };
        map_assert(&a, "t", &mut cx, &mut Imported::default())
    }

    #[test]
    fn text_assertions_map_to_their_checks_faithfully() {
        assert_eq!(
            mapped(json!({"type": "equals", "value": "4"})),
            Ok(json!({"type": "equals", "value": "4", "trim": false}))
        );
        assert_eq!(
            mapped(json!({"type": "icontains-all", "value": ["a", "b"]})),
            Ok(json!({"type": "icontains", "values": ["a", "b"], "mode": "all"}))
        );
        assert_eq!(
            mapped(json!({"type": "not-contains-any", "value": ["x"]})),
            Ok(json!({"type": "not-contains", "values": ["x"], "mode": "any"}))
        );
        assert_eq!(
            mapped(json!({"type": "not-equals", "value": "a.b"})),
            Ok(json!({"type": "not-regex", "pattern": r"^a\.b$"}))
        );
        assert_eq!(
            mapped(json!({"type": "latency", "threshold": 1500})),
            Ok(json!({"type": "latency", "max_ms": 1500}))
        );
    }

    #[test]
    fn assertions_without_an_equivalent_say_what_to_do() {
        let err =
            mapped(json!({"type": "javascript", "value": "output.length < 9"})).expect_err("no");
        assert!(err.contains("`command` check"), "{err}");
        let err = mapped(json!({"type": "regex", "value": "(?<=a)b"})).expect_err("no");
        assert!(err.contains("look-around"), "{err}");
        let err =
            mapped(json!({"type": "contains", "value": "a", "transform": "x"})).expect_err("no");
        assert!(err.contains("`transform`"), "{err}");
    }

    #[test]
    fn csv_expected_cells_become_assertions() {
        assert_eq!(
            csv_assert("Paris"),
            json!({"type": "equals", "value": "Paris"})
        );
        assert_eq!(
            csv_assert("icontains: paris"),
            json!({"type": "icontains", "value": "paris"})
        );
        assert_eq!(
            csv_assert("similar(0.9): The capital"),
            json!({"type": "similar", "value": "The capital", "threshold": 0.9})
        );
        assert_eq!(
            csv_assert("similar:The capital"),
            json!({"type": "similar", "value": "The capital", "threshold": 0.8})
        );
        assert_eq!(
            csv_assert("not-contains-any: a, b"),
            json!({"type": "not-contains-any", "value": ["a", "b"]})
        );
        assert_eq!(csv_assert("is-json"), json!({"type": "is-json"}));
        assert_eq!(csv_assert("grade: is polite")["type"], "llm-rubric");
        assert_eq!(csv_assert("fn: output.length < 9")["type"], "javascript");
        // Not a known assertion type: the whole cell is the expected answer.
        assert_eq!(
            csv_assert("Answer: 42"),
            json!({"type": "equals", "value": "Answer: 42"})
        );
    }

    #[test]
    fn nunjucks_constructs_minijinja_lacks_are_flagged() {
        let mut out = Imported::default();
        flag_template("p", "{{ items | dump }}", &mut out);
        flag_template("p", "{% for k, v in obj %}{{k}}{% endfor %}", &mut out);
        flag_template("p", "{{ name | upper }}", &mut out);
        flag_template("p", "{{ (style | load).tone }}", &mut out);
        let messages: Vec<&str> = out.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("tojson"), "{messages:?}");
        assert!(messages[1].contains("| items"), "{messages:?}");
        assert!(messages[2].contains("`load` parses JSON"), "{messages:?}");
    }
}
