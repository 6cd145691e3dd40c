//! Everything GitHub knows about evalgate, and the only module that knows about GitHub: the
//! Actions environment and event payload ([`env`]), workflow files and commands — job summary,
//! step outputs, annotations ([`workflow`]) — and the REST API through octocrab: the sticky PR
//! comment ([`comment`]) and the baseline artifact ([`artifact`]).
//!
//! API failures are classified by status code and rate-limit headers, never by matching message
//! text, and each carries a hint naming the `permissions:` the workflow needs.

pub mod artifact;
pub mod comment;
pub mod env;
pub mod label;
pub mod workflow;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::privacy::secrets::Secret;

/// What a failed GitHub API call means for the user.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub refused to {action} (HTTP {status}): {message}")]
    Forbidden {
        action: String,
        status: u16,
        message: String,
        /// The `permissions:` entry that allows the action.
        permission: &'static str,
    },
    #[error("GitHub found nothing to {action} (HTTP 404): {message}")]
    NotFound {
        action: String,
        message: String,
        permission: &'static str,
    },
    #[error("GitHub rejected the request to {action} (HTTP 422): {message}")]
    Invalid { action: String, message: String },
    #[error("GitHub's {} rate limit stopped the request to {action}: {message}", if *.secondary { "secondary" } else { "primary" })]
    RateLimited {
        action: String,
        message: String,
        secondary: bool,
        /// When the primary limit resets (UTC seconds), or how long to wait for a secondary one.
        reset: Option<u64>,
        retry_after: Option<Duration>,
    },
    #[error("GitHub answered the request to {action} with HTTP {status}: {message}")]
    Status {
        action: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach GitHub to {action}: {message}")]
    Transport { action: String, message: String },
    #[error("unexpected answer from GitHub to {action}: {message}")]
    Decode { action: String, message: String },
}

impl GitHubError {
    /// What to do about it, for the line under the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            GitHubError::Forbidden {
                status: 401,
                ..
            } => Some(
                "the token is missing, invalid or expired: pass `github_token: ${{ secrets.GITHUB_TOKEN }}`"
                    .to_owned(),
            ),
            GitHubError::Forbidden { permission, .. } => Some(format!(
                "add `{permission}` under `permissions:` in the workflow (or the job); a pull request from a fork gets a read-only token whatever the workflow asks"
            )),
            GitHubError::NotFound { permission, .. } => Some(format!(
                "check the repository and number; on a private repository the token also needs `{permission}` under `permissions:`"
            )),
            GitHubError::RateLimited {
                secondary: false, ..
            } => Some(
                "the token's hourly request budget is spent; re-run after the reset, or use a token with a larger budget"
                    .to_owned(),
            ),
            GitHubError::RateLimited { .. } => Some(
                "too many requests in a short time (secondary limit): re-run the job in a minute".to_owned(),
            ),
            _ => None,
        }
    }
}

/// A GitHub REST client: octocrab with the token, the API base URL of this GitHub (GitHub
/// Enterprise Server included) and no automatic retries — a CI job should fail with a clear
/// message rather than sleep through a rate limit.
#[derive(Debug, Clone)]
pub struct Client {
    octocrab: octocrab::Octocrab,
    api_url: String,
}

impl Client {
    pub fn new(api_url: &str, token: &Secret) -> Result<Client, GitHubError> {
        let transport = |message: String| GitHubError::Transport {
            action: "set up the API client".into(),
            message,
        };
        // octocrab's TLS uses the ring provider, like reqwest's; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let octocrab = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| transport(format!("invalid API URL `{api_url}`: {e}")))?
            .personal_token(token.expose().to_owned())
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| transport(crate::privacy::secrets::scrub(&e.to_string())))?;
        Ok(Client {
            octocrab,
            api_url: api_url.trim_end_matches('/').to_owned(),
        })
    }

    /// An absolute URL for an API path such as `/repos/o/r/issues/1/comments`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        action: &str,
        permission: &'static str,
    ) -> Result<R, GitHubError> {
        self.octocrab
            .get::<R, _, ()>(self.url(path), None)
            .await
            .map_err(|e| classify(e, action, permission))
    }

    async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        action: &str,
        permission: &'static str,
    ) -> Result<R, GitHubError> {
        self.octocrab
            .post(self.url(path), Some(body))
            .await
            .map_err(|e| classify(e, action, permission))
    }

    async fn patch<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        action: &str,
        permission: &'static str,
    ) -> Result<R, GitHubError> {
        self.octocrab
            .patch(self.url(path), Some(body))
            .await
            .map_err(|e| classify(e, action, permission))
    }
}

/// Maps an octocrab error to what it means, from the status code and rate-limit headers.
fn classify(err: octocrab::Error, action: &str, permission: &'static str) -> GitHubError {
    let action = action.to_owned();
    let octocrab::Error::GitHub { source, .. } = err else {
        let message = crate::privacy::secrets::error_chain(&err);
        return match err {
            octocrab::Error::Serde { .. } | octocrab::Error::Json { .. } => {
                GitHubError::Decode { action, message }
            }
            _ => GitHubError::Transport { action, message },
        };
    };
    let status = source.status_code.as_u16();
    let message = crate::privacy::secrets::scrub(source.message.trim());
    let header = |name: &str| {
        source
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let remaining_zero = header("x-ratelimit-remaining") == Some("0");
    let retry_after = header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
    // GitHub signals both limits with 403 or 429: the primary one with
    // `x-ratelimit-remaining: 0`, a secondary one with `retry-after` (or a 429 without either).
    let rate_limited = matches!(status, 403 | 429) && (remaining_zero || retry_after.is_some());
    match status {
        _ if rate_limited || status == 429 => GitHubError::RateLimited {
            action,
            message,
            secondary: !remaining_zero,
            reset,
            retry_after,
        },
        401 | 403 => GitHubError::Forbidden {
            action,
            status,
            message,
            permission,
        },
        404 => GitHubError::NotFound {
            action,
            message,
            permission,
        },
        422 => GitHubError::Invalid { action, message },
        _ => GitHubError::Status {
            action,
            status,
            message,
        },
    }
}
