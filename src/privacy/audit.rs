//! The audit log: one JSON line per model call (graded calls, judge calls and embeddings, cached
//! replays included and marked), appended to a file a governance owner can collect.
//!
//! A line holds who ran what and what it cost: time, suite, cell, case, repeat, model, provider,
//! request hash, tokens, cost, latency, status, attempts, cache hit, the CI context (actor, run
//! id, workflow, ref) and the configured cost center. It never holds a prompt, an output or a
//! key: the request hash identifies the request without revealing it, and error texts pass
//! through the secret redactor and `[redact]` first. Each line is appended with one `write` on a
//! file opened with `O_APPEND`, so concurrent calls and parallel shards never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Where a run records its calls and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Resolved against the suite file's folder.
    pub path: PathBuf,
    pub cost_center: Option<String>,
    /// What `[audit] send_identity` sends to the providers as the end user; `None` (the
    /// default) sends nothing.
    pub send_identity: Option<WireIdentity>,
}

/// The end-user id sent with each model call (OpenAI `user`, Anthropic `metadata.user_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireIdentity {
    /// The audit log's `actor`, from the CI environment.
    Actor,
    /// `[audit] identity`: a fixed value, e.g. a team or an opaque id.
    Fixed(String),
}

impl WireIdentity {
    /// The value to send, or `None` when the actor is unknown (a local run without
    /// `EVALGATE_ACTOR`). The caller also refuses a value that holds a known secret.
    pub fn resolve(&self, ci: &CiContext) -> Option<String> {
        let value = match self {
            WireIdentity::Actor => ci.actor.as_deref()?,
            WireIdentity::Fixed(value) => value.as_str(),
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }
}

/// Who and what triggered the run, from the CI environment.
///
/// Generic `EVALGATE_ACTOR`, `EVALGATE_RUN_ID`, `EVALGATE_WORKFLOW` and `EVALGATE_REF` win, so
/// any CI can fill them; otherwise the variables GitHub Actions and GitLab CI set are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The git ref the run is for (`ref` in JSON).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
}

impl CiContext {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the context through `get`, first non-empty variable wins. The CI-specific names are
    /// a lookup table, not behaviour, so they live here rather than in `github` (which reads the
    /// full Actions environment, event payload included, and can fail).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
        };
        CiContext {
            actor: first(&["EVALGATE_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"]),
            run_id: first(&["EVALGATE_RUN_ID", "GITHUB_RUN_ID", "CI_PIPELINE_ID"]),
            workflow: first(&["EVALGATE_WORKFLOW", "GITHUB_WORKFLOW", "CI_JOB_NAME"]),
            git_ref: first(&["EVALGATE_REF", "GITHUB_REF", "CI_COMMIT_REF_NAME"]),
        }
    }
}

/// Why a call was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// The call being evaluated.
    Eval,
    /// An `llm-judge` sample.
    Judge,
    /// An embedding for `similar`.
    Embedding,
}

/// Where a call's response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Called now.
    Provider,
    /// Replayed from the response cache: nothing was paid.
    Cache,
    /// Replayed from this run's journal after a resume: paid by the interrupted attempt.
    Journal,
}

/// One line of the audit log, borrowing what the run holds (a line is written for every call).
#[derive(Debug, Serialize)]
pub struct AuditLine<'a> {
    /// RFC 3339, UTC, when the call finished.
    pub time: &'a str,
    pub suite: &'a str,
    /// `PROMPT/MODEL` of the graded call (also for the judge calls made to grade it).
    pub cell: &'a str,
    pub case: &'a str,
    pub repeat: u32,
    pub purpose: Purpose,
    /// For judge calls, the sample index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// The model's id in the suite, the provider kind and the model name sent to the API.
    pub model: &'a str,
    pub provider: &'a str,
    pub model_name: &'a str,
    /// The cache key: a hash of the canonical request, never its content.
    pub request_hash: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    /// At the configured price (the batch price for a call answered through a batch); 0
    /// without one.
    pub cost_usd: f64,
    /// The provider batch that answered the call; absent for a direct call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<&'a str>,
    pub latency_ms: u64,
    /// `ok` or `error`.
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// HTTP attempts made now (0 for a replay).
    pub attempts: u32,
    pub cache_hit: bool,
    pub source: Source,
    /// The run's [`CiContext`], each field when known, under its names there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<&'a str>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<&'a str>,
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    warned: AtomicBool,
}

impl AuditLog {
    /// Opens `path` for appending, creating it and its folder.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        // A parent that exists but is a file is left to `open`, whose error (ENOTDIR) says so
        // better than `create_dir_all`'s (EEXIST).
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(parent)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(e);
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            file,
            warned: AtomicBool::new(false),
        })
    }

    /// Appends one line. A failed write is logged once and does not stop the run: the results
    /// file still records every call.
    pub fn record(&self, record: &AuditLine<'_>) {
        let mut line = Vec::with_capacity(512);
        let line = serde_json::to_writer(&mut line, record).map(|()| {
            line.push(b'\n');
            line
        });
        let written = match line {
            Ok(line) => (&self.file).write_all(&line),
            Err(e) => Err(e.into()),
        };
        if let Err(err) = written
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(path = %self.path.display(), "cannot append to the audit log: {err}");
        }
    }
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_identity_is_the_actor_or_the_fixed_value_and_never_a_secret() {
        let ci = |actor: Option<&str>| CiContext {
            actor: actor.map(str::to_owned),
            ..CiContext::default()
        };
        assert_eq!(
            WireIdentity::Actor.resolve(&ci(Some("octocat"))),
            Some("octocat".to_owned())
        );
        assert_eq!(WireIdentity::Actor.resolve(&ci(None)), None);
        let fixed = WireIdentity::Fixed("team-support".into());
        assert_eq!(
            fixed.resolve(&ci(Some("octocat"))),
            Some("team-support".to_owned())
        );
        assert_eq!(WireIdentity::Actor.resolve(&ci(Some("  "))), None);
    }

    #[test]
    fn generic_variables_win_over_ci_specific_ones() {
        let env = |name: &str| match name {
            "EVALGATE_ACTOR" => Some("release-bot".to_owned()),
            "GITHUB_ACTOR" => Some("octocat".to_owned()),
            "GITHUB_RUN_ID" => Some("42".to_owned()),
            "EVALGATE_REF" => Some(" ".to_owned()),
            "GITHUB_REF" => Some("refs/pull/7/merge".to_owned()),
            _ => None,
        };
        let ci = CiContext::from_lookup(env);
        assert_eq!(ci.actor.as_deref(), Some("release-bot"));
        assert_eq!(ci.run_id.as_deref(), Some("42"));
        assert_eq!(ci.workflow, None);
        assert_eq!(ci.git_ref.as_deref(), Some("refs/pull/7/merge"));
    }

    /// A line read back: what a governance owner's tooling sees.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Record {
        time: String,
        suite: String,
        cell: String,
        case: String,
        repeat: u32,
        purpose: Purpose,
        sample: Option<u32>,
        model: String,
        provider: String,
        model_name: String,
        request_hash: String,
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cost_usd: f64,
        latency_ms: u64,
        status: String,
        error: Option<String>,
        attempts: u32,
        cache_hit: bool,
        source: Source,
        #[serde(flatten)]
        ci: CiContext,
        cost_center: Option<String>,
    }

    #[test]
    fn lines_are_appended_across_opens_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/audit.jsonl");
        let line = AuditLine {
            time: "2026-01-01T00:00:00Z",
            suite: "s",
            cell: "p/m",
            case: "c\"1",
            repeat: 2,
            purpose: Purpose::Judge,
            sample: Some(1),
            model: "m",
            provider: "openai",
            model_name: "gpt",
            request_hash: "abc",
            input_tokens: 1,
            output_tokens: 2,
            cached_input_tokens: 0,
            cost_usd: 0.25,
            batch: None,
            latency_ms: 3,
            status: "error",
            error: Some("HTTP 500"),
            attempts: 4,
            cache_hit: false,
            source: Source::Provider,
            actor: None,
            run_id: Some("7"),
            workflow: None,
            git_ref: Some("refs/heads/main"),
            cost_center: Some("ml-platform"),
        };
        AuditLog::open(&path).expect("open").record(&line);
        let plain = AuditLine {
            sample: None,
            error: None,
            run_id: None,
            git_ref: None,
            cost_center: None,
            ..line
        };
        AuditLog::open(&path).expect("reopen").record(&plain);
        let text = std::fs::read_to_string(&path).expect("read");
        let records: Vec<Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a record per line"))
            .collect();
        let expected = |l: &AuditLine| Record {
            time: l.time.into(),
            suite: l.suite.into(),
            cell: l.cell.into(),
            case: l.case.into(),
            repeat: l.repeat,
            purpose: l.purpose,
            sample: l.sample,
            model: l.model.into(),
            provider: l.provider.into(),
            model_name: l.model_name.into(),
            request_hash: l.request_hash.into(),
            input_tokens: l.input_tokens,
            output_tokens: l.output_tokens,
            cached_input_tokens: l.cached_input_tokens,
            cost_usd: l.cost_usd,
            latency_ms: l.latency_ms,
            status: l.status.into(),
            error: l.error.map(str::to_owned),
            attempts: l.attempts,
            cache_hit: l.cache_hit,
            source: l.source,
            ci: CiContext {
                actor: l.actor.map(str::to_owned),
                run_id: l.run_id.map(str::to_owned),
                workflow: l.workflow.map(str::to_owned),
                git_ref: l.git_ref.map(str::to_owned),
            },
            cost_center: l.cost_center.map(str::to_owned),
        };
        assert_eq!(records, [expected(&line), expected(&plain)]);
        assert!(text.contains(r#""ref":"refs/heads/main""#), "{text}");
        // Optional fields are left out, not written as null.
        let second = text.lines().nth(1).expect("second line");
        for absent in ["sample", "error", "run_id", "ref", "cost_center"] {
            assert!(!second.contains(&format!("\"{absent}\":")), "{second}");
        }
        assert!(!second.contains("null"), "{second}");
    }
}
