//! `evalgate report RESULTS`: re-renders the JUnit and markdown reports from a results file, no
//! model calls; and the `--junit`/`--markdown` flags that `run` shares.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::report::{junit, markdown};
use crate::results::{Results, SCHEMA_VERSION};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The results file to render (written by `evalgate run`).
    #[arg(value_name = "RESULTS")]
    results: PathBuf,
    #[command(flatten)]
    outputs: ReportOutputs,
}

/// Which reports to write, and where.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportOutputs {
    /// Write a JUnit XML report (for test reporters) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a markdown report (PR comment, job summary) to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// A link to the CI run, shown in the markdown report.
    #[arg(long, value_name = "URL")]
    pub run_url: Option<String>,
}

/// Exit code 0 once the reports are written, whatever the verdict: this command renders a
/// decision made earlier, it does not make one.
pub fn report(args: ReportArgs, stdout: &mut dyn Write) -> Result<u8, CliError> {
    if args.outputs.junit.is_none() && args.outputs.markdown.is_none() {
        return Err(CliError::Usage {
            message: "nothing to write".to_owned(),
            hint: Some("pass --junit FILE, --markdown FILE, or both".to_owned()),
        });
    }
    let results = read_results(&args.results)?;
    for line in write_reports(&results, &args.outputs)? {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(crate::exit_codes::PASS)
}

/// Reads and checks a results file. Every problem is a usage error naming the file.
pub fn read_results(path: &Path) -> Result<Results, CliError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Usage {
        message: format!("cannot read the results file {shown}: {e}"),
        hint: Some("pass the results file that `evalgate run` wrote (by default .evalgate/results.json next to the suite file)".to_owned()),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| CliError::Usage {
        message: format!("{shown} is not valid JSON: {e}"),
        hint: None,
    })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(version) if version == u64::from(SCHEMA_VERSION) => {}
        Some(version) => {
            return Err(CliError::Usage {
                message: format!(
                    "{shown} has results schema_version {version}, and this evalgate reads version {SCHEMA_VERSION}"
                ),
                hint: Some(
                    "render it with the evalgate version that wrote it, or run the suite again with this one".to_owned(),
                ),
            });
        }
        None => {
            return Err(CliError::Usage {
                message: format!(
                    "{shown} is not an evalgate results file: it has no numeric `schema_version`"
                ),
                hint: None,
            });
        }
    }
    serde_json::from_value(value).map_err(|e| CliError::Usage {
        message: format!("{shown} is not a valid evalgate results file: {e}"),
        hint: None,
    })
}

/// Writes the reports `outputs` asks for; returns one `KIND: PATH` line per file written.
pub fn write_reports(results: &Results, outputs: &ReportOutputs) -> Result<Vec<String>, CliError> {
    let mut written = Vec::new();
    if let Some(path) = &outputs.junit {
        write_atomically(path, &junit::render(results))?;
        written.push(format!("junit: {}", path.display()));
    }
    if let Some(path) = &outputs.markdown {
        let opts = markdown::MarkdownOptions {
            run_url: outputs.run_url.clone(),
            ..markdown::MarkdownOptions::default()
        };
        write_atomically(path, &markdown::render(results, &opts))?;
        written.push(format!("markdown: {}", path.display()));
    }
    Ok(written)
}

/// A reader (a CI step uploading the report) never sees half a file.
fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::Infra {
        message: format!("cannot write the report {}: {e}", path.display()),
        hint: None,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
