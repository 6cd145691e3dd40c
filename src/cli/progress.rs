//! Progress of a run on stderr, drawn from the executor's events: a bar on a terminal, a line
//! every few seconds otherwise (CI logs are files, and a redrawn bar would fill them with noise).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};

use crate::execute::ExecEvent;

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
    done: u64,
    errored: u64,
    started: Instant,
    last_line: Instant,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// A display that shows nothing until a run starts.
    pub fn new(mode: ProgressMode) -> Self {
        let now = Instant::now();
        Progress {
            mode,
            bar: None,
            total: 0,
            done: 0,
            errored: 0,
            started: now,
            last_line: now,
        }
    }

    fn start(&mut self, total: u64) {
        self.finish();
        self.bar = (self.mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} calls {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        self.total = total;
        self.done = 0;
        self.errored = 0;
        self.started = now;
        self.last_line = now;
    }

    pub fn on_event(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::Started { calls } => self.start(calls),
            ExecEvent::CallDone { errored } => self.record(errored),
            ExecEvent::Finished => self.finish(),
        }
    }

    fn record(&mut self, errored: bool) {
        self.done += 1;
        self.errored += u64::from(errored);
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if errored {
                        bar.set_message(format!("({} errored)", self.errored));
                    }
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
            self.done,
            self.total,
            self.errored,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
