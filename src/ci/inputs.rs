//! The Action's inputs: flags win over `INPUT_*` variables, which win over the defaults. Parsed
//! once here into typed values, so the flow never compares strings.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::CiError;
use crate::config::DEFAULT_CONFIG;
use crate::execute::CacheMode;
use crate::pipeline::{CacheChoice, cache_mode};
use crate::privacy::secrets::Secret;

/// The inputs as given on the command line; `None` falls back to `INPUT_NAME`, then the default.
#[derive(Debug, Default)]
pub struct Requested {
    pub config: Option<PathBuf>,
    pub baseline: Option<String>,
    pub comment: Option<String>,
    pub results_artifact: Option<String>,
    pub working_directory: Option<PathBuf>,
    pub fail_on: Option<String>,
    pub run_args: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommentMode {
    Update,
    New,
    Off,
}

/// Which failures fail the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any failed rule: a regression against the baseline or a breached threshold.
    Regression,
    /// Only absolute thresholds; drops against the baseline are reported, not failed.
    Threshold,
    /// Report only. Infrastructure and configuration errors still fail.
    Never,
}

/// Where the baseline comes from (the `baseline` input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineSource {
    /// The artifact, then a committed file, then a re-run of the base ref; each miss is a note.
    Auto,
    /// No baseline: only the absolute thresholds apply.
    None,
    /// Only the base branch's results artifact; a miss is an error.
    Artifact,
    /// Only `evalgate-baseline.json` committed at the base ref; a miss is an error.
    Git,
    /// Only a re-run of the base ref's suite.
    Rerun,
    /// A results file, relative to the working directory.
    File(PathBuf),
}

impl BaselineSource {
    fn parse(value: &str, dir: &Path) -> BaselineSource {
        match value {
            "auto" => BaselineSource::Auto,
            "none" => BaselineSource::None,
            "artifact" => BaselineSource::Artifact,
            "git" => BaselineSource::Git,
            "rerun" => BaselineSource::Rerun,
            path => BaselineSource::File(dir.join(path)),
        }
    }
}

/// The `run` options the Action's `args` input may carry.
#[derive(Debug, clap::Parser)]
#[command(no_binary_name = true, name = "args")]
pub struct ExtraArgs {
    #[arg(long = "filter", value_name = "PATTERN")]
    pub filters: Vec<String>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeats: Option<u32>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: Option<u32>,
    #[arg(long, conflicts_with = "cache")]
    pub offline: bool,
    #[arg(long, value_enum)]
    pub cache: Option<CacheChoice>,
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Batch mode for every model whose provider has a batch API.
    #[arg(long)]
    pub batch: bool,
    #[arg(long, value_name = "DURATION", value_parser = crate::support::fmt::parse_duration)]
    pub batch_wait: Option<std::time::Duration>,
}

/// The inputs, resolved.
#[derive(Debug)]
pub struct Inputs {
    pub config: PathBuf,
    pub baseline: BaselineSource,
    pub comment: CommentMode,
    pub artifact: String,
    pub fail_on: FailOn,
    pub extra: ExtraArgs,
    /// `--state-dir` in `args`, else `EVALGATE_STATE_DIR`, relative to the working directory.
    pub state_dir: Option<PathBuf>,
    pub token: Option<Secret>,
}

impl Inputs {
    /// Resolves `requested` against the environment `var` (the process's, in production).
    pub fn resolve(
        requested: Requested,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Inputs, CiError> {
        let input = |flag: Option<String>, name: &str| {
            flag.or_else(|| var(&format!("INPUT_{name}")))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let dir = input(
            requested.working_directory.map(|p| p.display().to_string()),
            "WORKING_DIRECTORY",
        )
        .unwrap_or_else(|| ".".to_owned());
        let dir = PathBuf::from(dir);
        let config = input(requested.config.map(|p| p.display().to_string()), "CONFIG")
            .unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
        let raw_args = input(requested.run_args, "ARGS").unwrap_or_default();
        let words = split_words(&raw_args).map_err(|message| CiError::Usage {
            message: format!("input `args`: {message}"),
            hint: None,
        })?;
        let extra = <ExtraArgs as clap::Parser>::try_parse_from(&words).map_err(|e| {
            CiError::Usage {
                message: format!(
                    "input `args` (`{raw_args}`): {}",
                    e.render().to_string().lines().next().unwrap_or_default()
                ),
                hint: Some(
                    "`args` takes run options: --filter, --repeats, --concurrency, --offline, --cache, --state-dir, --batch, --batch-wait"
                        .into(),
                ),
            }
        })?;
        let token = input(None, "GITHUB_TOKEN")
            .or_else(|| var("GITHUB_TOKEN").filter(|t| !t.is_empty()))
            .map(Secret::new);
        let baseline = input(requested.baseline, "BASELINE").unwrap_or_else(|| "auto".into());
        let state_dir = extra
            .state_dir
            .clone()
            .or_else(|| {
                var("EVALGATE_STATE_DIR")
                    .filter(|v| !v.trim().is_empty())
                    .map(PathBuf::from)
            })
            .map(|d| dir.join(d));
        Ok(Inputs {
            config: dir.join(config),
            baseline: BaselineSource::parse(&baseline, &dir),
            comment: choice(
                input(requested.comment, "COMMENT"),
                "comment",
                CommentMode::Update,
            )?,
            artifact: input(requested.results_artifact, "RESULTS_ARTIFACT")
                .unwrap_or_else(|| "evalgate-results".into()),
            fail_on: choice(
                input(requested.fail_on, "FAIL_ON"),
                "fail_on",
                FailOn::Regression,
            )?,
            extra,
            state_dir,
            token,
        })
    }

    pub fn cache_mode(&self) -> CacheMode {
        cache_mode(self.extra.offline, self.extra.cache)
    }
}

fn choice<T: ValueEnum>(value: Option<String>, name: &str, default: T) -> Result<T, CiError> {
    match value {
        None => Ok(default),
        Some(v) => T::from_str(&v, true).map_err(|_| CiError::Usage {
            message: format!("input `{name}` is `{v}`, which is not one of its values"),
            hint: Some(format!(
                "use one of: {}",
                T::value_variants()
                    .iter()
                    .filter_map(|v| v.to_possible_value())
                    .map(|p| p.get_name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }),
    }
}

/// Splits the `args` input like a shell would for plain words and '...' / "..." quoting.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            split_words(r#"--filter "refund policy" --repeats 3 --filter 'a b'"#),
            Ok(vec![
                "--filter".to_owned(),
                "refund policy".to_owned(),
                "--repeats".to_owned(),
                "3".to_owned(),
                "--filter".to_owned(),
                "a b".to_owned()
            ])
        );
        assert_eq!(split_words("  "), Ok(vec![]));
        assert_eq!(
            split_words(r#"--filter """#),
            Ok(vec!["--filter".to_owned(), String::new()])
        );
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn flags_win_over_inputs_which_win_over_defaults() {
        let env = |name: &str| match name {
            "INPUT_BASELINE" => Some("git".to_owned()),
            "INPUT_FAIL_ON" => Some("threshold".to_owned()),
            "INPUT_WORKING_DIRECTORY" => Some("evals".to_owned()),
            "INPUT_ARGS" => Some("--filter 'refund policy' --offline".to_owned()),
            _ => None,
        };
        let requested = Requested {
            fail_on: Some("never".into()),
            ..Requested::default()
        };
        let inputs = Inputs::resolve(requested, env).expect("inputs");
        assert_eq!(inputs.baseline, BaselineSource::Git);
        assert_eq!(inputs.fail_on, FailOn::Never);
        assert_eq!(inputs.comment, CommentMode::Update);
        assert_eq!(inputs.config, Path::new("evals").join(DEFAULT_CONFIG));
        assert_eq!(inputs.extra.filters, vec!["refund policy".to_owned()]);
        assert_eq!(inputs.cache_mode(), CacheMode::Offline);
        assert!(inputs.token.is_none());
    }

    #[test]
    fn args_take_batch_mode_and_its_wait() {
        let env =
            |name: &str| (name == "INPUT_ARGS").then(|| "--batch --batch-wait 5h30m".to_owned());
        let inputs = Inputs::resolve(Requested::default(), env).expect("inputs");
        assert!(inputs.extra.batch);
        assert_eq!(
            inputs.extra.batch_wait,
            Some(std::time::Duration::from_secs(5 * 3600 + 1800))
        );
        let env = |name: &str| (name == "INPUT_ARGS").then(|| "--batch-wait soon".to_owned());
        let err = Inputs::resolve(Requested::default(), env).expect_err("bad duration");
        assert!(err.to_string().contains("--batch-wait"), "{err}");
    }

    #[test]
    fn a_baseline_that_is_no_keyword_is_a_file_in_the_working_directory() {
        let requested = Requested {
            baseline: Some("base.json".into()),
            working_directory: Some("evals".into()),
            ..Requested::default()
        };
        let inputs = Inputs::resolve(requested, |_| None).expect("inputs");
        assert_eq!(
            inputs.baseline,
            BaselineSource::File(Path::new("evals").join("base.json"))
        );
    }

    #[test]
    fn unknown_choices_list_the_values() {
        let requested = Requested {
            comment: Some("sometimes".into()),
            ..Requested::default()
        };
        let err = Inputs::resolve(requested, |_| None).expect_err("bad input");
        assert_eq!(
            err.to_string(),
            "input `comment` is `sometimes`, which is not one of its values"
        );
        assert_eq!(err.hint().as_deref(), Some("use one of: update, new, off"));
    }

    #[test]
    fn the_state_folder_comes_from_args_then_the_environment_in_the_working_directory() {
        let requested = || Requested {
            working_directory: Some("evals".into()),
            run_args: Some("--offline --state-dir /tmp/state".into()),
            ..Requested::default()
        };
        let env = |name: &str| (name == "EVALGATE_STATE_DIR").then(|| "run-state".to_owned());
        let inputs = Inputs::resolve(requested(), env).expect("inputs");
        assert_eq!(inputs.state_dir, Some(PathBuf::from("/tmp/state")));

        let inputs = Inputs::resolve(
            Requested {
                run_args: None,
                ..requested()
            },
            env,
        )
        .expect("inputs");
        assert_eq!(inputs.state_dir, Some(Path::new("evals").join("run-state")));
        assert_eq!(
            Inputs::resolve(Requested::default(), |_| None)
                .expect("inputs")
                .state_dir,
            None
        );
    }
}
