//! `drift`'s inputs read by one worker per core, each export linked to the people as soon
//! as both it and the extract are read.
//!
//! At national scale the reads of six files of unequal size never end together: one core
//! read the last export alone for over a second, and then indexing the people by
//! employee number ran alone again before any linking began. Here the thread that reads
//! the extract indexes the people while the exports are still being read, and a worker
//! with no file left to read links the exports already read. What each read gave is
//! still looked at in the order given (`drift_cmd`), so errors and the report are as if
//! read in turn.

use super::{Failure, hash_failed, sha256_file};
use crate::config::Config;
use crate::drift::{self, Held, LinkedSystem, SystemAccounts};
use crate::feed::{FeedError, Limits, Table, esr, export, sponsored};
use crate::policy::RoleModel;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// What reading a file gave, and its SHA-256 worked out from the same reading.
pub(super) type Hashed<T> = (Result<T, FeedError>, Result<String, Failure>);

/// The HR side of a drift run.
pub(super) struct HrRead {
    /// The extract; once it gave people, the sponsored identities are among them too,
    /// after the extract's own.
    pub extract: Hashed<esr::Extract>,
    /// How many people the extract itself gave.
    pub esr_people: usize,
    /// The sponsored file, read once the extract gave people (`None`: none was given,
    /// or the extract gave nobody). Its people are moved to the extract's.
    pub sponsored: Option<Result<sponsored::Sponsored, FeedError>>,
    /// The sponsored identities, as the report lists them.
    pub sponsored_ids: Vec<drift::SponsoredIdentity>,
}

/// Every export given, as its read left it (`None`: never read, as the HR side gave
/// nobody to link to).
pub(super) type ExportSlots = [OnceLock<Hashed<export::Export<Held>>>];

/// The people and each export linked to them, in the order given (`None` for an export
/// whose read failed). `None` when the HR side gave nobody to judge.
pub(super) type Linked<'s> = Option<(drift::People<'s>, Vec<Option<LinkedSystem<'s>>>)>;

/// Reads the extract (and the sponsored file) on this thread and the exports, largest
/// first, on one worker per core beside it (at least one, so an export never waits for
/// the extract); links each export as soon as it and the people are ready. The reads are
/// left in `hr_slot` and `slots` (one per export, in the order given).
#[allow(clippy::too_many_arguments)]
pub(super) fn read_and_link<'s>(
    hr: &Path,
    sponsored_file: Option<&Path>,
    exports: &'s [(String, PathBuf)],
    config: &Config,
    tz: &jiff::tz::TimeZone,
    limits: &Limits,
    model: &'s RoleModel,
    hr_slot: &'s OnceLock<HrRead>,
    slots: &'s ExportSlots,
) -> Linked<'s> {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut jobs: Vec<usize> = (0..exports.len()).collect();
    jobs.sort_by_key(|i| std::cmp::Reverse(size(&exports[*i].1)));
    let next = AtomicUsize::new(0);
    // Set once the HR side is read: the people to link to, or `None` when there is
    // nobody (the run ends on that error, so exports not yet read are left).
    let people: OnceLock<Option<drift::People<'s>>> = OnceLock::new();
    // Exports read and not yet linked; workers wait on `ready` for the people.
    let waiting: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let ready = Condvar::new();
    let linked: Mutex<Vec<Option<LinkedSystem<'s>>>> =
        Mutex::new(exports.iter().map(|_| None).collect());
    let link = |i: usize, people: &drift::People<'s>| {
        let (Some((system, _)), Some((Ok(x), _))) =
            (exports.get(i), slots.get(i).and_then(OnceLock::get))
        else {
            return;
        };
        let accounts = SystemAccounts {
            system,
            accounts: &x.accounts,
            has_last_logon: x.has_last_logon,
        };
        let made = people.link(model, &accounts);
        if let Some(slot) = linked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(i)
        {
            *slot = made;
        }
    };
    let work = || {
        loop {
            // A file to read comes first: linking waits for the people anyway.
            if people.get().is_none_or(Option::is_some)
                && let Some(&i) = jobs.get(next.fetch_add(1, Ordering::Relaxed))
            {
                if let (Some((system, file)), Some(slot)) = (exports.get(i), slots.get(i)) {
                    let columns = config.exports.get(system).cloned().unwrap_or_default();
                    let _ = slot.set(read_hashed(file, limits, |table| {
                        export::read_table::<Held>(system, table, &columns, tz, limits)
                    }));
                }
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(i);
                continue;
            }
            // Nothing left to read: link what has been read once the people are ready.
            let mut queue = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let (i, p) = loop {
                match people.get() {
                    None => {
                        queue = ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
                    }
                    Some(None) => return,
                    Some(Some(p)) => match queue.pop() {
                        Some(i) => break (i, p),
                        // Any read still going on is linked by the worker reading it.
                        None => return,
                    },
                }
            };
            drop(queue);
            link(i, p);
        }
    };
    let cores = crate::workers();
    let others = if exports.is_empty() {
        0
    } else {
        cores.min(exports.len()).saturating_sub(1).max(1)
    };
    // Tells the workers the people are set (or that there are none): under the lock, so
    // that no worker is between seeing no people and waiting. Also on the way out of a
    // panic on this thread, which would otherwise leave them waiting for ever.
    struct Tell<'t, 's>(
        &'t OnceLock<Option<drift::People<'s>>>,
        &'t Mutex<Vec<usize>>,
        &'t Condvar,
    );
    impl Drop for Tell<'_, '_> {
        fn drop(&mut self) {
            let _ = self.0.set(None);
            drop(self.1.lock().unwrap_or_else(PoisonError::into_inner));
            self.2.notify_all();
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..others).map(|_| scope.spawn(work)).collect();
        let tell = Tell(&people, &waiting, &ready);
        let hr = hr_slot.get_or_init(|| read_hr(hr, sponsored_file, limits));
        let found = match &hr.extract.0 {
            Ok(x) if hr.esr_people > 0 && !matches!(hr.sponsored, Some(Err(_))) => {
                Some(drift::People::new(&x.persons, &x.held_back))
            }
            _ => None,
        };
        let _ = people.set(found);
        drop(tell);
        work();
        for h in handles {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    });
    let people = people.into_inner().flatten()?;
    Some((
        people,
        linked.into_inner().unwrap_or_else(PoisonError::into_inner),
    ))
}

/// The extract, then (when it gave people) the sponsored file, its people moved in
/// after the extract's.
fn read_hr(hr: &Path, sponsored_file: Option<&Path>, limits: &Limits) -> HrRead {
    let mut extract = read_hashed(hr, limits, |table| esr::read_table(table, limits));
    let esr_people = extract.0.as_ref().map_or(0, |x| x.persons.len());
    let mut sponsored_ids = Vec::new();
    let sponsored = match (&mut extract.0, sponsored_file) {
        (Ok(x), Some(file)) if esr_people > 0 => {
            let mut read = sponsored::read(file, limits);
            if let Ok(s) = &mut read {
                for p in &s.persons {
                    sponsored_ids.push(drift::SponsoredIdentity {
                        employee_number: p.employee_number.to_string(),
                        sponsor: p.line_manager.as_ref().map(|m| m.to_string()),
                        ends: p.last_working_day(),
                    });
                }
                x.persons.append(&mut s.persons);
            }
            Some(read)
        }
        _ => None,
    };
    HrRead {
        extract,
        esr_people,
        sponsored,
        sponsored_ids,
    }
}

/// What `read` makes of the CSV file at `path`, with the file's SHA-256 worked out from
/// the same reading.
fn read_hashed<T>(
    path: &Path,
    limits: &Limits,
    read: impl FnOnce(&mut Table) -> Result<T, FeedError>,
) -> Hashed<T> {
    match Table::open_hashed(path, limits) {
        Ok((mut table, digest)) => {
            let made = read(&mut table);
            drop(table);
            (made, digest.finish().map_err(|e| hash_failed(path, e)))
        }
        Err(e) => (Err(e), sha256_file(path)),
    }
}
