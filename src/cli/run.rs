//! `turnstile run`: the daemon started, and stopped cleanly on SIGTERM or SIGINT.

use super::*;

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    pub(super) policy: Option<PathBuf>,
}
pub(super) fn run_cmd(config: &Config, a: RunArgs) -> Result<u8, Failure> {
    use crate::daemon::{self, SharedStore};
    use std::sync::{Arc, Mutex};
    let runtime = runtime(tokio::runtime::Builder::new_multi_thread().worker_threads(2))?;
    // Listen for SIGTERM and SIGINT before anything else: a stop asked while the daemon is
    // still starting is a clean stop, never the signal's default (an abrupt death).
    let signals = {
        let _inside = runtime.enter();
        Signals::listen()
    };
    let model = Arc::new(load_model(config, a.policy.as_deref())?);
    let store: SharedStore = Arc::new(Mutex::new(open_store(config)?));
    let limit = std::time::Duration::from_secs(config.daemon.shutdown_timeout_secs.max(1));
    let result = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(stop_on_signal(signals, tx, limit));
        daemon::run(config, model, store, rx).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(_) => Ok(0),
        Err(e @ (daemon::DaemonError::Config(_) | daemon::DaemonError::Listen { .. })) => {
            Err(Failure::Usage(e.to_string()))
        }
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}
/// The stop signals, listened for from the moment they are made.
pub(super) struct Signals {
    pub(super) term: Option<tokio::signal::unix::Signal>,
    pub(super) int: Option<tokio::signal::unix::Signal>,
}
impl Signals {
    /// Installs the handlers now (inside a runtime), so a signal from here on is caught.
    fn listen() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let open = |kind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(
                    "cannot listen for {name}: {e}; stop the daemon with the other signal"
                );
                None
            }
        };
        Signals {
            term: open(SignalKind::terminate(), "SIGTERM"),
            int: open(SignalKind::interrupt(), "SIGINT"),
        }
    }
}
/// Waits for a signal, or forever without a handler.
pub(super) async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
/// SIGTERM (Kubernetes) or SIGINT asks the daemon to stop; if it has not stopped a little
/// after `limit`, the process exits with 1 (nothing is lost: uncommitted events are read
/// again after the restart and change nothing).
pub(super) async fn stop_on_signal(
    mut signals: Signals,
    tx: tokio::sync::watch::Sender<bool>,
    limit: std::time::Duration,
) {
    tokio::select! {
        _ = next(&mut signals.term) => tracing::info!("SIGTERM: finishing the event in hand, committing, stopping"),
        _ = next(&mut signals.int) => tracing::info!("SIGINT: finishing the event in hand, committing, stopping"),
    }
    let _ = tx.send(true);
    tokio::time::sleep(limit + std::time::Duration::from_secs(5)).await;
    eprintln!(
        "error: the daemon did not stop within {}s of the signal; exiting (uncommitted events are read again after restart and change nothing)",
        limit.as_secs()
    );
    std::process::exit(1);
}
