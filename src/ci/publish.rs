//! What `evalgate ci` leaves behind for people: the sticky comment, the job summary, the step
//! outputs and the annotations; and what they read when the run cannot finish, or is a fork's.

use std::io::Write;

use super::inputs::{CommentMode, Inputs};
use super::{CiError, Context};
use crate::github::{comment, env::ActionsEnv, workflow};
use crate::report::markdown;
use crate::results::{CaseChange, Results};

/// Posts or updates the sticky comment. A comment that cannot be posted is a warning in the log,
/// not a failed step: the verdict is in the job summary and the exit code either way.
pub(super) fn comment(
    ctx: &Context<'_>,
    inputs: &Inputs,
    marker: &str,
    body: &str,
    out: &mut dyn Write,
) {
    let Some(pr) = &ctx.env.pull_request else {
        return;
    };
    if inputs.comment == CommentMode::Off {
        return;
    }
    let Some(client) = ctx.client else {
        let _ = writeln!(
            out,
            "{}",
            workflow::annotation(
                workflow::Level::Warning,
                "evalgate comment",
                "no token: set the `github_token` input to comment on the pull request"
            )
        );
        return;
    };
    let published = ctx.runtime.block_on(comment::publish(
        client,
        &ctx.env.repository,
        pr.number,
        marker,
        body,
        comment_mode(inputs),
    ));
    match published {
        Ok(comment::Published::Created { url, .. }) => {
            let _ = writeln!(out, "comment: created {url}");
        }
        Ok(comment::Published::Updated { url, .. }) => {
            let _ = writeln!(out, "comment: updated {url}");
        }
        Err(e) => {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}",
                workflow::annotation(
                    workflow::Level::Warning,
                    "evalgate comment",
                    &format!("{e}{hint}")
                )
            );
        }
    }
}

fn comment_mode(inputs: &Inputs) -> comment::Mode {
    match inputs.comment {
        CommentMode::New => comment::Mode::New,
        CommentMode::Update | CommentMode::Off => comment::Mode::Update,
    }
}

pub(super) fn append_summary(env: &ActionsEnv, text: &str) -> Result<(), CiError> {
    if let Some(summary) = &env.step_summary {
        workflow::append_summary(summary, text).map_err(|e| CiError::Infra {
            message: format!("cannot write the job summary {}: {e}", summary.display()),
            hint: None,
        })?;
    }
    Ok(())
}

pub(super) fn set_outputs(env: &ActionsEnv, outputs: &[(&str, String)]) -> Result<(), CiError> {
    if let Some(path) = &env.output {
        workflow::set_outputs(path, outputs).map_err(|e| CiError::Infra {
            message: format!("cannot write the step outputs {}: {e}", path.display()),
            hint: None,
        })?;
    }
    Ok(())
}

/// One `::error` per regressed case (capped as GitHub caps them).
pub(super) fn annotation_lines(results: &Results) -> Vec<String> {
    let Some(comparison) = &results.comparison else {
        return Vec::new();
    };
    let items: Vec<(String, String)> = comparison
        .cases
        .iter()
        .filter(|c| c.change == CaseChange::Regressed)
        .map(|c| {
            let why = c.reasons.first().cloned().unwrap_or_else(|| {
                format!(
                    "score {:.2} → {:.2}",
                    c.base_score.unwrap_or_default(),
                    c.head_score.unwrap_or_default()
                )
            });
            (
                format!("evalgate: {} {} regressed", c.cell, c.case_id),
                crate::support::text::truncate(&why, 300).into_owned(),
            )
        })
        .collect();
    workflow::annotations(workflow::Level::Error, &items)
}

/// How long the error comment may take: well within the grace period a stopped container gets.
const FAILURE_COMMENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// When the run cannot finish, the pull request must not keep showing an older verdict: the
/// sticky comment and the job summary say what went wrong instead (best effort; the error itself
/// is what the step reports).
pub(super) fn report_failure(
    ctx: &Context<'_>,
    inputs: &Inputs,
    err: &CiError,
    out: &mut dyn Write,
) {
    let message = crate::privacy::secrets::scrub(&err.to_string());
    let first = message.lines().next().unwrap_or_default();
    let mut text = format!(
        "### ⚠️ evalgate ERROR: the gate could not run\n\n{}\n",
        markdown::inline(first)
    );
    // A configuration error goes on with the file, line and column, the offending line and
    // "did you mean": the whole of it, as the terminal printed it.
    let rest = message.lines().skip(1).collect::<Vec<_>>().join("\n");
    if !rest.trim().is_empty() {
        text.push('\n');
        text.push_str(&markdown::pre(&rest));
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!(
            "\n{}\n",
            markdown::inline(&crate::privacy::secrets::scrub(&hint))
        ));
    }
    if let Some(url) = ctx.env.run_url() {
        text.push_str(&format!("\nDetails in the [CI run]({url}).\n"));
    }
    let _ = append_summary(ctx.env, &text);
    let _ = set_outputs(ctx.env, &[("verdict", "error".to_owned())]);
    // The comment is found by the suite's name, read from the file as it is (it may not load).
    let name = std::fs::read_to_string(&inputs.config)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("suite")?.get("name")?.as_str().map(str::to_owned));
    if let (Some(pr), Some(client), Some(name)) = (&ctx.env.pull_request, ctx.client, name)
        && inputs.comment != CommentMode::Off
    {
        let body = format!("<!-- {} -->\n{text}", comment::marker_text(&name));
        // Bounded: after `docker stop` or a cancelled job, the runner kills the container at the
        // end of its grace period (10 s for `docker stop`).
        let published = ctx.runtime.block_on(async {
            tokio::time::timeout(
                FAILURE_COMMENT_LIMIT,
                comment::publish(
                    client,
                    &ctx.env.repository,
                    pr.number,
                    &comment::marker(&name),
                    &body,
                    comment_mode(inputs),
                ),
            )
            .await
        });
        match published {
            Ok(Ok(comment::Published::Created { url, .. })) => {
                let _ = writeln!(out, "comment: created {url} with the error");
            }
            Ok(Ok(comment::Published::Updated { url, .. })) => {
                let _ = writeln!(out, "comment: updated {url} with the error");
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
}

/// A fork's pull request gets a read-only token and no secrets: say so, judge nothing.
pub(super) fn neutral_for_fork(env: &ActionsEnv, out: &mut dyn Write) -> Result<(), CiError> {
    let text = "### ⏸️ evalgate NEUTRAL: this pull request comes from a fork\n\n\
        GitHub gives a fork's workflow a read-only token and no secrets, so evalgate called no \
        model and judged nothing: neither a pass nor a failure. To evaluate fork pull requests, \
        use the `pull_request` + `workflow_run` pattern (examples/workflows/evalgate-fork-safe.yml), \
        or run a suite that replays a committed cache (`args: --offline`).\n";
    append_summary(env, text)?;
    set_outputs(env, &[("verdict", "neutral".to_owned())])?;
    let _ = writeln!(
        out,
        "{}",
        workflow::annotation(
            workflow::Level::Notice,
            "evalgate",
            "fork pull request: no secrets, nothing judged (neutral)"
        )
    );
    Ok(())
}
