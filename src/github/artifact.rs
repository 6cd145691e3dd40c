//! The baseline artifact: the results file that a workflow run on the base branch uploaded (with
//! `actions/upload-artifact`), downloaded through the REST API.
//!
//! Two documented calls: the repository's artifacts by name
//! (`GET /repos/{repo}/actions/artifacts?name=`, newest first, each naming the run and branch it
//! came from), and the archive (`GET /repos/{repo}/actions/artifacts/{id}/zip`), which answers
//! `302` with a short-lived signed URL. That URL is fetched without the token: it needs none, and
//! a token must not travel to another host. Searching by artifact name rather than by workflow
//! lets the base branch's workflow be another file than the pull request's.

use std::io::Read;

use serde::Deserialize;

use super::{Client, GitHubError};

const PERMISSION: &str = "actions: read";
/// How many of the newest artifacts with the name to look through for one from the branch.
const ARTIFACTS_TO_SEARCH: usize = 100;
/// How many candidate runs to check before giving up.
const RUNS_TO_CHECK: usize = 10;
/// A results file larger than this is not a results file.
const MAX_RESULTS_BYTES: u64 = 512 * 1024 * 1024;

/// A downloaded baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The results file's text.
    pub text: String,
    /// The workflow run that uploaded it.
    pub run_id: u64,
    pub head_sha: String,
}

#[derive(Debug, Deserialize)]
struct Artifacts {
    artifacts: Vec<Artifact>,
}

#[derive(Debug, Deserialize)]
struct Artifact {
    id: u64,
    name: String,
    #[serde(default)]
    expired: bool,
    workflow_run: Option<WorkflowRun>,
}

#[derive(Debug, Deserialize)]
struct WorkflowRun {
    id: u64,
    #[serde(default)]
    repository_id: Option<u64>,
    #[serde(default)]
    head_repository_id: Option<u64>,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_sha: String,
}

/// The run an artifact came from, as `GET /repos/{repo}/actions/runs/{id}` describes it.
#[derive(Debug, Deserialize)]
struct RunDetails {
    #[serde(default)]
    event: String,
    #[serde(default)]
    conclusion: Option<String>,
}

/// Events whose runs execute the base branch's own code. A `pull_request` run, even one from a
/// fork whose branch happens to be named like the base branch, must never supply the baseline:
/// its author could upload anything under the artifact's name.
const TRUSTED_EVENTS: &[&str] = &["push", "schedule", "workflow_dispatch"];

/// Downloads the newest unexpired artifact named `name` that a run on `branch` uploaded, and
/// takes the file `file_name` out of it (or its only JSON file). `Ok(None)` when there is none:
/// a first pull request, or artifacts past their retention.
pub async fn latest_baseline(
    client: &Client,
    repo: &str,
    branch: &str,
    name: &str,
    file_name: &str,
) -> Result<Option<Baseline>, GitHubError> {
    let found: Artifacts = client
        .get(
            &format!(
                "/repos/{repo}/actions/artifacts?name={}&per_page={ARTIFACTS_TO_SEARCH}",
                encode(name)
            ),
            "list the repository's baseline artifacts",
            PERMISSION,
        )
        .await?;
    let candidates = found.artifacts.iter().filter(|a| {
        a.name == name
            && !a.expired
            && a.workflow_run.as_ref().is_some_and(|r| {
                r.head_branch.as_deref() == Some(branch)
                    && r.head_repository_id.is_some()
                    && r.head_repository_id == r.repository_id
            })
    });
    let mut chosen = None;
    for artifact in candidates.take(RUNS_TO_CHECK) {
        let Some(run) = &artifact.workflow_run else {
            continue;
        };
        let details: RunDetails = client
            .get(
                &format!("/repos/{repo}/actions/runs/{}", run.id),
                "check the run that uploaded the baseline artifact",
                PERMISSION,
            )
            .await?;
        if TRUSTED_EVENTS.contains(&details.event.as_str())
            && details.conclusion.as_deref() == Some("success")
        {
            chosen = Some(artifact);
            break;
        }
    }
    let Some(artifact) = chosen else {
        return Ok(None);
    };
    let (run_id, head_sha) = artifact
        .workflow_run
        .as_ref()
        .map(|r| (r.id, r.head_sha.clone()))
        .unwrap_or_default();
    let archive = download(client, repo, artifact.id).await?;
    let text = extract(&archive, file_name).map_err(|message| GitHubError::Decode {
        action: "read the baseline artifact".into(),
        message: format!("artifact `{name}` of run {run_id}: {message}"),
    })?;
    Ok(Some(Baseline {
        text,
        run_id,
        head_sha,
    }))
}

/// Follows the archive endpoint's redirect to the signed URL by hand, without the token.
async fn download(client: &Client, repo: &str, id: u64) -> Result<Vec<u8>, GitHubError> {
    let action = "download the baseline artifact";
    let transport = |message: String| GitHubError::Transport {
        action: action.into(),
        message,
    };
    let response = client
        .octocrab
        ._get(client.url(&format!("/repos/{repo}/actions/artifacts/{id}/zip")))
        .await
        .map_err(|e| transport(crate::privacy::secrets::error_chain(&e)))?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(location) = location.filter(|_| (300..400).contains(&status)) else {
        // Not a redirect: let octocrab's own error mapping classify it.
        let err = octocrab::map_github_error(response)
            .await
            .err()
            .map(|e| super::classify(e, action, PERMISSION));
        return Err(err.unwrap_or_else(|| GitHubError::Decode {
            action: action.into(),
            message: format!("expected a redirect to the archive, got HTTP {status}"),
        }));
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let blob = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| transport(crate::privacy::secrets::error_chain(&e)))?
        .get(&location)
        .send()
        .await
        // The signed URL carries its own credential: keep it out of the error text.
        .map_err(|e| transport(crate::privacy::secrets::error_chain(&e.without_url())))?;
    if !blob.status().is_success() {
        return Err(GitHubError::Status {
            action: action.into(),
            status: blob.status().as_u16(),
            message: "the archive's signed URL refused the download".into(),
        });
    }
    Ok(blob
        .bytes()
        .await
        .map_err(|e| transport(crate::privacy::secrets::error_chain(&e.without_url())))?
        .to_vec())
}

/// The text of `file_name` in the zip archive, or of its only `.json` file.
fn extract(archive: &[u8], file_name: &str) -> Result<String, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unreadable archive: {e}"))?;
    let wanted = names
        .iter()
        .find(|n| n.as_str() == file_name || n.ends_with(&format!("/{file_name}")))
        .or_else(|| {
            let json: Vec<&String> = names.iter().filter(|n| n.ends_with(".json")).collect();
            (json.len() == 1).then(|| json[0])
        })
        .ok_or_else(|| format!("no `{file_name}` in it (it holds: {})", names.join(", ")))?
        .clone();
    let file = zip.by_name(&wanted).map_err(|e| e.to_string())?;
    if file.size() > MAX_RESULTS_BYTES {
        return Err(format!("`{wanted}` is {} bytes, too large", file.size()));
    }
    let mut text = String::new();
    file.take(MAX_RESULTS_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read `{wanted}`: {e}"))?;
    Ok(text)
}

/// Percent-encoding for a path segment or query value (branch names may hold `/`, `#`, spaces).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secrets::Secret;
    use serde_json::json;
    use std::io::Write;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const REPO: &str = "acme/support-bot";

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut out);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, text) in files {
                zip.start_file(*name, options).expect("start");
                zip.write_all(text.as_bytes()).expect("write");
            }
            zip.finish().expect("finish");
        }
        out.into_inner()
    }

    fn artifact(id: u64, name: &str, expired: bool, branch: &str) -> serde_json::Value {
        json!({
            "id": id, "node_id": "MDg6QXJ0aWZhY3QxMQ==", "name": name, "size_in_bytes": 556,
            "url": format!("https://api.github.com/repos/{REPO}/actions/artifacts/{id}"),
            "archive_download_url": format!("https://api.github.com/repos/{REPO}/actions/artifacts/{id}/zip"),
            "expired": expired, "created_at": "2026-11-20T10:00:00Z", "expires_at": "2027-02-18T10:00:00Z",
            "workflow_run": {"id": id * 10, "repository_id": 1296269, "head_repository_id": 1296269, "head_branch": branch, "head_sha": format!("{id:040x}")}
        })
    }

    fn client(server: &MockServer) -> Client {
        Client::new(
            &server.uri(),
            &Secret::new("ghs_artifacttoken123456".into()),
        )
        .expect("client")
    }

    #[tokio::test]
    async fn downloads_the_newest_artifact_a_trusted_run_of_the_base_branch_uploaded() {
        let server = MockServer::start().await;
        // Newest first, as the API lists them: another branch's; a fork's branch named like the
        // base; a pull request run in this repository; an expired one; then ours.
        let mut from_fork = artifact(11, "evalgate-results", false, "release/2026");
        from_fork["workflow_run"]["head_repository_id"] = json!(999);
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/actions/artifacts")))
            .and(query_param("name", "evalgate-results"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_count": 6,
                "artifacts": [
                    artifact(9, "evalgate-results", false, "feature/x"),
                    from_fork,
                    artifact(10, "evalgate-results", false, "release/2026"),
                    artifact(8, "evalgate-results", true, "release/2026"),
                    artifact(7, "evalgate-results", false, "release/2026"),
                    artifact(6, "evalgate-results", false, "release/2026"),
                ]
            })))
            .mount(&server)
            .await;
        for (run, event) in [(100, "pull_request"), (70, "push")] {
            Mock::given(method("GET"))
                .and(path(format!("/repos/{REPO}/actions/runs/{run}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "id": run, "event": event, "status": "completed", "conclusion": "success",
                    "head_branch": "release/2026"
                })))
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/actions/artifacts/7/zip")))
            .and(header("authorization", "Bearer ghs_artifacttoken123456"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/blob/7.zip?sig=abc", server.uri())),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/blob/7.zip"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(zip_of(&[("results.json", r#"{"schema_version": 1}"#)])),
            )
            .mount(&server)
            .await;
        let baseline = latest_baseline(
            &client(&server),
            REPO,
            "release/2026",
            "evalgate-results",
            "results.json",
        )
        .await
        .expect("no error")
        .expect("a baseline");
        assert_eq!(baseline.text, r#"{"schema_version": 1}"#);
        assert_eq!(baseline.run_id, 70);
        // The signed URL got no token.
        let requests = server.received_requests().await.expect("recorded");
        let blob = requests
            .iter()
            .find(|r| r.url.path() == "/blob/7.zip")
            .expect("blob fetched");
        assert!(!blob.headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn no_artifact_of_the_branch_means_no_baseline() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_count": 1, "artifacts": [artifact(1, "evalgate-results", false, "other")]
            })))
            .mount(&server)
            .await;
        let found = latest_baseline(
            &client(&server),
            REPO,
            "main",
            "evalgate-results",
            "results.json",
        )
        .await
        .expect("no error");
        assert_eq!(found, None);
    }

    #[tokio::test]
    async fn a_token_without_actions_read_is_told_so() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow"
            })))
            .mount(&server)
            .await;
        let err = latest_baseline(&client(&server), REPO, "main", "r", "results.json")
            .await
            .expect_err("forbidden");
        assert!(
            err.hint().is_some_and(|h| h.contains("`actions: read`")),
            "{err}"
        );
    }

    #[test]
    fn the_results_file_is_found_in_the_archive() {
        let archive = zip_of(&[("notes.txt", "x"), ("out/results.json", "{}")]);
        assert_eq!(extract(&archive, "results.json").as_deref(), Ok("{}"));
        let only = zip_of(&[("head.json", "[1]")]);
        assert_eq!(extract(&only, "results.json").as_deref(), Ok("[1]"));
        let none = zip_of(&[("a.txt", ""), ("b.txt", "")]);
        assert!(extract(&none, "results.json").is_err_and(|e| e.contains("a.txt, b.txt")));
        assert!(extract(b"not a zip", "results.json").is_err());
    }

    #[test]
    fn branch_names_are_encoded() {
        assert_eq!(encode("release/2026 #1"), "release%2F2026%20%231");
    }
}
