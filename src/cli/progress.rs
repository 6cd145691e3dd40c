//! Progress of a run on stderr, drawn from the executor's events: a bar on a terminal, a line
//! every few seconds otherwise (CI logs are files, and a redrawn bar would fill them with noise).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};

use crate::execute::{BatchEvent, CallOutcome, ExecEvent};
use crate::support::fmt::{count_of, format_count};
use crate::support::text::sanitize_for_log;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bar,
    Lines,
    Off,
}

#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total: u64,
    tally: Tally,
    started: Instant,
    last_line: Instant,
}

/// The calls done so far, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    passed: u64,
    failed: u64,
    errored: u64,
    /// Served from the response cache, whatever their outcome.
    cached: u64,
}

impl Tally {
    fn record(&mut self, outcome: CallOutcome, cached: bool) {
        match outcome {
            CallOutcome::Passed => self.passed += 1,
            CallOutcome::Failed => self.failed += 1,
            CallOutcome::Errored => self.errored += 1,
        }
        self.cached += u64::from(cached);
    }

    fn done(&self) -> u64 {
        self.passed + self.failed + self.errored
    }

    /// The bar's message: `12 passed, 3 failed, 0 errored`, then `, 8 cached` once the cache
    /// has served a call.
    fn counts(&self) -> String {
        let mut text = format!(
            "{} passed, {} failed, {} errored",
            self.passed, self.failed, self.errored
        );
        if self.cached > 0 {
            text.push_str(&format!(", {} cached", self.cached));
        }
        text
    }
}

const LINE_EVERY: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(200);

/// The bar on a terminal: where the run is, how long it took and may still take, and the counts.
const BAR_TEMPLATE: &str =
    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} calls, ETA {eta}  {msg}";

impl Progress {
    /// A display that shows nothing until a run starts.
    pub fn new(mode: ProgressMode) -> Self {
        let now = Instant::now();
        Progress {
            mode,
            bar: None,
            total: 0,
            tally: Tally::default(),
            started: now,
            last_line: now,
        }
    }

    fn start(&mut self, total: u64) {
        self.start_drawing_to(total, ProgressDrawTarget::stderr_with_hz(10));
    }

    fn start_drawing_to(&mut self, total: u64, target: ProgressDrawTarget) {
        self.finish();
        self.tally = Tally::default();
        self.bar = (self.mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), target);
            bar.set_style(
                ProgressStyle::with_template(BAR_TEMPLATE)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(self.tally.counts());
            // Draws are rate-limited, so one that an update skipped could leave the position and
            // the counts apart until the next call ends; the tick redraws them (and keeps the
            // elapsed time and the ETA moving while a slow call is out).
            bar.enable_steady_tick(TICK);
            bar
        });
        let now = Instant::now();
        self.total = total;
        self.started = now;
        self.last_line = now;
    }

    pub fn on_event(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::Started { calls } => self.start(calls),
            ExecEvent::CallDone { outcome, cached } => self.record(outcome, cached),
            ExecEvent::Finished => self.finish(),
            ExecEvent::Batch(event) => self.batch(&event),
        }
    }

    /// A batch moved on: a line of its own, above the bar or in the log, since a batch can keep
    /// a run waiting for hours.
    fn batch(&mut self, event: &BatchEvent) {
        let line = batch_line(event);
        match (self.mode, &self.bar) {
            (ProgressMode::Bar, Some(bar)) => bar.println(line),
            (ProgressMode::Bar | ProgressMode::Lines, _) => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            (ProgressMode::Off, _) => {}
        }
    }

    fn record(&mut self, outcome: CallOutcome, cached: bool) {
        self.tally.record(outcome, cached);
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    bar.set_message(self.tally.counts());
                }
            }
            ProgressMode::Lines if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                self.line();
            }
            _ => {}
        }
    }

    fn line(&self) {
        let _ = writeln!(
            std::io::stderr(),
            "evalgate: {}/{} calls, {} errored, {:.1}s",
            self.tally.done(),
            self.total,
            self.tally.errored,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The progress line of a batch event. Ids come from the provider: shown inert.
fn batch_line(event: &BatchEvent) -> String {
    match event {
        BatchEvent::Submitted {
            model,
            batch,
            calls,
        } => format!(
            "evalgate: model `{model}`: submitted {} as batch {}",
            count_of(*calls, "call", "calls"),
            sanitize_for_log(batch)
        ),
        BatchEvent::Resumed {
            model,
            batch,
            calls,
        } => format!(
            "evalgate: model `{model}`: waiting again for batch {} ({}), submitted by an earlier attempt",
            sanitize_for_log(batch),
            count_of(*calls, "call", "calls"),
        ),
        BatchEvent::Status {
            model,
            batch,
            status,
            done,
            total,
            errored,
        } => format!(
            "evalgate: batch {} (model `{model}`): {}, {} of {} requests done, {} without an answer",
            sanitize_for_log(batch),
            sanitize_for_log(status),
            format_count(*done),
            format_count(*total),
            format_count(*errored),
        ),
        BatchEvent::Collected {
            model,
            batch,
            status,
            answered,
            errored,
        } => format!(
            "evalgate: batch {} (model `{model}`) {}: {} saved, {} without an answer",
            sanitize_for_log(batch),
            sanitize_for_log(status),
            count_of(*answered, "answer", "answers"),
            format_count(*errored),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid_and_shows_position_elapsed_eta_and_the_counts() {
        // An invalid template would silently fall back to indicatif's plain bar.
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        for key in ["{pos}", "{len}", "{elapsed_precise}", "{eta}", "{msg}"] {
            assert!(BAR_TEMPLATE.contains(key), "{key}");
        }
    }

    #[test]
    fn counts_name_each_outcome_and_cached_calls_once_there_are_any() {
        let mut tally = Tally::default();
        assert_eq!(tally.counts(), "0 passed, 0 failed, 0 errored");
        tally.record(CallOutcome::Passed, false);
        tally.record(CallOutcome::Passed, false);
        tally.record(CallOutcome::Failed, false);
        tally.record(CallOutcome::Errored, false);
        assert_eq!(tally.counts(), "2 passed, 1 failed, 1 errored");
        tally.record(CallOutcome::Failed, true);
        assert_eq!(tally.counts(), "2 passed, 2 failed, 1 errored, 1 cached");
        assert_eq!(tally.done(), 5);
    }

    #[test]
    fn the_bar_counts_each_call_by_its_outcome_and_starts_again_for_a_second_run() {
        let mut progress = Progress::new(ProgressMode::Bar);
        progress.start_drawing_to(5, ProgressDrawTarget::hidden());
        let bar = progress.bar.clone().expect("a bar");
        assert_eq!(bar.message(), "0 passed, 0 failed, 0 errored");
        for (outcome, cached) in [
            (CallOutcome::Passed, true),
            (CallOutcome::Failed, false),
            (CallOutcome::Passed, true),
            (CallOutcome::Errored, false),
        ] {
            progress.on_event(ExecEvent::CallDone { outcome, cached });
        }
        assert_eq!(bar.position(), 4);
        assert_eq!(bar.length(), Some(5));
        assert_eq!(bar.message(), "2 passed, 1 failed, 1 errored, 2 cached");

        // `evalgate ci` re-running the base branch: a new run, counted from zero.
        progress.start_drawing_to(3, ProgressDrawTarget::hidden());
        progress.on_event(ExecEvent::CallDone {
            outcome: CallOutcome::Failed,
            cached: false,
        });
        let bar = progress.bar.clone().expect("a bar");
        assert_eq!(bar.position(), 1);
        assert_eq!(bar.message(), "0 passed, 1 failed, 0 errored");
        progress.on_event(ExecEvent::Finished);
        assert!(progress.bar.is_none());
    }

    #[test]
    fn batch_events_read_as_one_line_each() {
        let lines: Vec<String> = [
            BatchEvent::Submitted {
                model: "mini".into(),
                batch: "batch_abc".into(),
                calls: 120,
            },
            BatchEvent::Resumed {
                model: "mini".into(),
                batch: "batch_abc".into(),
                calls: 1,
            },
            BatchEvent::Status {
                model: "mini".into(),
                batch: "batch_abc".into(),
                status: "in_progress".into(),
                done: 80,
                total: 1200,
                errored: 2,
            },
            BatchEvent::Collected {
                model: "mini".into(),
                batch: "batch_\u{1b}[31mabc".into(),
                status: "completed".into(),
                answered: 118,
                errored: 2,
            },
        ]
        .iter()
        .map(batch_line)
        .collect();
        assert_eq!(
            lines[..3],
            [
                "evalgate: model `mini`: submitted 120 calls as batch batch_abc",
                "evalgate: model `mini`: waiting again for batch batch_abc (1 call), submitted by an earlier attempt",
                "evalgate: batch batch_abc (model `mini`): in_progress, 80 of 1,200 requests done, 2 without an answer",
            ]
        );
        assert!(!lines[3].contains('\u{1b}'), "{}", lines[3]);
        assert!(lines[3].ends_with("completed: 118 answers saved, 2 without an answer"));
    }

    #[test]
    fn without_a_terminal_there_is_no_bar() {
        for mode in [ProgressMode::Lines, ProgressMode::Off] {
            let mut progress = Progress::new(mode);
            progress.start_drawing_to(2, ProgressDrawTarget::hidden());
            progress.on_event(ExecEvent::CallDone {
                outcome: CallOutcome::Passed,
                cached: false,
            });
            assert!(progress.bar.is_none());
            assert_eq!(progress.tally.done(), 1);
        }
    }
}
