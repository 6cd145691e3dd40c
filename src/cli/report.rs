//! `evalgate report RESULTS`: re-renders the JUnit and markdown reports from a results file, no
//! model calls; and the `--junit`/`--markdown` flags that `run` shares.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CliError, Outcome};
use crate::report::{ReportError, junit, markdown};
use crate::results::Results;

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
pub fn report(args: ReportArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    if args.outputs.junit.is_none() && args.outputs.markdown.is_none() {
        return Err(CliError::usage(
            "nothing to write",
            Some("pass --junit FILE, --markdown FILE, or both"),
        ));
    }
    let results = crate::results::file::read(&args.results)?;
    for line in write_reports(&results, &args.outputs)? {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(Outcome::Done)
}

/// Writes the reports `outputs` asks for; returns one `KIND: PATH` line per file written.
pub fn write_reports(results: &Results, outputs: &ReportOutputs) -> Result<Vec<String>, CliError> {
    let mut written = Vec::new();
    if let Some(path) = &outputs.junit {
        junit::write_file(path, results).map_err(report_error(path))?;
        written.push(format!("junit: {}", path.display()));
    }
    if let Some(path) = &outputs.markdown {
        let opts = markdown::MarkdownOptions {
            run_url: outputs.run_url.clone(),
            ..markdown::MarkdownOptions::default()
        };
        let text = markdown::render(results, &opts).map_err(report_error(path))?;
        crate::support::fs::write_text_atomic(path, &text)
            .map_err(|e| report_error(path)(ReportError::Write(e)))?;
        written.push(format!("markdown: {}", path.display()));
    }
    Ok(written)
}

/// A report that could not be made: the results it renders could not be read (the user's
/// file), or the report could not be written (the machine).
fn report_error(path: &Path) -> impl Fn(ReportError) -> CliError + '_ {
    move |e| match e {
        ReportError::Read(e) => e.into(),
        ReportError::Write(e) => CliError::infra(
            format!("cannot write the report {}: {e}", path.display()),
            None,
        ),
    }
}
