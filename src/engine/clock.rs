//! The time a pass judges at: the host's clock, but never earlier than the latest entry
//! in the audit trail. A clock stepped back (a bad NTP source, a VM restored from a
//! snapshot, a hand-set date) would otherwise undo what was done: a leaver disabled at
//! 00:30 on the day after their last day would be enabled again by a pass whose clock
//! says 23:45 the evening before. Judging as of the latest entry keeps every decision
//! once made, and the warning says why. `--today` given by hand is taken as asked.

use crate::store::{Store, StoreError};
use jiff::Timestamp;

/// `now`, or the latest entry's time when the trail is ahead of it.
pub fn steady(store: &dyn Store, now: Timestamp) -> Result<Timestamp, StoreError> {
    match store.latest_entry_at()? {
        Some(latest) if latest > now => {
            tracing::warn!(
                clock = %now,
                latest = %latest,
                "the host's clock is behind the latest audit entry (stepped back?): judging as of that entry so nothing already done is undone; check the host's time source"
            );
            Ok(latest)
        }
        _ => Ok(now),
    }
}
