//! Running a team's own program with a JSON request on stdin: the `command` provider and the
//! `command` check both do it, and both need the same care.

use std::path::Path;
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

/// Runs `argv` in `cwd`, writes `input` to its stdin and collects stdout, stderr and the exit
/// status. Stdin is written while the output is read, so a program that answers before reading
/// all of its input cannot deadlock against a full pipe, and a program that does not read its
/// input at all is its own business: what counts is what it prints and how it exits. The child
/// is killed when the returned future is dropped, which is how callers time it out.
pub async fn run_with_input(argv: &[String], cwd: &Path, input: &[u8]) -> std::io::Result<Output> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        // A team's program handles model output (and, in a fork-safe workflow, a fork's data):
        // it gets no token that could write to the repository or mint cloud credentials.
        .env_remove("GITHUB_TOKEN")
        .env_remove("INPUT_GITHUB_TOKEN")
        .env_remove("ACTIONS_RUNTIME_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take();
    let write = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(input).await;
            let _ = stdin.shutdown().await;
        }
    };
    let (_, output) = tokio::join!(write, child.wait_with_output());
    output
}
