//! `evalgate init`: scaffold a suite, its cases and the two workflows (the pull request gate and
//! the main branch's baseline), never overwriting.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder to scaffold in, usually the repository root [default: the current directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// One scaffolded file: where it goes (relative to the folder), what it holds, and what it is for.
struct Scaffold {
    path: &'static str,
    content: &'static str,
    about: &'static str,
}

/// What `init` writes. The workflows are the examples themselves (the PR gate and the baseline it
/// downloads), so that the files CI lints with actionlint are the ones users get.
const FILES: &[Scaffold] = &[
    Scaffold {
        path: "evalgate.toml",
        content: include_str!("init_files/evalgate.toml"),
        about: "the suite: model, prompt, cases, checks and gate",
    },
    Scaffold {
        path: "prompts/answer.txt",
        content: include_str!("init_files/prompts/answer.txt"),
        about: "the prompt template",
    },
    Scaffold {
        path: "evals/cases.jsonl",
        content: include_str!("init_files/evals/cases.jsonl"),
        about: "5 test cases, one JSON object a line",
    },
    Scaffold {
        path: ".github/workflows/evalgate.yml",
        content: include_str!("../../examples/workflows/evalgate-pr.yml"),
        about: "the pull request gate (GitHub Actions)",
    },
    Scaffold {
        path: ".github/workflows/evalgate-main.yml",
        content: include_str!("../../examples/workflows/evalgate-main.yml"),
        about: "the baseline: main's results, for pull requests to compare with",
    },
];

pub fn init(args: InitArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    // Every file is checked before any is written: init writes all of them or nothing.
    let existing: Vec<PathBuf> = FILES
        .iter()
        .map(|f| target(&dir, f.path))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if !existing.is_empty() {
        return Err(refuse(&existing));
    }
    // The folders this run creates, deepest last, so that a failure can take them back too.
    let mut folders: Vec<PathBuf> = Vec::new();
    for file in FILES {
        let mut missing = Vec::new();
        let mut parent = target(&dir, file.path).parent().map(Path::to_path_buf);
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            parent = p.parent().map(Path::to_path_buf);
            missing.push(p);
        }
        for p in missing.into_iter().rev() {
            if !folders.contains(&p) {
                folders.push(p);
            }
        }
    }
    let mut written = Vec::new();
    for file in FILES {
        let path = target(&dir, file.path);
        if let Err(err) = create_new(&path, file.content) {
            // A file that appeared since the check, or a folder that cannot be written: take back
            // what this run wrote so that nothing is left half scaffolded.
            for done in written.iter().rev() {
                let _ = std::fs::remove_file(done);
            }
            for folder in folders.iter().rev() {
                let _ = std::fs::remove_dir(folder);
            }
            return Err(match err.kind() {
                io::ErrorKind::AlreadyExists => refuse(&[path]),
                _ => CliError::Infra {
                    message: format!(
                        "cannot write {}: {err}; nothing was written",
                        path.display()
                    ),
                    hint: Some("init writes into DIR (--dir, or the current directory)".into()),
                },
            });
        }
        written.push(path);
    }
    let ignored = ignore_state(&dir);
    let _ = summary(&dir, &ignored, stdout);
    Ok(Outcome::Done)
}

/// What became of `.gitignore`.
enum Ignored {
    Created,
    Appended,
    Already,
    Failed(io::Error),
}

/// Keeps `.evalgate/` (the cache, journal, results and audit log) out of `git add -A`: appends a
/// line to the folder's `.gitignore`, creating it when missing, never rewriting what is there.
fn ignore_state(dir: &Path) -> Ignored {
    let path = target(dir, ".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Ignored::Failed(e),
    };
    let covered = |line: &str| {
        matches!(
            line.trim(),
            ".evalgate" | ".evalgate/" | "/.evalgate" | "/.evalgate/" | ".evalgate/*"
        )
    };
    if existing.as_deref().is_some_and(|t| t.lines().any(covered)) {
        return Ignored::Already;
    }
    let mut text = String::new();
    if existing
        .as_deref()
        .is_some_and(|t| !t.is_empty() && !t.ends_with('\n'))
    {
        text.push('\n');
    }
    text.push_str("# evalgate: response cache, journal, results and audit log\n.evalgate/\n");
    let appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match (appended, existing) {
        (Err(e), _) => Ignored::Failed(e),
        (Ok(()), None) => Ignored::Created,
        (Ok(()), Some(_)) => Ignored::Appended,
    }
}

/// `dir/relative`, shown without a leading `./` when `dir` is the current directory.
fn target(dir: &Path, relative: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(relative)
    } else {
        dir.join(relative)
    }
}

/// Writes `content` to a file that must not exist yet, creating its parent folders.
fn create_new(path: &Path, content: &str) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(content.as_bytes()).inspect_err(|_| {
        // The file is this run's own: a half-written one goes too.
        let _ = std::fs::remove_file(path);
    })
}

fn refuse(existing: &[PathBuf]) -> CliError {
    let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
    CliError::Usage {
        message: format!(
            "refusing to overwrite {}; nothing was written",
            names.join(", ")
        ),
        hint: Some("move the file(s) away, or scaffold into another folder with --dir DIR".into()),
    }
}

fn summary(dir: &Path, ignored: &Ignored, out: &mut dyn Write) -> io::Result<()> {
    let here = dir == Path::new(".");
    if here {
        writeln!(out, "Created:")?;
    } else {
        writeln!(out, "Created in {}:", dir.display())?;
    }
    let width = FILES.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for file in FILES {
        writeln!(out, "  {:width$}  {}", file.path, file.about)?;
    }
    let gitignore = match ignored {
        Ignored::Created => Some("created: ignores .evalgate/ (cache, results, audit log)"),
        Ignored::Appended => Some("appended: .evalgate/ (cache, results, audit log)"),
        Ignored::Already => None,
        Ignored::Failed(_) => None,
    };
    if let Some(what) = gitignore {
        writeln!(out, "  {:width$}  {what}", ".gitignore")?;
    }
    if let Ignored::Failed(e) = ignored {
        writeln!(
            out,
            "  (could not add .evalgate/ to .gitignore: {e}; add it by hand so the cache and results are not committed)"
        )?;
    }
    let config = if here {
        String::new()
    } else {
        format!(" -c {}", target(dir, "evalgate.toml").display())
    };
    let validate = format!("evalgate validate{config}");
    let run = format!("evalgate run{config}");
    let width = validate.len().max(run.len());
    writeln!(out)?;
    writeln!(out, "Next steps:")?;
    writeln!(
        out,
        "  {validate:width$}  check the suite offline; calls no model"
    )?;
    writeln!(
        out,
        "  {run:width$}  call the model (set OPENAI_API_KEY first) and apply the gate"
    )?;
    // A pull request finds main's results only once the baseline workflow has run on main; until
    // then `baseline: auto` falls through to re-running the base branch (docs/github-action.md).
    for line in [
        "  Then add OPENAI_API_KEY as a repository secret (Settings > Secrets and variables >",
        "  Actions), commit, and push to main: evalgate-main.yml records main's results as the baseline.",
        "  Open a pull request: evalgate.yml compares it with main and comments with the results.",
        "  A default branch other than main: edit `branches:` in evalgate-main.yml.",
        "  How the baseline works: https://github.com/evalgate/evalgate/blob/main/docs/github-action.md#baseline",
    ] {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
