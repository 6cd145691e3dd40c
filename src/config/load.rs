//! Validation of the raw suite into [`Suite`]: the [`Loader`] that collects every error, and the
//! suite's own settings, prompts, datasets and cases. `[models]` and `[gate]` have their own
//! modules.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::dataset::{self, RowOrigin};
use super::error::{ConfigError, ConfigErrors};
use super::raw::{DatasetFormat, RawDataset, RawPrompt, RawSuite};
use super::{Dataset, Defaults, GateOverride, Model, Prompt, Suite};
use crate::check::{Check, CompileCtx};
use crate::provider::{ProviderKind, Role, ToolChoice, ToolDef};
use crate::support::suggest::did_you_mean;
use crate::support::template::Templates;

/// Loads and validates the suite at `path`.
pub fn load(path: &Path) -> Result<Suite, ConfigErrors> {
    let source = ConfigError::read_text(path, "the suite file").map_err(|err| {
        if path.exists() {
            err
        } else {
            err.help("pass the suite file with `-c FILE`, or run `evalgate init` to create one")
        }
    })?;
    let raw: RawSuite = toml::from_str(&source).map_err(|e| parse_error(path, &source, &e))?;
    // An empty folder (not ".") keeps paths in messages as the user wrote them: `data.jsonl`,
    // not `./data.jsonl`.
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // Every model named in the file, valid or not: a check naming a model whose own settings
    // are wrong should not get a second, misleading "unknown model" error.
    let model_refs = raw
        .models
        .iter()
        .map(|(id, m)| (id.clone(), m.provider))
        .collect();
    Loader {
        path,
        source: &source,
        dir: &dir,
        errors: Vec::new(),
        model_refs,
    }
    .suite(raw)
}

/// Turns toml/serde's error into ours, with a snippet and a "did you mean".
fn parse_error(path: &Path, source: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim_end().to_owned();
    let (message, help) = rephrase_serde(&message);
    let mut out = ConfigError::new(path, message);
    if let Some(span) = err.span() {
        out = out.span(source, span);
    }
    if let Some(help) = help {
        out = out.help(help);
    }
    out
}

/// serde says "unknown field `x`, expected one of `a`, `b`": name the typo and suggest the
/// nearest expected name.
fn rephrase_serde(message: &str) -> (String, Option<String>) {
    for (prefix, noun) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some(end) = rest.find('`') else { continue };
        let found = &rest[..end];
        let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
        let list = expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let help = match (
            foreign_provider(found, &expected),
            did_you_mean(found, expected.iter().copied()),
        ) {
            (Some(hint), _) => hint,
            (None, Some(best)) => format!("did you mean `{best}`? expected one of {list}"),
            (None, None) if expected.is_empty() => "this key is not allowed here".to_owned(),
            (None, None) => format!("expected one of {list}"),
        };
        return (format!("unknown {noun} `{found}`"), Some(help));
    }
    (message.to_owned(), None)
}

/// What to write instead of `found`, when it is another tool's name for a provider: `azure`,
/// `ollama`, or promptfoo's `PROVIDER:MODEL` form. `expected` tells a provider apart from the
/// other enumerations serde reports.
fn foreign_provider(found: &str, expected: &[&str]) -> Option<String> {
    if !expected.contains(&ProviderKind::OpenaiCompatible.as_str()) {
        return None;
    }
    if let Some(hint) = crate::support::foreign::provider_hint(found) {
        return Some(hint.to_owned());
    }
    // promptfoo names a model `openai:gpt-4o-mini` or `openai:chat:gpt-4o-mini`.
    let (vendor, rest) = found.split_once(':')?;
    let model = rest.rsplit(':').next().unwrap_or(rest);
    if let Some(hint) = crate::support::foreign::provider_hint(vendor) {
        return Some(format!("{hint}, and `model = \"{model}\"`"));
    }
    expected.contains(&vendor).then(|| {
        format!("write the provider and the model apart: `provider = \"{vendor}\"` and `model = \"{model}\"`")
    })
}

/// Validates the suite part by part, collecting every error instead of stopping at the first, so
/// that one `validate` run lists them all.
pub(super) struct Loader<'a> {
    pub(super) path: &'a Path,
    source: &'a str,
    dir: &'a Path,
    pub(super) errors: Vec<ConfigError>,
    model_refs: Vec<(String, ProviderKind)>,
}

impl Loader<'_> {
    /// An error about `field` (a dotted path such as `models.mini.price`), pointed at its value in
    /// the suite file when it can be found there.
    pub(super) fn err(&self, field: &str, message: impl Into<String>) -> ConfigError {
        let err = ConfigError::new(self.path, message).field(field);
        match locate(self.source, field) {
            Some(span) => err.span(self.source, span),
            None => err,
        }
    }

    pub(super) fn push(&mut self, err: ConfigError) {
        self.errors.push(err);
    }

    fn suite(mut self, raw: RawSuite) -> Result<Suite, ConfigErrors> {
        self.non_finite_json();
        if raw.suite.name.trim().is_empty() {
            let e = self.err("suite.name", "the suite needs a non-empty name");
            self.push(e);
        }
        let d = &raw.defaults;
        self.check_range("defaults.temperature", d.temperature, 0.0, 2.0);
        self.check_range("defaults.top_p", d.top_p, 0.0, 1.0);
        self.check_range("defaults.threshold", d.threshold, 0.0, 1.0);
        self.check_count(
            "defaults.repeats",
            "repeats",
            d.repeats.map(u64::from),
            super::MAX_REPEATS,
        );
        self.check_count(
            "defaults.concurrency",
            "concurrency",
            d.concurrency.map(|n| n as u64),
            super::MAX_CONCURRENCY,
        );
        self.check_timeout("defaults.timeout_s", d.timeout_s);
        self.check_rate_limit_wait("defaults.rate_limit_wait_s", d.rate_limit_wait_s);

        let mut templates = Templates::new();
        let models = self.models(&raw);
        let prompts = self.prompts(&raw, &models, &mut templates);

        let checks = self.compile_checks("checks", &raw.checks, &mut templates);

        let datasets = self.datasets(&raw, &prompts, &mut templates);
        self.validate_cases(
            &prompts,
            &datasets,
            &templates,
            &checks,
            raw.checks.is_empty(),
        );
        self.validate_gate(&raw.gate, &checks, &datasets);
        let redactor = self.redactor(&raw.redact);
        if let Some(center) = &raw.audit.cost_center
            && center.trim().is_empty()
        {
            let e = self.err("audit.cost_center", "`cost_center` must not be empty");
            self.push(e);
        }
        match &raw.audit.identity {
            Some(identity) if identity.trim().is_empty() => {
                let e = self.err("audit.identity", "`identity` must not be empty");
                self.push(e);
            }
            Some(_) if !raw.audit.send_identity => {
                let e = self.err(
                    "audit.identity",
                    "`identity` is only sent with `send_identity = true`: add it, or remove `identity`",
                );
                self.push(e);
            }
            _ => {}
        }
        if raw
            .audit
            .path
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            let e = self.err("audit.path", "`path` must not be empty");
            self.push(e);
        }

        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        let state_dir = self.dir.join(super::DEFAULT_STATE_DIR);
        let audit = crate::privacy::audit::AuditSettings {
            path: match &raw.audit.path {
                Some(path) => self.dir.join(path),
                None => state_dir.join(super::AUDIT_IN_STATE_DIR),
            },
            cost_center: raw.audit.cost_center.clone(),
            send_identity: raw.audit.send_identity.then(|| match &raw.audit.identity {
                Some(value) => crate::privacy::audit::WireIdentity::Fixed(value.trim().to_owned()),
                None => crate::privacy::audit::WireIdentity::Actor,
            }),
        };
        let cache_dir = match &raw.cache.dir {
            Some(dir) => self.dir.join(dir),
            None => state_dir.join(super::CACHE_IN_STATE_DIR),
        };
        Ok(Suite {
            name: raw.suite.name,
            path: self.path.to_owned(),
            dir: self.dir.to_owned(),
            defaults: Defaults {
                repeats: raw.defaults.repeats.unwrap_or(1),
                threshold: raw.defaults.threshold,
            },
            models,
            prompts,
            datasets,
            checks,
            check_specs: raw.checks,
            templates,
            gate: super::gate::gate_config(&raw.gate),
            gate_override: raw.gate.override_label.as_ref().map(|o| GateOverride {
                label: o.label.clone(),
                allowed: o.allowed.clone(),
            }),
            state_dir,
            cache_dir,
            cache_dir_set: raw.cache.dir.is_some(),
            audit,
            audit_path_set: raw.audit.path.is_some(),
            redactor,
        })
    }

    /// Compiles `[redact]`: known kinds (or `all`) and valid regexes.
    fn redactor(&mut self, raw: &super::raw::RawRedact) -> crate::privacy::redact::Redactor {
        let mut kinds = Vec::new();
        for (i, name) in raw.kinds.iter().enumerate() {
            if name == "all" {
                kinds = crate::privacy::pii::PiiKind::ALL.to_vec();
                continue;
            }
            match crate::check::parse_pii_kinds("redact.kinds", std::slice::from_ref(name)) {
                Ok(found) => {
                    for kind in found {
                        if !kinds.contains(&kind) {
                            kinds.push(kind);
                        }
                    }
                }
                Err(err) => {
                    let e = self
                        .err(&format!("redact.kinds[{i}]"), err.message)
                        .help("use `all` to mask every built-in kind");
                    self.push(e);
                }
            }
        }
        let mut patterns = Vec::new();
        for (i, pattern) in raw.patterns.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match("") => {
                    let e = self.err(
                        &format!("redact.patterns[{i}]"),
                        "this pattern matches empty text, so it would mask between every character",
                    );
                    self.push(e);
                }
                Ok(re) => patterns.push(re),
                Err(err) => {
                    let e = self.err(
                        &format!("redact.patterns[{i}]"),
                        format!("invalid regex: {err}"),
                    );
                    self.push(e);
                }
            }
        }
        crate::privacy::redact::Redactor::new(kinds, patterns)
    }

    /// Compiles a list of checks declared at `field` (`checks`, `datasets.faq.checks`).
    fn compile_checks(
        &mut self,
        field: &str,
        specs: &[crate::check::CheckSpec],
        templates: &mut Templates,
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let name = format!("{field}[{i}]");
            let mut ctx = CompileCtx {
                templates,
                name: &name,
                base_dir: self.dir,
                models: &self.model_refs,
            };
            match Check::compile(spec, &mut ctx) {
                Ok(check) => checks.push(check),
                Err(e) => {
                    let err = self.err(&format!("{name}.{}", e.field), e.message);
                    self.push(err);
                }
            }
        }
        checks
    }

    pub(super) fn check_range(&mut self, field: &str, value: Option<f64>, min: f64, max: f64) {
        if let Some(v) = value
            && !(v >= min && v <= max)
        {
            let e = self.err(
                field,
                format!(
                    "must be between {min} and {max}, found {}",
                    crate::support::fmt::format_found(v)
                ),
            );
            self.push(e);
        }
    }

    pub(super) fn check_id(&mut self, table: &str, id: &str) {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let e = self.err(
                &format!("{table}.{id}"),
                format!("`{id}` is not a valid name: use letters, digits, `_` and `-`"),
            );
            self.push(e);
        }
    }

    fn prompts(
        &mut self,
        raw: &RawSuite,
        models: &[Model],
        templates: &mut Templates,
    ) -> Vec<Prompt> {
        if raw.prompts.is_empty() {
            let e = ConfigError::new(self.path, "the suite has no prompts")
                .help("add a `[prompts.NAME]` table with `system` and `user` templates");
            self.push(e);
        }
        let mut prompts = Vec::new();
        for (id, p) in &raw.prompts {
            self.check_id("prompts", id);
            let Some(sources) = self.prompt_sources(id, p) else {
                continue;
            };
            let mut messages = Vec::new();
            for (i, (role, source)) in sources.iter().enumerate() {
                match templates.add(&format!("prompts.{id}#{i}"), source) {
                    Ok(t) => messages.push((*role, t)),
                    Err(e) => {
                        let e = self.err(
                            &format!("prompts.{id}"),
                            format!("invalid template in the {} message: {e}", role.as_str()),
                        );
                        self.push(e);
                    }
                }
            }
            if p.models.as_ref().is_some_and(Vec::is_empty) {
                let e = self
                    .err(
                        &format!("prompts.{id}.models"),
                        "an empty `models` list runs the prompt on no model",
                    )
                    .help("list the models to run it on, or leave `models` out for every model");
                self.push(e);
            }
            let model_ids: Vec<usize> = match &p.models {
                // Grader-only models (judges, embedding models) are cells only when asked for.
                None => (0..models.len())
                    .filter(|&m| !models[m].grader_only)
                    .collect(),
                Some(names) => names
                    .iter()
                    .filter_map(|name| {
                        let found = models.iter().position(|m| &m.id == name);
                        if found.is_none() {
                            let mut e = self.err(
                                &format!("prompts.{id}.models"),
                                format!("unknown model `{name}`"),
                            );
                            if let Some(best) =
                                did_you_mean(name, models.iter().map(|m| m.id.as_str()))
                            {
                                e = e.help(format!("did you mean `{best}`?"));
                            }
                            self.push(e);
                        }
                        found
                    })
                    .collect(),
            };
            let (tools, tool_choice) = self.prompt_tools(id, p, models, &model_ids);
            prompts.push(Prompt {
                id: id.clone(),
                messages,
                sources,
                models: model_ids,
                tools,
                tool_choice,
                needs_case_messages: p.system.is_some() && p.user.is_none(),
            });
        }
        prompts
    }

    /// A prompt's `tools` and `tool_choice`, validated: names the APIs accept, unique, an object
    /// schema for the arguments, a choice naming one of the tools, and only models whose protocol
    /// sends tools.
    fn prompt_tools(
        &mut self,
        id: &str,
        p: &RawPrompt,
        models: &[Model],
        model_ids: &[usize],
    ) -> (Vec<ToolDef>, Option<ToolChoice>) {
        let mut tools: Vec<ToolDef> = Vec::new();
        for (i, raw) in p.tools.iter().flatten().enumerate() {
            let field = format!("prompts.{id}.tools[{i}]");
            if let Some(kind) = &raw.kind
                && kind != "function"
            {
                let e = self
                    .err(
                        &format!("{field}.type"),
                        format!("unknown tool type `{kind}`"),
                    )
                    .help("only `type = \"function\"` tools are supported");
                self.push(e);
                continue;
            }
            let (name, description, parameters) = match (&raw.function, &raw.name) {
                (Some(f), None) if raw.description.is_none() && raw.parameters.is_none() => {
                    (f.name.clone(), f.description.clone(), f.parameters.clone())
                }
                (None, Some(name)) => (
                    name.clone(),
                    raw.description.clone(),
                    raw.parameters.clone(),
                ),
                _ => {
                    let e = self
                        .err(
                            &field,
                            "a tool needs either `name` (with `description`, `parameters`) or `function = { name, ... }`, not both",
                        )
                        .help("e.g. `name = \"get_weather\"`, `parameters = { type = \"object\", properties = { city = { type = \"string\" } } }`");
                    self.push(e);
                    continue;
                }
            };
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !name_ok {
                let e = self.err(
                    &format!("{field}.name"),
                    format!("`{name}` is not a valid tool name: use 1 to 64 letters, digits, `_` and `-`"),
                );
                self.push(e);
                continue;
            }
            if tools.iter().any(|t| t.name == name) {
                let e = self.err(
                    &format!("{field}.name"),
                    format!("tool `{name}` is declared twice"),
                );
                self.push(e);
                continue;
            }
            // Both APIs require an object schema; an absent one means "no arguments".
            let parameters = parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            if parameters.get("type").and_then(serde_json::Value::as_str) != Some("object") {
                let e = self
                    .err(
                        &format!("{field}.parameters"),
                        "`parameters` must be a JSON Schema with `type = \"object\"`",
                    )
                    .help("both OpenAI and Anthropic take the arguments as one JSON object");
                self.push(e);
                continue;
            }
            if let Err(err) = jsonschema::validator_for(&parameters) {
                let e = self.err(
                    &format!("{field}.parameters"),
                    format!("invalid JSON schema: {err}"),
                );
                self.push(e);
                continue;
            }
            tools.push(ToolDef {
                name,
                description,
                parameters,
            });
        }
        let field = format!("prompts.{id}.tool_choice");
        let choice = match p.tool_choice.as_deref() {
            None => None,
            Some("auto") => Some(ToolChoice::Auto),
            Some("none") => Some(ToolChoice::None),
            Some("required") => Some(ToolChoice::Required),
            Some(name) if tools.iter().any(|t| t.name == name) => {
                Some(ToolChoice::Function(name.to_owned()))
            }
            Some(other) => {
                let names = tools.iter().map(|t| t.name.as_str());
                let help = match did_you_mean(
                    other,
                    ["auto", "none", "required"].into_iter().chain(names),
                ) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => {
                        "use `auto`, `none`, `required` or the name of one of the prompt's `tools`"
                            .to_owned()
                    }
                };
                let e = self
                    .err(
                        &field,
                        format!("`tool_choice` `{other}` is neither a mode nor a declared tool"),
                    )
                    .help(help);
                self.push(e);
                None
            }
        };
        if choice.is_some() && p.tools.as_ref().is_none_or(Vec::is_empty) {
            let e = self
                .err(&field, "`tool_choice` without `tools`")
                .help("declare the functions with `[[prompts.NAME.tools]]`");
            self.push(e);
        }
        if p.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            for &m in model_ids {
                let model = &models[m];
                if matches!(model.kind, ProviderKind::Http | ProviderKind::Command) {
                    let e = self
                        .err(
                            &format!("prompts.{id}.tools"),
                            format!(
                                "prompt `{id}` declares tools but runs on model `{}`, whose provider `{}` cannot send them",
                                model.id,
                                model.kind.as_str()
                            ),
                        )
                        .help("tools are sent by `openai`, `openai-compatible` and `anthropic` models; restrict the prompt with `models = [...]`");
                    self.push(e);
                }
            }
        }
        (tools, choice)
    }

    /// The role/template pairs of a prompt, from whichever of its forms it uses.
    fn prompt_sources(&mut self, id: &str, p: &RawPrompt) -> Option<Vec<(Role, String)>> {
        let forms = [
            p.system.is_some() || p.user.is_some(),
            p.messages.is_some(),
            p.file.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            let e = self.err(
                &format!("prompts.{id}"),
                format!("prompt `{id}` needs exactly one of `system`/`user`, `messages` or `file`"),
            );
            self.push(e);
            return None;
        }
        if let Some(messages) = &p.messages {
            let mut out = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                match parse_role(&m.role) {
                    Some(role) => out.push((role, m.content.clone())),
                    None => {
                        let e = self
                            .err(
                                &format!("prompts.{id}.messages[{i}].role"),
                                format!("unknown role `{}`", m.role),
                            )
                            .help("a role is `system`, `user` or `assistant`");
                        self.push(e);
                    }
                }
            }
            return Some(out);
        }
        if let Some(file) = &p.file {
            let path = self.dir.join(file);
            return match crate::support::fs::read_text(&path) {
                Ok(text) => match split_roles(&text) {
                    Ok(messages) => Some(messages),
                    Err(message) => {
                        self.push(
                            ConfigError::new(&path, message)
                                .help("a line `system:`, `user:` or `assistant:` starts a message"),
                        );
                        None
                    }
                },
                Err(e @ crate::support::fs::TextError::NotUtf8 { line, column, .. }) => {
                    let e = ConfigError::new(&path, format!("cannot read the prompt file: {e}"))
                        .at(line, column)
                        .help(crate::support::fs::NOT_UTF8_HELP);
                    self.push(e);
                    None
                }
                Err(e) => {
                    let e = self
                        .err(
                            &format!("prompts.{id}.file"),
                            format!("cannot read `{}`: {e}", path.display()),
                        )
                        .help("prompt files are relative to the suite file");
                    self.push(e);
                    None
                }
            };
        }
        let mut out = Vec::new();
        if let Some(system) = &p.system {
            out.push((Role::System, system.clone()));
        }
        // A `system` without `user` is a prompt for cases that bring their own conversation
        // (`messages`); a case without one is reported by `validate_cases`.
        if let Some(user) = &p.user {
            out.push((Role::User, user.clone()));
        }
        Some(out)
    }

    fn datasets(
        &mut self,
        raw: &RawSuite,
        prompts: &[Prompt],
        templates: &mut Templates,
    ) -> Vec<Dataset> {
        if raw.datasets.is_empty() {
            let e = ConfigError::new(self.path, "the suite has no datasets").help(
                "add a `[datasets.NAME]` table with `file = \"cases.jsonl\"` or inline `cases`",
            );
            self.push(e);
        }
        let mut datasets = Vec::new();
        for (id, d) in &raw.datasets {
            self.check_id("datasets", id);
            let prompt_ids = self.dataset_prompts(id, d, prompts);
            let checks =
                self.compile_checks(&format!("datasets.{id}.checks"), &d.checks, templates);
            let cases = self.cases(id, d, templates);
            datasets.push(Dataset {
                id: id.clone(),
                cases,
                prompts: prompt_ids,
                checks,
                check_specs: d.checks.clone(),
            });
        }
        datasets
    }

    fn dataset_prompts(&mut self, id: &str, d: &RawDataset, prompts: &[Prompt]) -> Vec<usize> {
        let Some(names) = &d.prompts else {
            return (0..prompts.len()).collect();
        };
        if names.is_empty() {
            let e = self
                .err(
                    &format!("datasets.{id}.prompts"),
                    "an empty `prompts` list runs the dataset's cases through no prompt",
                )
                .help("list the prompts to run, or leave `prompts` out for every prompt");
            self.push(e);
        }
        let mut out = Vec::new();
        for name in names {
            match prompts.iter().position(|p| &p.id == name) {
                Some(i) => out.push(i),
                None => {
                    let mut e = self.err(
                        &format!("datasets.{id}.prompts"),
                        format!("unknown prompt `{name}`"),
                    );
                    if let Some(best) = did_you_mean(name, prompts.iter().map(|p| p.id.as_str())) {
                        e = e.help(format!("did you mean `{best}`?"));
                    }
                    self.push(e);
                }
            }
        }
        out
    }

    fn cases(&mut self, id: &str, d: &RawDataset, templates: &mut Templates) -> Vec<dataset::Case> {
        let rows: Vec<dataset::Row>;
        let file: PathBuf;
        let shown: String;
        match (&d.file, &d.cases) {
            (Some(f), None) => {
                file = self.dir.join(f);
                shown = f.clone();
                match dataset::read_file(&file, f) {
                    Ok(r) => rows = r,
                    Err(e) => {
                        self.push(e);
                        return Vec::new();
                    }
                }
            }
            (None, Some(cases)) => {
                file = self.path.to_owned();
                shown = self.path.display().to_string();
                rows = cases
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        (
                            None,
                            Some(format!("datasets.{id}.cases[{i}]")),
                            Ok(c.clone()),
                        )
                    })
                    .collect();
            }
            _ => {
                let e = self.err(
                    &format!("datasets.{id}"),
                    format!("dataset `{id}` needs exactly one of `file` or `cases`"),
                );
                self.push(e);
                return Vec::new();
            }
        }
        let mut cases = Vec::with_capacity(rows.len());
        for (index, (line, field, row)) in rows.into_iter().enumerate() {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    self.push(e);
                    continue;
                }
            };
            let display = match (line, &field) {
                (Some(line), _) => format!("{shown}:{line}"),
                (None, Some(field)) if d.file.is_some() => format!("{shown} {field}"),
                (None, Some(field)) => field.clone(),
                (None, None) => shown.clone(),
            };
            let origin = RowOrigin {
                file: &file,
                line,
                field: field.clone(),
                display,
            };
            let row = match d.format {
                DatasetFormat::Cases => row,
                DatasetFormat::OpenaiEvals => match dataset::openai_evals_row(row, &origin) {
                    Ok(row) => row,
                    Err(e) => {
                        self.push(e);
                        continue;
                    }
                },
            };
            match dataset::case_from_row(
                row,
                &origin,
                id,
                index,
                templates,
                self.dir,
                &self.model_refs,
            ) {
                Ok(case) => cases.push(case),
                Err(mut e) => {
                    // Inline cases live in the suite file: point at them there.
                    if d.file.is_none()
                        && let Some(field) = &field
                        && let Some(span) = locate(self.source, field)
                    {
                        e = e.span(self.source, span);
                    }
                    self.push(e);
                }
            }
        }
        if cases.is_empty() && self.errors.is_empty() {
            let e = self.err(
                &format!("datasets.{id}"),
                format!("dataset `{id}` has no cases"),
            );
            self.push(e);
        }
        cases
    }

    /// Every case a prompt sees has the variables its templates use, and case ids are unique
    /// within each prompt (they pair results across runs).
    fn validate_cases(
        &mut self,
        prompts: &[Prompt],
        datasets: &[Dataset],
        templates: &Templates,
        suite_checks: &[Check],
        checks_empty: bool,
    ) {
        // The variables each check's templates read (`{{ expected }}` most often).
        let check_vars = |checks: &[Check]| -> Vec<(String, BTreeSet<String>)> {
            checks
                .iter()
                .map(|c| {
                    (
                        c.type_name.clone(),
                        templates.variables_under(&c.template_prefix),
                    )
                })
                .filter(|(_, vars)| !vars.is_empty())
                .collect()
        };
        let suite_check_vars = check_vars(suite_checks);
        // A case fed to several prompts is reported once per check problem.
        let mut reported = BTreeSet::new();
        for (pi, prompt) in prompts.iter().enumerate() {
            let mut used = BTreeSet::new();
            for (_, t) in &prompt.messages {
                used.extend(templates.variables(t));
            }
            let mut seen: HashMap<&str, &str> = HashMap::new();
            for dataset in datasets.iter().filter(|d| d.prompts.contains(&pi)) {
                let dataset_check_vars = check_vars(&dataset.checks);
                for case in &dataset.cases {
                    if checks_empty && dataset.check_specs.is_empty() && case.check_specs.is_empty()
                    {
                        let e = ConfigError::new(self.path, format!("case `{}` ({}) has no checks, so it would pass whatever the model answers", case.id, case.origin))
                            .help("add `[[checks]]` to the suite, `checks` to the dataset, or `checks` to the case");
                        self.push(e);
                    }
                    if case.messages.is_empty() && prompt.needs_case_messages {
                        let e = self
                            .err(
                                &format!("prompts.{}", prompt.id),
                                format!(
                                    "prompt `{}` has no `user` message and case `{}` ({}) has no `messages`, so the model would be sent no question",
                                    prompt.id, case.id, case.origin
                                ),
                            )
                            .help("give the prompt a `user` template, or the case a `messages` list");
                        self.push(e);
                    }
                    if let Some(first) = seen.insert(&case.id, &case.origin) {
                        let e = ConfigError::new(
                            self.path,
                            format!(
                                "duplicate case id `{}` for prompt `{}`: {} and {}",
                                case.id, prompt.id, first, case.origin
                            ),
                        )
                        .help("case ids pair results across runs; give each case a unique `id`");
                        self.push(e);
                    }
                    let missing: Vec<&String> = used
                        .iter()
                        .filter(|v| {
                            let provided = match v.as_str() {
                                "vars" | "id" => true,
                                "expected" => case.expected.is_some(),
                                name => case.vars.contains_key(name),
                            };
                            !provided
                        })
                        .collect();
                    for var in &missing {
                        let e = ConfigError::new(self.path, format!(
                            "prompt `{}` uses `{{{{ {var} }}}}` but case `{}` ({}) has no variable `{var}`",
                            prompt.id, case.id, case.origin
                        ))
                        .field(format!("prompts.{}", prompt.id))
                        .help(match did_you_mean(var, case.vars.keys().map(String::as_str)) {
                            Some(best) => format!("the case has `{best}`: a typo in the template or the data?"),
                            None => format!("add `{var}` to the case's vars, or restrict the dataset with `prompts = [...]`"),
                        });
                        self.push(e);
                    }
                    let provided = |v: &str| match v {
                        "vars" | "id" => true,
                        "expected" => case.expected.is_some(),
                        name => case.vars.contains_key(name),
                    };
                    let own_check_vars = check_vars(&case.checks);
                    let case_checks = suite_check_vars
                        .iter()
                        .chain(&dataset_check_vars)
                        .chain(&own_check_vars);
                    for (kind, vars) in case_checks {
                        for var in vars.iter().filter(|v| !provided(v)) {
                            let what = if var == "expected" {
                                "no `expected`".to_owned()
                            } else {
                                format!("no variable `{var}`")
                            };
                            let e = ConfigError::new(
                                self.path,
                                format!(
                                    "a `{kind}` check uses `{{{{ {var} }}}}` but case `{}` ({}) has {what}",
                                    case.id, case.origin
                                ),
                            )
                            .help(if var == "expected" {
                                "add `expected` to the case, or give the check to the datasets that have it".to_owned()
                            } else {
                                format!("add `{var}` to the case's vars")
                            });
                            if reported.insert(e.to_string()) {
                                self.push(e);
                            }
                        }
                    }
                    if missing.is_empty() {
                        for (role, t) in &prompt.messages {
                            if let Err(err) = templates.render(t, &case.ctx) {
                                let e = ConfigError::new(
                                    self.path,
                                    format!(
                                        "prompt `{}` ({} message) fails to render for case `{}` ({}): {err}",
                                        prompt.id,
                                        role.as_str(),
                                        case.id,
                                        case.origin
                                    ),
                                );
                                self.push(e);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "system" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        _ => None,
    }
}

/// Splits a prompt file into messages at lines that are exactly `system:`, `user:` or
/// `assistant:` (the Prompty convention). A file without such lines is one user message. The split
/// happens before rendering, so a variable's value can never start a new message.
pub(super) fn split_roles(text: &str) -> Result<Vec<(Role, String)>, String> {
    let mut messages: Vec<(Role, String)> = Vec::new();
    let mut preamble = String::new();
    for line in text.split_inclusive('\n') {
        let marker = line.trim_end().strip_suffix(':').and_then(parse_role);
        match (marker, messages.last_mut()) {
            (Some(role), _) => messages.push((role, String::new())),
            (None, Some((_, content))) => content.push_str(line),
            (None, None) => preamble.push_str(line),
        }
    }
    if messages.is_empty() {
        return Ok(vec![(Role::User, text.trim().to_owned())]);
    }
    if !preamble.trim().is_empty() {
        return Err("text before the first role line (`system:`, `user:` or `assistant:`)".into());
    }
    Ok(messages
        .into_iter()
        .map(|(r, c)| (r, c.trim().to_owned()))
        .collect())
}

/// The byte span of the value at a dotted path (`models.mini.price`, `checks[2].pattern`) in the
/// suite file, if it is written there.
fn locate(source: &str, field: &str) -> Option<std::ops::Range<usize>> {
    let root = DeTable::parse(source).ok()?;
    let mut segments = Vec::new();
    for part in field.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        segments.push(Seg::Key(name));
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            segments.push(Seg::Index(idx.trim_end_matches(']').parse().ok()?));
        }
    }
    let mut iter = segments.into_iter();
    let Some(Seg::Key(first)) = iter.next() else {
        return None;
    };
    let mut current = root.get_ref().iter().find(|(k, _)| k.get_ref() == first)?.1;
    let mut span = current.span();
    for seg in iter {
        let next = match (seg, current.get_ref()) {
            (Seg::Key(k), value @ DeValue::Table(_)) => value.get(k),
            (Seg::Index(i), value @ DeValue::Array(_)) => value.get(i),
            _ => None,
        };
        match next {
            Some(v) => {
                current = v;
                span = v.span();
            }
            // The deepest part that exists is the best place to point at.
            None => break,
        }
    }
    Some(span)
}

impl Loader<'_> {
    /// TOML allows `inf` and `nan`; JSON, which case variables, expected values, check values
    /// and request bodies become, does not, and would turn them into `null` without a word.
    fn non_finite_json(&mut self) {
        let Ok(root) = DeTable::parse(self.source) else {
            return;
        };
        let mut found = Vec::new();
        for (key, value) in root.get_ref() {
            let key = key.get_ref();
            match (key.as_ref(), value.get_ref()) {
                ("checks", v) => non_finite(v, key.to_string(), &mut found),
                ("datasets" | "models" | "defaults", DeValue::Table(t)) => {
                    for (name, v) in t {
                        let path = format!("{key}.{}", name.get_ref());
                        if let DeValue::Table(inner) = v.get_ref() {
                            for (field, v) in inner {
                                let field = field.get_ref();
                                if matches!(
                                    field.as_ref(),
                                    "cases" | "checks" | "extra_body" | "body"
                                ) {
                                    non_finite(v.get_ref(), format!("{path}.{field}"), &mut found);
                                }
                            }
                        } else if matches!(name.get_ref().as_ref(), "extra_body") {
                            non_finite(v.get_ref(), path, &mut found);
                        }
                    }
                }
                _ => {}
            }
        }
        for (path, text) in found {
            let e = self
                .err(&path, format!("`{text}` is not a finite number"))
                .help("values that become JSON (variables, expected values, check values, request bodies) must be finite numbers");
            self.push(e);
        }
    }
}

/// Paths and text of the `inf`/`nan` floats in `value`.
fn non_finite(value: &DeValue<'_>, path: String, found: &mut Vec<(String, String)>) {
    match value {
        DeValue::Float(f) if f.as_str().parse::<f64>().is_ok_and(|v| !v.is_finite()) => {
            found.push((path, f.as_str().to_owned()));
        }
        DeValue::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                non_finite(v.get_ref(), format!("{path}[{i}]"), found);
            }
        }
        DeValue::Table(t) => {
            for (k, v) in t {
                non_finite(v.get_ref(), format!("{path}.{}", k.get_ref()), found);
            }
        }
        _ => {}
    }
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rephrases_unknown_field_with_suggestion() {
        let (msg, help) = rephrase_serde(
            "unknown field `temprature`, expected one of `temperature`, `max_tokens`",
        );
        assert_eq!(msg, "unknown key `temprature`");
        assert_eq!(
            help.as_deref(),
            Some("did you mean `temperature`? expected one of `temperature`, `max_tokens`")
        );
    }

    #[test]
    fn rephrases_unknown_variant() {
        let (msg, help) =
            rephrase_serde("unknown variant `opneai`, expected one of `openai`, `anthropic`");
        assert_eq!(msg, "unknown value `opneai`");
        assert!(help.is_some_and(|h| h.starts_with("did you mean `openai`?")));
    }

    /// The foreign-name table must not shadow evalgate's own names, and may only point at
    /// check types and providers that exist.
    #[test]
    fn foreign_names_are_not_evalgate_names_and_their_hints_name_real_ones() {
        let checks: Vec<&str> = crate::check::check_types().collect();
        let providers = [
            ProviderKind::Openai,
            ProviderKind::OpenaiCompatible,
            ProviderKind::Anthropic,
            ProviderKind::Http,
            ProviderKind::Command,
        ]
        .map(ProviderKind::as_str);
        let named = |hint: &str, key: &str| -> Vec<String> {
            hint.split(&format!("`{key} = \""))
                .skip(1)
                .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
                .collect()
        };
        let mut pointed = 0;
        for (name, is_check, hint) in crate::support::foreign::all() {
            assert!(
                !checks.contains(&name),
                "`{name}` is an evalgate check type"
            );
            assert!(
                !providers.contains(&name),
                "`{name}` is an evalgate provider"
            );
            for check in named(hint, "type") {
                assert!(is_check, "{name}: a provider hint names a check type");
                assert!(
                    checks.contains(&check.as_str()),
                    "{name}: no check `{check}`"
                );
                pointed += 1;
            }
            for provider in named(hint, "provider") {
                assert!(!is_check, "{name}: a check hint names a provider");
                assert!(
                    providers.contains(&provider.as_str()),
                    "{name}: no provider `{provider}`"
                );
                pointed += 1;
            }
        }
        assert!(pointed > 20, "the hints name {pointed} types and providers");
    }

    #[test]
    fn the_docs_list_every_foreign_name() {
        let docs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/configuration.md"
        ))
        .expect("read docs/configuration.md");
        let section = docs
            .split("\n## Coming from promptfoo\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/configuration.md has a `## Coming from promptfoo` section");
        for (name, _, _) in crate::support::foreign::all() {
            assert!(
                section.contains(&format!("| `{name}`"))
                    || section.contains(&format!(", `{name}`")),
                "docs/configuration.md's \"Coming from promptfoo\" tables lack `{name}`"
            );
        }
    }

    #[test]
    fn a_foreign_provider_gets_its_hint_only_where_a_provider_is_expected() {
        let (msg, help) = rephrase_serde(
            "unknown variant `ollama`, expected one of `openai`, `openai-compatible`, `anthropic`, `http`, `command`",
        );
        assert_eq!(msg, "unknown value `ollama`");
        assert!(help.is_some_and(|h| h.contains("http://localhost:11434/v1")));
        let (_, help) = rephrase_serde("unknown variant `ollama`, expected one of `any`, `all`");
        assert_eq!(help.as_deref(), Some("expected one of `any`, `all`"));
    }

    #[test]
    fn split_roles_on_marker_lines() {
        let msgs =
            split_roles("system:\nBe brief.\nuser:\n{{ q }}\nuser: not a marker\n").expect("valid");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], (Role::System, "Be brief.".into()));
        assert_eq!(msgs[1], (Role::User, "{{ q }}\nuser: not a marker".into()));
    }

    #[test]
    fn split_roles_without_markers_is_one_user_message() {
        assert_eq!(
            split_roles("Hello {{ name }}\n").expect("valid"),
            vec![(Role::User, "Hello {{ name }}".into())]
        );
        assert!(split_roles("stray\nsystem:\nx").is_err());
    }

    #[test]
    fn locate_finds_nested_values() {
        let src = "[models.mini]\nprovider = \"openai\"\nprice = { input_per_mtok = -1, output_per_mtok = 1 }\n\n[[checks]]\ntype = \"regex\"\n\n[[checks]]\npattern = \"(\"\n";
        let span = locate(src, "models.mini.price.input_per_mtok").expect("found");
        assert_eq!(&src[span], "-1");
        let span = locate(src, "checks[1].pattern").expect("found");
        assert_eq!(&src[span], "\"(\"");
        // A path that goes deeper than the file points at the deepest part that exists: here
        // the table, whose span is its header.
        let span = locate(src, "models.mini.nothing").expect("found");
        assert_eq!(&src[span], "[models.mini]");
    }

    /// Both tool shapes load into the same definition; every mistake is an error that names its
    /// field and line.
    #[test]
    fn prompt_tools_load_in_either_shape_and_mistakes_name_their_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let load = |prompt: &str, model: &str| {
            let path = dir.path().join("evalgate.toml");
            let body = format!(
                "[suite]\nname = \"s\"\n\n[models.m]\n{model}\n\n[prompts.p]\nuser = \"{{{{ q }}}}\"\n{prompt}\n\n[datasets.d]\ncases = [{{ id = \"c\", vars = {{ q = \"x\" }} }}]\n\n[[checks]]\ntype = \"no-tool-call\"\n"
            );
            std::fs::write(&path, body).expect("write suite");
            crate::config::load(&path)
        };
        let openai =
            "provider = \"openai-compatible\"\nbase_url = \"http://localhost:1/v1\"\nmodel = \"x\"";
        let suite = load(
            "tool_choice = \"lookup\"\n[[prompts.p.tools]]\nname = \"lookup\"\ndescription = \"Find\"\nparameters = { type = \"object\", properties = { q = { type = \"string\" } } }\n[[prompts.p.tools]]\ntype = \"function\"\nfunction = { name = \"now\" }",
            openai,
        )
        .expect("valid");
        let p = &suite.prompts[0];
        assert_eq!(p.tool_choice, Some(ToolChoice::Function("lookup".into())));
        assert_eq!(
            p.tools
                .iter()
                .map(|t| (t.name.as_str(), t.description.as_deref()))
                .collect::<Vec<_>>(),
            [("lookup", Some("Find")), ("now", None)]
        );
        assert_eq!(
            p.tools[1].parameters,
            serde_json::json!({"type": "object", "properties": {}})
        );

        let errors = |prompt: &str, model: &str| {
            load(prompt, model)
                .expect_err("invalid")
                .0
                .into_iter()
                .map(|e| (e.field.unwrap_or_default(), e.message, e.location.is_some()))
                .collect::<Vec<_>>()
        };
        let found = errors(
            "tool_choice = \"lokup\"\n[[prompts.p.tools]]\nname = \"lookup\"\nparameters = { type = \"string\" }\n[[prompts.p.tools]]\nname = \"bad name\"",
            openai,
        );
        let fields: Vec<&str> = found.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "prompts.p.tools[0].parameters",
                "prompts.p.tools[1].name",
                "prompts.p.tool_choice"
            ],
            "{found:?}"
        );
        assert!(found.iter().all(|(_, _, located)| *located), "{found:?}");
        let found = errors(
            "[[prompts.p.tools]]\nname = \"lookup\"",
            "provider = \"command\"\ncommand = [\"cat\"]",
        );
        assert!(
            found[0].1.contains("provider `command` cannot send them"),
            "{found:?}"
        );
        let found = errors("tool_choice = \"auto\"", openai);
        assert_eq!(found[0].1, "`tool_choice` without `tools`");
    }

    #[test]
    fn a_state_folder_moves_the_defaults_and_leaves_what_the_suite_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = "[suite]\nname = \"s\"\n\n[models.m]\nprovider = \"command\"\ncommand = [\"cat\"]\n\n[prompts.p]\nuser = \"{{ q }}\"\n\n[datasets.d]\ncases = [{ id = \"c\", vars = { q = \"x\" } }]\n\n[[checks]]\ntype = \"contains\"\nvalue = \"x\"\n";
        let load = |extra: &str| {
            let path = dir.path().join("evalgate.toml");
            std::fs::write(&path, format!("{body}{extra}")).expect("write suite");
            crate::config::load(&path).expect("suite")
        };
        let state = dir.path().join("state");

        let mut suite = load("");
        assert_eq!(suite.state_dir, dir.path().join(".evalgate"));
        assert_eq!(suite.cache_dir, dir.path().join(".evalgate/cache"));
        assert_eq!(suite.audit.path, dir.path().join(".evalgate/audit.jsonl"));
        suite.set_state_dir(state.clone());
        assert_eq!(suite.state_dir, state);
        assert_eq!(suite.cache_dir, state.join("cache"));
        assert_eq!(suite.audit.path, state.join("audit.jsonl"));

        let mut suite =
            load("\n[cache]\ndir = \"committed\"\n\n[audit]\npath = \"logs/audit.jsonl\"\n");
        suite.set_state_dir(state.clone());
        assert_eq!(suite.state_dir, state);
        assert_eq!(suite.cache_dir, dir.path().join("committed"));
        assert_eq!(suite.audit.path, dir.path().join("logs/audit.jsonl"));
    }
}
