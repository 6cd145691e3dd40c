//! The GitHub Actions environment: the `GITHUB_*` variables and the event payload, read once
//! into plain data.
//!
//! Payload fields follow GitHub's webhook documentation: `pull_request.number`,
//! `pull_request.base.{sha,ref,repo.full_name}`, `pull_request.head.{sha,ref,repo.full_name}`,
//! `pull_request.labels[].name`; for `push`, `ref`, `before` and `after`. A pull request is from a
//! fork when its head repository differs from its base repository: it then gets a read-only
//! token and no secrets.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the environment says about this workflow run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionsEnv {
    /// `owner/name`.
    pub repository: String,
    /// REST API root (`https://api.github.com`, or `https://HOST/api/v3` on GitHub Enterprise).
    pub api_url: String,
    pub server_url: String,
    pub event_name: String,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub workflow: Option<String>,
    /// The workflow file, from `GITHUB_WORKFLOW_REF` (`owner/repo/.github/workflows/x.yml@ref`).
    pub workflow_file: Option<String>,
    pub actor: Option<String>,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub pull_request: Option<PullRequest>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PullRequest {
    pub number: u64,
    pub base_sha: String,
    pub base_ref: String,
    pub head_sha: String,
    pub head_ref: String,
    /// The head branch lives in another repository: read-only token, no secrets.
    pub from_fork: bool,
    pub labels: Vec<String>,
}

impl ActionsEnv {
    /// The link to this run's page, when the variables name one.
    pub fn run_url(&self) -> Option<String> {
        let id = self.run_id.as_ref()?;
        if self.repository.is_empty() {
            return None;
        }
        let mut url = format!("{}/{}/actions/runs/{id}", self.server_url, self.repository);
        if let Some(attempt) = self.run_attempt.as_ref().filter(|a| a.as_str() != "1") {
            url.push_str(&format!("/attempts/{attempt}"));
        }
        Some(url)
    }
}

/// A problem with the event payload.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the event payload {}: {message}", path.display())]
pub struct EventError {
    pub path: PathBuf,
    pub message: String,
}

/// Reads the environment through `var` (the process environment in production, a map in tests).
pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ActionsEnv, EventError> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    let event_name = get("GITHUB_EVENT_NAME").unwrap_or_default();
    let pull_request = match get("GITHUB_EVENT_PATH") {
        Some(path) => pull_request(Path::new(&path))?,
        None => None,
    };
    Ok(ActionsEnv {
        repository: get("GITHUB_REPOSITORY").unwrap_or_default(),
        api_url: get("GITHUB_API_URL")
            .unwrap_or_else(|| "https://api.github.com".to_owned())
            .trim_end_matches('/')
            .to_owned(),
        server_url: get("GITHUB_SERVER_URL")
            .unwrap_or_else(|| "https://github.com".to_owned())
            .trim_end_matches('/')
            .to_owned(),
        event_name,
        run_id: get("GITHUB_RUN_ID"),
        run_attempt: get("GITHUB_RUN_ATTEMPT"),
        workflow: get("GITHUB_WORKFLOW"),
        workflow_file: get("GITHUB_WORKFLOW_REF").and_then(|r| workflow_file(&r)),
        actor: get("GITHUB_ACTOR"),
        sha: get("GITHUB_SHA"),
        git_ref: get("GITHUB_REF"),
        step_summary: get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        output: get("GITHUB_OUTPUT").map(PathBuf::from),
        workspace: get("GITHUB_WORKSPACE").map(PathBuf::from),
        pull_request,
    })
}

/// The process environment.
pub fn from_process() -> Result<ActionsEnv, EventError> {
    from_vars(|name| std::env::var(name).ok())
}

/// `owner/repo/.github/workflows/evalgate.yml@refs/pull/1/merge` → `evalgate.yml`.
fn workflow_file(workflow_ref: &str) -> Option<String> {
    let path = workflow_ref.split('@').next()?;
    let file = path.rsplit('/').next()?;
    (!file.is_empty()).then(|| file.to_owned())
}

#[derive(Debug, Deserialize)]
struct Payload {
    pull_request: Option<RawPullRequest>,
}

#[derive(Debug, Deserialize)]
struct RawPullRequest {
    number: u64,
    base: RawBranch,
    head: RawBranch,
    #[serde(default)]
    labels: Vec<RawLabel>,
}

#[derive(Debug, Deserialize)]
struct RawBranch {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
    /// Null when the fork was deleted.
    repo: Option<RawRepo>,
}

#[derive(Debug, Deserialize)]
struct RawRepo {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct RawLabel {
    name: String,
}

/// The pull request the event is about, if any (`pull_request`, `pull_request_target` and their
/// `labeled` actions all carry one).
fn pull_request(path: &Path) -> Result<Option<PullRequest>, EventError> {
    let error = |message: String| EventError {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let payload: Payload = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
    Ok(payload.pull_request.map(|pr| {
        let repo = |b: &RawBranch| b.repo.as_ref().map(|r| r.full_name.clone());
        PullRequest {
            number: pr.number,
            from_fork: repo(&pr.head) != repo(&pr.base),
            base_sha: pr.base.sha,
            base_ref: pr.base.git_ref,
            head_sha: pr.head.sha,
            head_ref: pr.head.git_ref,
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn from_map(vars: &BTreeMap<String, String>) -> Result<ActionsEnv, EventError> {
        from_vars(|name| vars.get(name).cloned())
    }

    fn fixture(name: &str) -> String {
        format!(
            "{}/tests/fixtures/github/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn env_for(event_name: &str, payload: &str) -> ActionsEnv {
        let vars = BTreeMap::from([
            ("GITHUB_EVENT_NAME".to_owned(), event_name.to_owned()),
            ("GITHUB_EVENT_PATH".to_owned(), fixture(payload)),
            (
                "GITHUB_REPOSITORY".to_owned(),
                "acme/support-bot".to_owned(),
            ),
            (
                "GITHUB_API_URL".to_owned(),
                "https://ghe.example.com/api/v3/".to_owned(),
            ),
            (
                "GITHUB_SERVER_URL".to_owned(),
                "https://ghe.example.com".to_owned(),
            ),
            ("GITHUB_RUN_ID".to_owned(), "1658821493".to_owned()),
            ("GITHUB_RUN_ATTEMPT".to_owned(), "2".to_owned()),
            (
                "GITHUB_WORKFLOW_REF".to_owned(),
                "acme/support-bot/.github/workflows/evalgate.yml@refs/pull/7/merge".to_owned(),
            ),
        ]);
        from_map(&vars).expect("environment")
    }

    #[test]
    fn a_pull_request_event_gives_number_shas_and_labels() {
        let env = env_for("pull_request", "pull_request.json");
        let pr = env.pull_request.clone().expect("a pull request");
        assert_eq!(pr.number, 7);
        assert_eq!(pr.base_ref, "main");
        assert_eq!(pr.base_sha, "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d");
        assert_eq!(pr.head_sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
        assert_eq!(pr.labels, vec!["prompt".to_owned()]);
        assert!(!pr.from_fork);
        assert_eq!(env.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(env.workflow_file.as_deref(), Some("evalgate.yml"));
        assert_eq!(
            env.run_url().as_deref(),
            Some("https://ghe.example.com/acme/support-bot/actions/runs/1658821493/attempts/2")
        );
    }

    #[test]
    fn a_labeled_event_carries_the_new_label() {
        let pr = env_for("pull_request", "labeled.json")
            .pull_request
            .expect("a pull request");
        assert!(pr.labels.iter().any(|l| l == "evalgate: accept-regression"));
    }

    #[test]
    fn a_pull_request_from_a_fork_is_recognised() {
        let pr = env_for("pull_request", "fork_pull_request.json")
            .pull_request
            .expect("a pull request");
        assert!(pr.from_fork);
    }

    #[test]
    fn a_push_has_no_pull_request() {
        let env = env_for("push", "push.json");
        assert_eq!(env.event_name, "push");
        assert!(env.pull_request.is_none());
    }

    #[test]
    fn an_unreadable_payload_names_the_file() {
        let vars = BTreeMap::from([(
            "GITHUB_EVENT_PATH".to_owned(),
            "/nonexistent/event.json".to_owned(),
        )]);
        let err = from_map(&vars).expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("cannot read the event payload /nonexistent/event.json"),
            "{err}"
        );
    }

    #[test]
    fn outside_actions_defaults_are_github_com() {
        let env = from_map(&BTreeMap::new()).expect("empty environment");
        assert_eq!(env.api_url, "https://api.github.com");
        assert!(env.run_url().is_none());
    }
}
