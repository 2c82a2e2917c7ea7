//! The SQLite store's write-ahead log copied into the database by a thread of its own, so recording a backlog never waits for the copy.

use super::*;

/// How often the checkpoint thread copies SQLite's write-ahead log into the database.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// Copies the SQLite store's write-ahead log into the database on a thread of its own
/// (its own connection), so the recorder's commits never stop to do it: on a backlog that
/// was nearly half of a commit's time. Without the thread, the recorder does it itself.
pub(super) fn spawn_checkpointer(
    config: &Config,
    store: &SharedStore,
    shutdown: watch::Receiver<bool>,
) {
    if config.store.kind != crate::config::StoreKind::Sqlite {
        return;
    }
    let mut own = match crate::store::open(&config.store, None, false) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no checkpoint thread ({e}): the recorder copies the log itself");
            return;
        }
    };
    let started = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            while !*shutdown.borrow() {
                match own.checkpoint() {
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        tracing::warn!(
                            "copying the state store's log into it: {e}; tried again shortly"
                        );
                        failing = true;
                    }
                    Err(_) => {}
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        });
    match started {
        Ok(_) => {
            if let Err(e) = lock(store).leave_checkpoints() {
                tracing::warn!("the recorder goes on copying the log itself: {e}");
            }
        }
        Err(e) => tracing::warn!("no checkpoint thread ({e}): the recorder copies the log itself"),
    }
}
