//! The sticky PR comment: one per pull request and suite, found again on every run by a hidden
//! marker *and* its author, and edited in place.
//!
//! Both are needed: the marker alone would let us edit a human's comment that quotes it (or a
//! model output that forged it), and the author alone would confuse two suites. The author is
//! the token's own login; a workflow's `GITHUB_TOKEN` may not call `GET /user`, and then posts as
//! `github-actions[bot]`.

use serde::Deserialize;
use serde_json::json;

use super::{Client, GitHubError};

/// The login a workflow's `GITHUB_TOKEN` posts as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The permission that lets a token comment on pull requests.
const PERMISSION: &str = "pull-requests: write";

/// Comments are listed 100 at a time (GitHub's maximum page size).
const PAGE_SIZE: usize = 100;
/// Stop after this many pages: a PR with 5,000 comments is not one we should scan forever.
const MAX_PAGES: usize = 50;

/// The hidden line that identifies evalgate's comment for one suite: `<!-- TEXT -->` with
/// [`marker_text`] inside.
pub fn marker(suite: &str) -> String {
    format!("<!-- {} -->", marker_text(suite))
}

/// The marker's text. The suite name is reduced to a safe charset with no `--`, so it cannot end
/// the HTML comment early and survives the markdown renderer's own cleaning unchanged.
pub fn marker_text(suite: &str) -> String {
    let mut safe = String::with_capacity(suite.len());
    for c in suite.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '_'
        };
        if c == '-' && safe.ends_with('-') {
            continue;
        }
        safe.push(c);
    }
    // Names that reduce to the same safe text ("support bot", "support/bot") stay apart.
    let digest = crate::support::fingerprint::hash_json(&serde_json::json!(suite));
    format!(
        "evalgate:sticky-comment suite={safe} id={}",
        crate::support::fingerprint::short(&digest)
    )
}

/// How to publish the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Edit evalgate's earlier comment for this suite, or create one.
    Update,
    /// Always add a new comment.
    New,
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Created { id: u64, url: String },
    Updated { id: u64, url: String },
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
    #[serde(default)]
    html_url: String,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

/// Posts `body` (which must contain [`marker`]`(suite)`) on pull request `number` of `repo`
/// (`owner/name`), editing evalgate's earlier comment when `mode` is [`Mode::Update`].
pub async fn publish(
    client: &Client,
    repo: &str,
    number: u64,
    marker: &str,
    body: &str,
    mode: Mode,
) -> Result<Published, GitHubError> {
    let existing = match mode {
        Mode::Update => find(client, repo, number, marker).await?,
        Mode::New => None,
    };
    let payload = json!({ "body": body });
    match existing {
        Some(id) => {
            let comment: Comment = client
                .patch(
                    &format!("/repos/{repo}/issues/comments/{id}"),
                    &payload,
                    "update the pull request comment",
                    PERMISSION,
                )
                .await?;
            Ok(Published::Updated {
                id: comment.id,
                url: comment.html_url,
            })
        }
        None => {
            let comment: Comment = client
                .post(
                    &format!("/repos/{repo}/issues/{number}/comments"),
                    &payload,
                    "comment on the pull request",
                    PERMISSION,
                )
                .await?;
            Ok(Published::Created {
                id: comment.id,
                url: comment.html_url,
            })
        }
    }
}

/// The id of the oldest comment that carries the marker and was written by the token's own
/// login (so re-runs keep editing the same comment in the same place).
async fn find(
    client: &Client,
    repo: &str,
    number: u64,
    marker: &str,
) -> Result<Option<u64>, GitHubError> {
    let me = own_login(client).await?;
    for page in 1..=MAX_PAGES {
        let comments: Vec<Comment> = client
            .get(
                &format!("/repos/{repo}/issues/{number}/comments?per_page={PAGE_SIZE}&page={page}"),
                "list the pull request's comments",
                PERMISSION,
            )
            .await?;
        let found = comments.iter().find(|c| {
            c.body.as_deref().is_some_and(|b| b.contains(marker))
                && c.user.as_ref().is_some_and(|u| me.matches(&u.login))
        });
        if let Some(comment) = found {
            return Ok(Some(comment.id));
        }
        if comments.len() < PAGE_SIZE {
            break;
        }
    }
    Ok(None)
}

/// Who our comments are written by.
#[derive(Debug)]
enum Login {
    Known(String),
    /// `GET /user` is forbidden to installation tokens such as `GITHUB_TOKEN`: their comments are
    /// written by a bot account.
    Bot,
}

impl Login {
    fn matches(&self, login: &str) -> bool {
        match self {
            Login::Known(me) => me.eq_ignore_ascii_case(login),
            Login::Bot => login == ACTIONS_BOT,
        }
    }
}

async fn own_login(client: &Client) -> Result<Login, GitHubError> {
    match client
        .get::<User>("/user", "read the token's own login", PERMISSION)
        .await
    {
        Ok(user) => Ok(Login::Known(user.login)),
        Err(GitHubError::Forbidden { status: 403, .. } | GitHubError::NotFound { .. }) => {
            Ok(Login::Bot)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_cannot_be_closed_by_a_suite_name() {
        assert!(
            marker("support-bot").starts_with("<!-- evalgate:sticky-comment suite=support-bot id=")
        );
        assert_ne!(marker("support bot"), marker("support/bot"));
        assert_eq!(marker("support bot"), marker("support bot"));
        let m = marker("x --> <img src=y>");
        assert_eq!(m.matches("-->").count(), 1, "{m}");
        assert_eq!(m.matches('<').count(), 1, "{m}");
        assert!(!marker_text("a--b---c").contains("--"));
    }

    mod api {
        //! Against a fake GitHub that answers as the REST reference documents.
        use super::super::*;
        use crate::github::{Client, GitHubError};
        use crate::privacy::secrets::Secret;
        use serde_json::{Value, json};
        use wiremock::matchers::{body_json, header, method, path, query_param};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        const REPO: &str = "acme/support-bot";

        fn comment(id: u64, login: &str, body: &str) -> Value {
            json!({
                "id": id,
                "node_id": "IC_kwDOA",
                "url": format!("https://api.github.com/repos/{REPO}/issues/comments/{id}"),
                "html_url": format!("https://github.com/{REPO}/pull/7#issuecomment-{id}"),
                "body": body,
                "user": {"login": login, "id": 41_898_282, "type": if login.ends_with("[bot]") { "Bot" } else { "User" }},
                "created_at": "2026-11-20T10:00:00Z",
                "updated_at": "2026-11-20T10:00:00Z",
                "issue_url": format!("https://api.github.com/repos/{REPO}/issues/7"),
                "author_association": "NONE"
            })
        }

        async fn github_token_server() -> MockServer {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/user"))
                .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                    "status": "403"
                })))
                .mount(&server)
                .await;
            server
        }

        fn client(server: &MockServer) -> Client {
            Client::new(
                &server.uri(),
                &Secret::new("ghs_faketoken0123456789".into()),
            )
            .expect("client")
        }

        fn created(id: u64, body: &str) -> ResponseTemplate {
            ResponseTemplate::new(201).set_body_json(comment(id, ACTIONS_BOT, body))
        }

        #[tokio::test]
        async fn creates_the_comment_when_there_is_none() {
            let server = github_token_server().await;
            let marker = marker("support-bot");
            let body = format!("{marker}\n**PASS**");
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .and(query_param("page", "1"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!([comment(1, "alice", "LGTM")])),
                )
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .and(header("authorization", "Bearer ghs_faketoken0123456789"))
                .and(body_json(json!({"body": body})))
                .respond_with(created(99, &body))
                .expect(1)
                .mount(&server)
                .await;
            let published = publish(&client(&server), REPO, 7, &marker, &body, Mode::Update)
                .await
                .expect("published");
            assert_eq!(
                published,
                Published::Created {
                    id: 99,
                    url: format!("https://github.com/{REPO}/pull/7#issuecomment-99")
                }
            );
        }

        #[tokio::test]
        async fn updates_its_own_comment_on_a_later_page_and_never_a_forged_one() {
            let server = github_token_server().await;
            let marker = marker("support-bot");
            // Page 1: 100 comments, one of them a human's that quotes the marker.
            let mut page1: Vec<Value> = (1..=99)
                .map(|i| comment(i, "alice", "a review comment"))
                .collect();
            page1.insert(
                50,
                comment(500, "mallory", &format!("{marker} I am the gate now")),
            );
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .and(query_param("page", "1"))
                .and(query_param("per_page", "100"))
                .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(page1)))
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .and(query_param("page", "2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                    comment(700, ACTIONS_BOT, "an unrelated bot comment"),
                    comment(701, ACTIONS_BOT, &format!("{marker}\nold report")),
                ])))
                .mount(&server)
                .await;
            let body = format!("{marker}\nnew report");
            Mock::given(method("PATCH"))
                .and(path(format!("/repos/{REPO}/issues/comments/701")))
                .and(body_json(json!({"body": body})))
                .respond_with(ResponseTemplate::new(200).set_body_json(comment(
                    701,
                    ACTIONS_BOT,
                    &body,
                )))
                .expect(1)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .respond_with(created(1, "x"))
                .expect(0)
                .mount(&server)
                .await;
            let published = publish(&client(&server), REPO, 7, &marker, &body, Mode::Update)
                .await
                .expect("published");
            assert!(
                matches!(published, Published::Updated { id: 701, .. }),
                "{published:?}"
            );
        }

        #[tokio::test]
        async fn a_personal_token_matches_comments_by_its_own_login() {
            let server = MockServer::start().await;
            let marker = marker("s");
            Mock::given(method("GET"))
                .and(path("/user"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"login": "release-bot", "id": 5, "type": "User"})),
                )
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                    comment(10, ACTIONS_BOT, &format!("{marker} from another workflow")),
                    comment(11, "release-bot", &format!("{marker} ours")),
                ])))
                .mount(&server)
                .await;
            Mock::given(method("PATCH"))
                .and(path(format!("/repos/{REPO}/issues/comments/11")))
                .respond_with(ResponseTemplate::new(200).set_body_json(comment(
                    11,
                    "release-bot",
                    "x",
                )))
                .expect(1)
                .mount(&server)
                .await;
            let published = publish(&client(&server), REPO, 7, &marker, "x", Mode::Update)
                .await
                .expect("published");
            assert!(matches!(published, Published::Updated { id: 11, .. }));
        }

        #[tokio::test]
        async fn mode_new_always_creates() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(format!("/repos/{REPO}/issues/7/comments")))
                .respond_with(created(3, "x"))
                .expect(1)
                .mount(&server)
                .await;
            let published = publish(&client(&server), REPO, 7, "m", "x", Mode::New)
                .await
                .expect("published");
            assert!(matches!(published, Published::Created { id: 3, .. }));
        }

        async fn failing_post(response: ResponseTemplate) -> GitHubError {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(response)
                .mount(&server)
                .await;
            publish(&client(&server), REPO, 7, "m", "x", Mode::New)
                .await
                .expect_err("refused")
        }

        #[tokio::test]
        async fn a_read_only_token_is_told_which_permission_to_add() {
            let err = failing_post(ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                "status": "403"
            })))
            .await;
            assert!(
                matches!(err, GitHubError::Forbidden { status: 403, .. }),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "GitHub refused to comment on the pull request (HTTP 403): Resource not accessible by integration"
            );
            assert!(
                err.hint()
                    .is_some_and(|h| h.contains("`pull-requests: write`"))
            );
        }

        #[tokio::test]
        async fn rate_limits_are_told_apart_by_their_headers() {
            let primary = failing_post(
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-limit", "1000")
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", "1764000000")
                    .set_body_json(json!({"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})),
            )
            .await;
            assert!(
                matches!(
                    primary,
                    GitHubError::RateLimited {
                        secondary: false,
                        reset: Some(1_764_000_000),
                        ..
                    }
                ),
                "{primary:?}"
            );
            let secondary = failing_post(
                ResponseTemplate::new(403)
                    .insert_header("retry-after", "60")
                    .set_body_json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})),
            )
            .await;
            assert!(
                matches!(
                    secondary,
                    GitHubError::RateLimited {
                        secondary: true,
                        ..
                    }
                ),
                "{secondary:?}"
            );
            assert!(secondary.hint().is_some_and(|h| h.contains("secondary")));
            let too_many = failing_post(
                ResponseTemplate::new(429).set_body_json(json!({"message": "Too Many Requests"})),
            )
            .await;
            assert!(
                matches!(too_many, GitHubError::RateLimited { .. }),
                "{too_many:?}"
            );
        }

        #[tokio::test]
        async fn missing_and_invalid_are_reported_as_such() {
            let err = failing_post(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}))).await;
            assert!(matches!(err, GitHubError::NotFound { .. }), "{err:?}");
            let err = failing_post(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Validation Failed",
                "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}],
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"
            })))
            .await;
            assert!(matches!(err, GitHubError::Invalid { .. }), "{err:?}");
            let err = failing_post(ResponseTemplate::new(502).set_body_string("")).await;
            assert!(
                matches!(err, GitHubError::Status { status: 502, .. }),
                "{err:?}"
            );
            assert!(!format!("{err:?}{err}").contains("ghs_faketoken0123456789"));
        }
    }
}
