//! The signals that stop a run: SIGINT (Ctrl-C) and SIGTERM (`docker stop`, a cancelled CI job,
//! Kubernetes). Both stop the run the same way; the journal keeps every answer received.
//!
//! The handlers are explicit rather than left to the default action: as PID 1 in a container (an
//! exec-form entrypoint, as in the project's Dockerfile) a process gets no default action for
//! SIGTERM or SIGINT, and the signal would be ignored until the runtime gave up and sent SIGKILL.

use tokio::signal::unix::{SignalKind, signal};

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

/// Listens for SIGINT and SIGTERM from the moment it is made: make it before the first call
/// starts, so a signal that arrives while a call is in flight is always handled.
#[derive(Debug)]
pub(super) struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Must be called inside the runtime.
    pub fn listen() -> Self {
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(
                    "cannot handle {name}: {e}; it will end the run without the resume hint (the journal is kept)"
                );
                None
            }
        };
        Signals {
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            () = next(self.interrupt.as_mut()) => Signal::Interrupt,
            () = next(self.terminate.as_mut()) => Signal::Terminate,
        }
    }
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
