//! The signals that stop a run: SIGINT (Ctrl-C) and SIGTERM (`docker stop`, a cancelled CI job,
//! Kubernetes). Both stop the run the same way; the journal keeps every answer received.
//!
//! The handlers are explicit rather than left to the default action: as PID 1 in a container (an
//! exec-form entrypoint, as in the project's Dockerfile) a process gets no default action for
//! SIGTERM or SIGINT, and the signal would be ignored until the runtime gave up and sent SIGKILL.
//! They are process-wide, on a thread of their own, so that `evalgate ci` can stop at any stage
//! (a `git fetch`, the base branch's re-run, a call to GitHub) and still say why on the pull
//! request.

use std::sync::{Once, OnceLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

/// A signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: asked to stop by a supervisor.
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

static RECEIVED: OnceLock<Signal> = OnceLock::new();
static ARRIVED: Notify = Notify::const_new();
static WATCHING: Once = Once::new();

/// Listens for SIGINT and SIGTERM for the rest of the process, on a thread of its own: from then
/// on a signal is recorded (see [`received`], [`stopped`]) whatever the process is doing, a run
/// or a `git fetch` or a call to GitHub's API. Call it before the work a signal must stop; calls
/// after the first do nothing.
pub fn watch() {
    WATCHING.call_once(|| {
        let (ready, listening) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("evalgate-signals".into())
            .spawn(move || listen(ready));
        match spawned {
            // Returns once the handlers are in place, so a signal sent right after is ours.
            Ok(_) => {
                let _ = listening.recv();
            }
            Err(e) => tracing::warn!(
                "cannot handle SIGINT or SIGTERM: {e}; they will end the run without the resume hint (the journal is kept)"
            ),
        }
    });
}

/// The first signal received since [`watch`], if any.
pub fn received() -> Option<Signal> {
    RECEIVED.get().copied()
}

/// Resolves with the first signal once one has been received (at once if one already was).
pub async fn stopped() -> Signal {
    loop {
        let arrived = ARRIVED.notified();
        if let Some(signal) = received() {
            return signal;
        }
        arrived.await;
    }
}

fn listen(ready: std::sync::mpsc::Sender<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!("cannot handle SIGINT or SIGTERM: {e}");
            let _ = ready.send(());
            return;
        }
    };
    runtime.block_on(async move {
        let handler = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(
                    "cannot handle {name}: {e}; it will end the run without the resume hint (the journal is kept)"
                );
                None
            }
        };
        let mut interrupt = handler(SignalKind::interrupt(), "SIGINT");
        let mut terminate = handler(SignalKind::terminate(), "SIGTERM");
        let _ = ready.send(());
        loop {
            let signal = tokio::select! {
                () = next(interrupt.as_mut()) => Signal::Interrupt,
                () = next(terminate.as_mut()) => Signal::Terminate,
            };
            let _ = RECEIVED.set(signal);
            ARRIVED.notify_waiters();
        }
    });
}

/// Resolves when `stream` receives a signal; never without one.
async fn next(stream: Option<&mut tokio::signal::unix::Signal>) {
    if let Some(s) = stream
        && s.recv().await.is_some()
    {
        return;
    }
    std::future::pending().await
}
