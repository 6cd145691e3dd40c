//! The command line: argument parsing, dispatch, and the one place that maps errors to exit
//! codes and prints them.

mod ci;
mod compare;
mod error;
mod import;
mod generate;
mod init;
mod merge;
mod plan;
mod progress;
mod report;
mod run;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

pub use error::{CliError, Outcome, exit_code};

use crate::config::DEFAULT_CONFIG;
use crate::exit_codes;

#[derive(Debug, Parser)]
#[command(
    name = "evalgate",
    version,
    about = "A CI regression gate for LLM prompts and models",
    long_about = "Runs an eval suite (models, prompt templates, test cases, checks) and fails \
                  the check when quality drops below the declared thresholds, or against a \
                  baseline run by more than noise explains.\n\n\
                  Exit codes: 0 gate passed, 1 gate failed, 2 usage or configuration error, \
                  3 infrastructure error (provider unreachable, too many errored calls, a \
                  journal that cannot be written, batches still running after --batch-wait), \
                  130 interrupted by Ctrl-C, 143 stopped by SIGTERM."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// When to use colors in the terminal summary.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite, write the results file and apply the gate.
    Run(run::RunArgs),
    /// Show what `run` would call and cost (per cell: calls, cached, tokens, estimated cost)
    /// from the suite and the response cache, read-only. Calls no model, needs no API key.
    Plan(plan::PlanArgs),
    /// What the GitHub Action runs: baseline, run, compare, reports, comment, outputs.
    Ci(ci::CiArgs),
    /// Gate a results file against a baseline results file, or one cell of a run against
    /// another (`--cells OLD NEW`), case by case. Calls no model.
    Compare(compare::CompareArgs),
    /// Join the results files of `run --shard I/N` into the results of one run and apply the gate.
    /// Calls no model.
    Merge(merge::MergeArgs),
    /// Check the suite offline: config, templates, datasets and checks. Calls no model.
    Validate(validate::ValidateArgs),
    /// Re-render the JUnit and markdown reports from a results file. Calls no model.
    Report(report::ReportArgs),
    /// Scaffold a suite, its cases and the pull request and baseline workflows. Overwrites nothing.
    Init(init::InitArgs),
    /// Write an evalgate suite from a promptfoo config or OpenAI evals samples, listing what did
    /// not map. Overwrites nothing.
    Import(import::ImportArgs),
    /// Print the completion script of a shell (bash, zsh, fish, powershell, elvish).
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff), e.g. `evalgate man > evalgate.1`.
    Man,
    /// Print the JSON Schema of the suite file, for editor autocomplete and validation.
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The suite file option shared by the commands.
#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// The suite file.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

/// Parses `args` (the program name first, as [`std::env::args_os`] gives them), runs the
/// command, and returns the process exit code. `stdout` gets what a user may pipe (summaries,
/// `--help`); errors go to `stderr`.
pub fn main<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are what the user asked for, on stdout; usage errors
            // go to stderr.
            let text = err.render().to_string();
            return if err.use_stderr() {
                let _ = write!(stderr, "{text}");
                exit_codes::USAGE
            } else {
                let _ = write!(stdout, "{text}");
                exit_codes::PASS
            };
        }
    };
    init_tracing(cli.verbose);
    let color = match cli.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            use std::io::IsTerminal;
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(args, color, stdout),
        Command::Plan(args) => plan::plan(args, stdout),
        Command::Compare(args) => compare::compare(args, color, stdout),
        Command::Ci(args) => ci::ci(args, color, stdout),
        Command::Merge(args) => merge::merge(args, color, stdout),
        Command::Validate(args) => validate::validate(args, stdout),
        Command::Report(args) => report::report(args, stdout),
        Command::Init(args) => init::init(args, stdout),
        Command::Import(args) => import::import(args, stdout),
        Command::Completions(args) => generate::completions(args, stdout),
        Command::Man => generate::man(stdout),
        Command::Schema => generate::schema(stdout),
    };
    if let Err(err) = &result {
        let text = match err {
            CliError::Config(errors) => errors.to_string(),
            other => format!("error: {other}"),
        };
        // Errors quote what files hold (a suite's name, a value, a line of a dataset): every
        // one is made inert for a terminal or CI log here, whatever produced it.
        let inert = |text: &str| {
            let scrubbed = crate::privacy::secrets::scrub(text);
            crate::support::text::sanitize_for_log(&scrubbed).into_owned()
        };
        let _ = writeln!(stderr, "{}", inert(&text));
        if let Some(hint) = err.hint() {
            let _ = writeln!(stderr, "  = hint: {}", inert(hint));
        }
    }
    exit_code(&result)
}

/// The terminal summary of a run, on stdout (the part of the output a user may pipe).
fn print_summary(stdout: &mut dyn Write, results: &crate::results::Results, color: bool) {
    let mut text = String::new();
    let opts = crate::report::terminal::TerminalOptions {
        color,
        ..Default::default()
    };
    let _ = crate::report::terminal::write_summary(&mut text, results, &opts);
    let _ = write!(stdout, "{text}");
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "evalgate=warn",
        1 => "evalgate=debug",
        _ => "evalgate=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal; a CI log gets plain lines, made inert by the writer.
    let colored = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colored)
        // Redacts secrets and `[redact]` matches from every line.
        .with_writer(crate::privacy::redact::LogWriter { colored })
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = main(
            std::iter::once("evalgate").chain(args.iter().copied()),
            &mut out,
            &mut err,
        );
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
        (code, text(out), text(err))
    }

    #[test]
    fn version_and_help_go_to_stdout() {
        let (code, out, err) = run(&["--version"]);
        assert_eq!(code, exit_codes::PASS);
        assert_eq!(
            out.trim(),
            format!("evalgate {}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(err, "");
        let (code, out, _) = run(&["compare", "--help"]);
        assert_eq!(code, exit_codes::PASS);
        assert!(out.contains("Usage: evalgate compare"), "{out}");
    }

    #[test]
    fn usage_errors_go_to_stderr_with_exit_2() {
        let (code, out, err) = run(&["frobnicate"]);
        assert_eq!(code, exit_codes::USAGE);
        assert_eq!(out, "");
        assert!(
            err.contains("unrecognized subcommand 'frobnicate'"),
            "{err}"
        );
    }

    #[test]
    fn command_errors_print_the_message_and_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("results.json");
        let missing = missing.to_string_lossy();
        let (code, out, err) = run(&["report", &missing, "--junit", "j.xml"]);
        assert_eq!(code, exit_codes::USAGE);
        assert_eq!(out, "");
        assert!(
            err.starts_with(&format!("error: cannot read the results file {missing}: ")),
            "{err}"
        );
        assert!(err.contains("\n  = hint: pass the results file"), "{err}");
    }

    #[test]
    fn completions_print_a_script_that_knows_the_subcommands_and_flags() {
        let (code, out, err) = run(&["completions", "bash"]);
        assert_eq!((code, err.as_str()), (exit_codes::PASS, ""));
        assert!(out.contains("complete -F _evalgate"), "{out}");
        for word in [
            "run",
            "compare",
            "validate",
            "completions",
            "--filter",
            "--config",
        ] {
            assert!(out.contains(word), "bash completions lack `{word}`");
        }
        for shell in ["zsh", "fish", "powershell", "elvish"] {
            let (code, out, _) = run(&["completions", shell]);
            assert_eq!(code, exit_codes::PASS, "{shell}");
            assert!(
                out.contains("--filter"),
                "{shell} completions lack `--filter`"
            );
        }
        let (code, _, err) = run(&["completions", "tcsh"]);
        assert_eq!(code, exit_codes::USAGE);
        assert!(err.contains("invalid value 'tcsh'"), "{err}");
    }

    #[test]
    fn man_prints_a_roff_page_naming_the_subcommands() {
        let (code, out, err) = run(&["man"]);
        assert_eq!((code, err.as_str()), (exit_codes::PASS, ""));
        assert!(out.contains("\n.TH evalgate 1"), "{out}");
        assert!(out.contains("\n.SH COMMANDS\n"), "{out}");
        for sub in [
            "run", "ci", "compare", "merge", "validate", "report", "init", "schema",
        ] {
            assert!(
                out.contains(&format!("\n.TP\n\\fBevalgate {sub}\\fR\n")),
                "the man page does not list `{sub}`: {out}"
            );
        }
        // Only this page is installed: no pointer to per-command pages.
        assert!(!out.contains("evalgate\\-run(1)"), "{out}");
        assert!(out.contains("\\fBevalgate COMMAND \\-\\-help\\fR"), "{out}");
    }

    #[test]
    fn schema_prints_the_suite_file_schema() {
        let (code, out, err) = run(&["schema"]);
        assert_eq!((code, err.as_str()), (exit_codes::PASS, ""));
        let schema: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(schema["title"], "evalgate suite file");
        assert_eq!(schema["required"], serde_json::json!(["suite"]));
    }
}
