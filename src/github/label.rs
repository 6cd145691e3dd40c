//! Who applied a label to a pull request, for the audited override: the payload of most events
//! lists a PR's labels but not who added them, so the event history is asked
//! (`GET /repos/{repo}/issues/{number}/events`), and the latest `labeled` event for the label
//! names its actor and time.

use serde::Deserialize;

use super::{Client, GitHubError};

const PERMISSION: &str = "pull-requests: read";
const PAGE_SIZE: usize = 100;
const MAX_PAGES: usize = 30;

/// The latest application of a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labeled {
    pub actor: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Deserialize)]
struct Event {
    event: String,
    actor: Option<Actor>,
    label: Option<Label>,
    #[serde(default)]
    created_at: String,
}

#[derive(Debug, Deserialize)]
struct Actor {
    login: String,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

/// The actor and time of the latest `labeled` event for `label` on issue or PR `number`, unless
/// a later `unlabeled` event removed it.
pub async fn last_labeled(
    client: &Client,
    repo: &str,
    number: u64,
    label: &str,
) -> Result<Option<Labeled>, GitHubError> {
    let mut latest: Option<Labeled> = None;
    for page in 1..=MAX_PAGES {
        let events: Vec<Event> = client
            .get(
                &format!("/repos/{repo}/issues/{number}/events?per_page={PAGE_SIZE}&page={page}"),
                "read who labeled the pull request",
                PERMISSION,
            )
            .await?;
        // Events come oldest first, so the last match wins.
        for e in &events {
            if e.label.as_ref().is_none_or(|l| l.name != label) {
                continue;
            }
            match e.event.as_str() {
                "labeled" => {
                    latest = e.actor.as_ref().map(|a| Labeled {
                        actor: a.login.clone(),
                        at: e.created_at.clone(),
                    });
                }
                "unlabeled" => latest = None,
                _ => {}
            }
        }
        if events.len() < PAGE_SIZE {
            break;
        }
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secrets::Secret;
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn event(kind: &str, actor: &str, label: &str, at: &str) -> Value {
        json!({
            "id": 1, "node_id": "LE_1", "url": "https://api.github.com/repos/acme/bot/issues/events/1",
            "actor": {"login": actor, "id": 1, "type": "User"},
            "event": kind, "commit_id": null, "commit_url": null, "created_at": at,
            "label": {"name": label, "color": "ededed"}
        })
    }

    #[tokio::test]
    async fn the_latest_application_wins_and_removal_cancels_it() {
        let server = MockServer::start().await;
        let label = "evalgate: accept-regression";
        let mut page1: Vec<Value> = (0..99)
            .map(|_| {
                json!({"id": 2, "event": "head_ref_force_pushed", "actor": {"login": "alice"}, "created_at": "2026-11-20T09:00:00Z"})
            })
            .collect();
        page1.insert(
            3,
            event("labeled", "mallory", label, "2026-11-20T10:00:00Z"),
        );
        Mock::given(method("GET"))
            .and(path("/repos/acme/bot/issues/7/events"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(page1)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/bot/issues/7/events"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                event("unlabeled", "alice", label, "2026-11-20T11:00:00Z"),
                event(
                    "labeled",
                    "release-manager",
                    "other",
                    "2026-11-20T11:30:00Z"
                ),
                event("labeled", "release-manager", label, "2026-11-20T12:00:00Z"),
            ])))
            .mount(&server)
            .await;
        let client = Client::new(&server.uri(), &Secret::new("ghs_labeltoken1234567".into()))
            .expect("client");
        let found = last_labeled(&client, "acme/bot", 7, label)
            .await
            .expect("events");
        assert_eq!(
            found,
            Some(Labeled {
                actor: "release-manager".into(),
                at: "2026-11-20T12:00:00Z".into()
            })
        );
        let other = last_labeled(&client, "acme/bot", 7, "absent")
            .await
            .expect("events");
        assert_eq!(other, None);
    }
}
