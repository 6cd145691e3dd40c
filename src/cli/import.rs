//! `evalgate import`: write an evalgate suite from another tool's suite, listing what did not map.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Outcome};
use crate::import::{self, ImportError, openai_evals::IdealCheck};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// A promptfoo config (promptfooconfig.yaml): prompts, providers, tests and assertions.
    Promptfoo {
        /// The promptfoo config file.
        file: PathBuf,
        #[command(flatten)]
        out: OutArg,
    },
    /// OpenAI evals samples: JSONL lines of {"input": [messages], "ideal": ...}.
    OpenaiEvals {
        /// The samples file (JSONL).
        file: PathBuf,
        /// How `ideal` is checked: `match` (the answer starts with it) or `includes` (the answer
        /// contains it).
        #[arg(long, value_enum, default_value_t = CheckArg::Match)]
        check: CheckArg,
        #[command(flatten)]
        out: OutArg,
    },
}

#[derive(Debug, clap::Args)]
struct OutArg {
    /// The folder to write the suite in; no existing file is overwritten [default: the current
    /// directory]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CheckArg {
    Match,
    Includes,
}

pub fn import(args: ImportArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let (imported, out) = match args.source {
        Source::Promptfoo { file, out } => (import::promptfoo::import(&file), out),
        Source::OpenaiEvals { file, check, out } => {
            let check = match check {
                CheckArg::Match => IdealCheck::Match,
                CheckArg::Includes => IdealCheck::Includes,
            };
            (import::openai_evals::import(&file, check), out)
        }
    };
    let dir = out.out.unwrap_or_else(|| PathBuf::from("."));
    let imported = imported?;
    let written = import::write_all(&dir, &imported.files)?;
    let _ = write!(stdout, "{}", import::summary(&dir, &imported, &written));
    Ok(Outcome::Done)
}

impl From<ImportError> for CliError {
    fn from(e: ImportError) -> Self {
        let hint = e.hint();
        if e.is_write() {
            CliError::infra(e.to_string(), hint)
        } else {
            CliError::usage(e.to_string(), hint)
        }
    }
}
