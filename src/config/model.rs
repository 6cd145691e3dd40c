//! `[models.NAME]` as written → a [`Model`]: which keys each provider kind takes, what each kind
//! requires, and the checks every model shares.

use std::time::Duration;

use super::error::ConfigError;
use super::load::Loader;
use super::raw::{RawDefaults, RawModel, RawPrice, RawSuite};
use super::{Model, Price};
use crate::provider::{CallParams, HttpSpec, ProviderKind};

const KINDS: [ProviderKind; 5] = [
    ProviderKind::Openai,
    ProviderKind::OpenaiCompatible,
    ProviderKind::Anthropic,
    ProviderKind::Http,
    ProviderKind::Command,
];

/// The keys of [`kind_keys`] that `kind` takes. Every other key (call parameters, price, limits,
/// `model`, `grader_only`) applies to every kind.
fn allowed_keys(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::Anthropic => &[
            "headers",
            "query",
            "extra_body",
            "api_key_env",
            "base_url",
            "batch",
        ],
        ProviderKind::Http => &[
            "url",
            "method",
            "body",
            "output_pointer",
            "input_tokens_pointer",
            "output_tokens_pointer",
            "headers",
            "query",
            "extra_body",
            "api_key_env",
        ],
        ProviderKind::Command => &["command"],
    }
}

/// Whether the kind calls a hosted chat API, which must be told the model name; an http endpoint
/// or a program is named after its table.
fn is_chat_api(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::Anthropic
    )
}

/// The variable holding the key when the table names none: the one each vendor's own SDK reads.
fn default_key_env(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("OPENAI_API_KEY"),
        ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
        ProviderKind::OpenaiCompatible | ProviderKind::Http | ProviderKind::Command => None,
    }
}

/// The keys only some kinds take, whether the table sets each, in the order their misuse is
/// reported.
fn kind_keys(m: &RawModel) -> [(&'static str, bool); 13] {
    [
        ("url", m.url.is_some()),
        ("method", m.method.is_some()),
        ("body", m.body.is_some()),
        ("output_pointer", m.output_pointer.is_some()),
        ("input_tokens_pointer", m.input_tokens_pointer.is_some()),
        ("output_tokens_pointer", m.output_tokens_pointer.is_some()),
        ("command", m.command.is_some()),
        ("headers", !m.headers.is_empty()),
        ("query", !m.query.is_empty()),
        ("extra_body", m.extra_body.is_some()),
        ("api_key_env", m.api_key_env.is_some()),
        ("base_url", m.base_url.is_some()),
        // `batch = false` says what every kind does anyway.
        ("batch", m.batch == Some(true)),
    ]
}

/// The message and help for `key` on a model of `kind`, which does not take it. A key that only
/// one kind takes names that kind: the user most likely meant it.
fn misplaced_key(kind: ProviderKind, key: &str) -> (String, Option<&'static str>) {
    let owners: Vec<ProviderKind> = KINDS
        .into_iter()
        .filter(|k| allowed_keys(*k).contains(&key))
        .collect();
    if let [owner] = owners[..] {
        let message = format!(
            "`{key}` applies only to `provider = \"{}\"`",
            owner.as_str()
        );
        return (message, None);
    }
    let help = match (kind, key) {
        (ProviderKind::Http, "base_url") => "use `url`",
        (_, "batch") => {
            "batch mode sends calls through OpenAI's Batch API or Anthropic's Message Batches: only `openai`, `openai-compatible` and `anthropic` models have one"
        }
        // A program gets no HTTP request: what these would carry, keys above all, it reads from
        // the environment instead.
        (ProviderKind::Command, "headers" | "query" | "extra_body" | "api_key_env") => {
            "the program inherits evalgate's environment: read keys from it"
        }
        _ => "remove it",
    };
    let message = format!(
        "`{key}` does not apply to `provider = \"{}\"`",
        kind.as_str()
    );
    (message, Some(help))
}

impl Loader<'_> {
    pub(super) fn models(&mut self, raw: &RawSuite) -> Vec<Model> {
        if raw.models.is_empty() {
            let e = ConfigError::new(self.path, "the suite has no models")
                .help("add a `[models.NAME]` table with `provider` and `model`");
            self.push(e);
        }
        let mut models = Vec::new();
        for (id, m) in &raw.models {
            self.check_id("models", id);
            if let Some(model) = self.model(id, m, &raw.defaults) {
                models.push(model);
            }
        }
        if !raw.models.is_empty() && raw.models.values().all(|m| m.grader_only == Some(true)) {
            let e = ConfigError::new(
                self.path,
                "every model is `grader_only`: nothing to evaluate",
            )
            .help("remove `grader_only = true` from the model(s) whose answers you want graded");
            self.push(e);
        }
        models
    }

    /// One model table, or `None` once any of its problems is reported; every problem is
    /// reported, not only the first.
    fn model(&mut self, id: &str, m: &RawModel, defaults: &RawDefaults) -> Option<Model> {
        let before = self.errors.len();
        self.misplaced_keys(id, m);
        let model_name = self.model_name(id, m);
        self.base_url(id, m);
        let http = self.http_spec(id, m);
        let command = self.command_argv(id, m);
        self.common_fields(id, m);
        if self.errors.len() > before {
            return None;
        }
        Some(build_model(id, m, defaults, model_name, http, command))
    }

    /// Keys that belong to another provider kind are mistakes, not options to ignore.
    fn misplaced_keys(&mut self, id: &str, m: &RawModel) {
        let allowed = allowed_keys(m.provider);
        for (key, present) in kind_keys(m) {
            if present && !allowed.contains(&key) {
                let (message, help) = misplaced_key(m.provider, key);
                let mut e = self.err(&format!("models.{id}.{key}"), message);
                if let Some(help) = help {
                    e = e.help(help);
                }
                self.push(e);
            }
        }
    }

    fn model_name(&mut self, id: &str, m: &RawModel) -> String {
        match &m.model {
            Some(name) if !name.trim().is_empty() => name.clone(),
            _ if !is_chat_api(m.provider) => id.to_owned(),
            _ => {
                let e = self
                    .err(
                        &format!("models.{id}"),
                        format!("model `{id}` needs `model`, the model name the API expects"),
                    )
                    .help("for example `model = \"gpt-4.1-mini\"`");
                self.push(e);
                String::new()
            }
        }
    }

    /// An openai-compatible server can be anywhere, so it must say where; any `base_url` must be
    /// an http(s) URL, even on a kind that does not take one.
    fn base_url(&mut self, id: &str, m: &RawModel) {
        if m.provider == ProviderKind::OpenaiCompatible && m.base_url.is_none() {
            let e = self
                .err(
                    &format!("models.{id}"),
                    format!("model `{id}` (openai-compatible) needs `base_url`"),
                )
                .help(
                    "for example `base_url = \"http://localhost:8080/v1\"` for a llama.cpp server",
                );
            self.push(e);
        }
        if let Some(url) = &m.base_url {
            self.http_url(&format!("models.{id}.base_url"), url);
        }
        if let Some(url) = &m.url {
            self.http_url(&format!("models.{id}.url"), url);
        }
        if let Some(method) = &m.method
            && reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).is_err()
        {
            let e = self
                .err(
                    &format!("models.{id}.method"),
                    format!("`{method}` is not an HTTP method"),
                )
                .help("for example `method = \"POST\"`");
            self.push(e);
        }
        self.headers(id, m);
    }

    /// A URL the HTTP client will accept: http or https, with a host.
    fn http_url(&mut self, field: &str, url: &str) {
        let problem = match reqwest::Url::parse(url) {
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
                format!("`{url}` is not an http(s) URL")
            }
            Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
                format!("`{url}` names no host")
            }
            Ok(_) => return,
            Err(e) => format!("`{url}` is not a valid URL: {e}"),
        };
        let e = self
            .err(field, problem)
            .help("for example `http://localhost:8080/v1`");
        self.push(e);
    }

    /// Header names HTTP allows, and values that can be sent once `${ENV}` references are
    /// filled in: the text around the references is checked here, the variables' values when
    /// the run reads them.
    fn headers(&mut self, id: &str, m: &RawModel) {
        for (name, value) in &m.headers {
            let field = format!("models.{id}.headers.{name}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                let e = self
                    .err(&field, format!("`{name}` is not a valid HTTP header name"))
                    .help("header names are letters, digits and `-`, e.g. `X-Team`");
                self.push(e);
                continue;
            }
            let literal = value.replace("${", "").replace('}', "");
            if reqwest::header::HeaderValue::from_str(&literal).is_err() {
                let e = self
                    .err(
                        &field,
                        "the value holds characters HTTP headers cannot carry (a line break or a control character)",
                    )
                    .help("put the value on one line, or read it from the environment with `${NAME}`");
                self.push(e);
            }
        }
    }

    /// The request of an `http` model; `None` for other kinds.
    fn http_spec(&mut self, id: &str, m: &RawModel) -> Option<HttpSpec> {
        if m.provider != ProviderKind::Http {
            return None;
        }
        let (Some(url), Some(pointer)) = (&m.url, &m.output_pointer) else {
            let e = self.err(&format!("models.{id}"), format!("model `{id}` (http) needs `url` and `output_pointer`"))
                .help("`output_pointer` is the JSON pointer of the answer in the response, e.g. `/answer`");
            self.push(e);
            return None;
        };
        if !pointer.is_empty() && !pointer.starts_with('/') {
            let e = self
                .err(
                    &format!("models.{id}.output_pointer"),
                    format!("`{pointer}` is not a JSON pointer"),
                )
                .help("a JSON pointer starts with `/`, e.g. `/choices/0/message/content`");
            self.push(e);
        }
        Some(HttpSpec {
            url: url.clone(),
            method: m
                .method
                .clone()
                .unwrap_or_else(|| "POST".into())
                .to_ascii_uppercase(),
            body: m
                .body
                .clone()
                .unwrap_or_else(|| serde_json::json!({"messages": "{{ messages }}"})),
            output_pointer: pointer.clone(),
            input_tokens_pointer: m.input_tokens_pointer.clone(),
            output_tokens_pointer: m.output_tokens_pointer.clone(),
        })
    }

    /// The program and arguments of a `command` model; `None` for other kinds.
    fn command_argv(&mut self, id: &str, m: &RawModel) -> Option<Vec<String>> {
        if m.provider != ProviderKind::Command {
            return None;
        }
        match &m.command {
            Some(argv) if !argv.is_empty() && !argv[0].is_empty() => Some(argv.clone()),
            _ => {
                let e = self
                    .err(
                        &format!("models.{id}"),
                        format!("model `{id}` (command) needs `command`, a non-empty list"),
                    )
                    .help("for example `command = [\"python3\", \"my_model.py\"]`");
                self.push(e);
                None
            }
        }
    }

    /// Price, call parameters and limits, which every kind takes.
    fn common_fields(&mut self, id: &str, m: &RawModel) {
        let field = |name: &str| format!("models.{id}.{name}");
        if let Some(price) = m.price {
            self.check_price(id, price);
        }
        self.check_range(&field("temperature"), m.temperature, 0.0, 2.0);
        self.check_range(&field("top_p"), m.top_p, 0.0, 1.0);
        self.check_count(
            &field("concurrency"),
            "concurrency",
            m.concurrency.map(|n| n as u64),
            super::MAX_CONCURRENCY,
        );
        if m.rpm == Some(0) || m.tpm == Some(0) {
            let e = self.err(
                &format!("models.{id}"),
                "`rpm` and `tpm` must be at least 1 (leave them out for no limit)",
            );
            self.push(e);
        }
        self.check_timeout(&field("timeout_s"), m.timeout_s);
        self.check_rate_limit_wait(&field("rate_limit_wait_s"), m.rate_limit_wait_s);
    }

    /// A count from 1 to `max` (a huge one would exhaust memory or overflow a semaphore).
    pub(super) fn check_count(&mut self, field: &str, key: &str, value: Option<u64>, max: u32) {
        if value.is_some_and(|n| n == 0 || n > u64::from(max)) {
            let e = self.err(field, format!("`{key}` must be from 1 to {max}"));
            self.push(e);
        }
    }

    /// `timeout_s`: more than zero, up to a day (a longer one could not even be represented).
    pub(super) fn check_timeout(&mut self, field: &str, value: Option<f64>) {
        if value.is_some_and(|t| !(t > 0.0 && t <= super::MAX_WAIT_S)) {
            let e = self.err(
                field,
                "`timeout_s` must be a number of seconds above 0 and at most 86400 (a day)",
            );
            self.push(e);
        }
    }

    /// `rate_limit_wait_s`: zero (a 429 is an error at once) up to a day.
    pub(super) fn check_rate_limit_wait(&mut self, field: &str, value: Option<f64>) {
        if value.is_some_and(|s| !(0.0..=super::MAX_WAIT_S).contains(&s)) {
            let e = self.err(
                field,
                "`rate_limit_wait_s` must be a number of seconds from 0 to 86400",
            );
            self.push(e);
        }
    }

    fn check_price(&mut self, id: &str, price: RawPrice) {
        for (key, v) in [
            ("input_per_mtok", Some(price.input_per_mtok)),
            ("output_per_mtok", Some(price.output_per_mtok)),
            ("cached_input_per_mtok", price.cached_input_per_mtok),
        ] {
            if v.is_some_and(|v| !(0.0..=MAX_PRICE_PER_MTOK).contains(&v)) {
                let e = self.err(
                    &format!("models.{id}.price.{key}"),
                    "prices are US dollars per million tokens, from 0 to 1,000,000",
                );
                self.push(e);
            }
        }
        if price
            .batch_discount
            .is_some_and(|d| !(0.0..=1.0).contains(&d))
        {
            let e = self
                .err(
                    &format!("models.{id}.price.batch_discount"),
                    "`batch_discount` is the share taken off for batch calls, from 0 to 1",
                )
                .help("0.5 (the default) means batch calls cost half the list price");
            self.push(e);
        }
    }
}

/// The highest price per million tokens: far above any real one, and low enough that a run's
/// cost stays a finite number.
const MAX_PRICE_PER_MTOK: f64 = 1_000_000.0;

/// A model table that passed every check, with the suite's defaults filled in.
fn build_model(
    id: &str,
    m: &RawModel,
    d: &RawDefaults,
    model_name: String,
    http: Option<HttpSpec>,
    command: Option<Vec<String>>,
) -> Model {
    let (api_key_env, key_required) = api_key(m);
    Model {
        id: id.to_owned(),
        kind: m.provider,
        model: model_name,
        base_url: m
            .base_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_owned()),
        api_key_env,
        key_required,
        headers: m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        query: m
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        params: call_params(m, d),
        price: m.price.map(|p| Price {
            input_per_mtok: p.input_per_mtok,
            output_per_mtok: p.output_per_mtok,
            cached_input_per_mtok: p.cached_input_per_mtok.unwrap_or(p.input_per_mtok),
            batch_discount: p.batch_discount.unwrap_or(super::DEFAULT_BATCH_DISCOUNT),
        }),
        rpm: m.rpm,
        tpm: m.tpm,
        concurrency: m
            .concurrency
            .or(d.concurrency)
            .unwrap_or(super::DEFAULT_CONCURRENCY),
        // Validated above; whatever slipped through still never panics here.
        timeout: m
            .timeout_s
            .or(d.timeout_s)
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .unwrap_or(Duration::from_secs_f64(super::DEFAULT_TIMEOUT_S)),
        max_retries: m
            .max_retries
            .or(d.max_retries)
            .unwrap_or(super::DEFAULT_MAX_RETRIES),
        rate_limit_wait: m
            .rate_limit_wait_s
            .or(d.rate_limit_wait_s)
            .filter(|s| (0.0..=super::MAX_WAIT_S).contains(s))
            .map_or(
                crate::provider::retry::DEFAULT_RATE_LIMIT_WAIT,
                Duration::from_secs_f64,
            ),
        http,
        command,
        grader_only: m.grader_only.unwrap_or(false),
        batch: m.batch.unwrap_or(false),
    }
}

/// The variable holding the key, and whether a missing key is an error.
fn api_key(m: &RawModel) -> (Option<String>, bool) {
    let env = m
        .api_key_env
        .clone()
        .or_else(|| default_key_env(m.provider).map(str::to_owned));
    // An openai-compatible server is usually local and keyless: a named key is used when set.
    let required = env.is_some() && m.provider != ProviderKind::OpenaiCompatible;
    (env, required)
}

fn call_params(m: &RawModel, d: &RawDefaults) -> CallParams {
    CallParams {
        temperature: m.temperature.or(d.temperature),
        max_tokens: m.max_tokens.or(d.max_tokens),
        top_p: m.top_p.or(d.top_p),
        stop: m
            .stop
            .clone()
            .or_else(|| d.stop.clone())
            .unwrap_or_default(),
        seed: m.seed.or(d.seed),
        extra: m.extra_body.clone().unwrap_or_default(),
        tools: Vec::new(),
        tool_choice: None,
    }
}
