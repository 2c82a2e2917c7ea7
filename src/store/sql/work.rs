//! [`Work`](crate::store::Work) over the SQL layer: pending work, claims and leases.

use super::*;

impl<D: Db + 'static> crate::store::Work for SqlStore<D> {
    fn due_pending(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let owner = self.owner.clone();
        let until = micros(now.saturating_add(owner.claim).unwrap_or(now));
        self.write(|db, _| {
            let due: Vec<Pending> = db
                .query(
                    &format!(
                        "SELECT {PENDING_COLUMNS} FROM pending WHERE {CLAIMABLE}
                         ORDER BY due_us, employee_number LIMIT ?2"
                    ),
                    p![micros(now), limit as i64, owner.name.as_str()],
                )?
                .iter()
                .map(read_pending)
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(due.len());
            for mut work in due {
                db.execute(
                    "UPDATE pending SET claimed_by = ?2, claimed_until_us = ?3 WHERE employee_number = ?1",
                    p![work.employee_number.as_str(), owner.name.as_str(), until],
                )?;
                work.claimed_by = Some(owner.name.clone());
                out.push(work);
            }
            Ok(out)
        })
    }

    fn renew_claim(&mut self, work: &Pending, now: Timestamp) -> Result<bool, StoreError> {
        let owner = self.owner.clone();
        let until = micros(now.saturating_add(owner.claim).unwrap_or(now));
        self.write(|db, _| {
            // Only while still ours: a claim that ran out is ours until someone takes it.
            let n = db.execute(
                "UPDATE pending SET claimed_until_us = ?3 WHERE employee_number = ?1 AND claimed_by = ?2",
                p![work.employee_number.as_str(), owner.name.as_str(), until],
            )?;
            if n > 0 {
                return Ok(true);
            }
            // Held by a plan in this very pass (holding lets go of claims, and held work is
            // nobody's to take): their other systems are still this pass's to bring in line.
            let held = db.query(
                "SELECT employee_number FROM pending WHERE employee_number = ?1 AND claimed_by IS NULL AND held_by IS NOT NULL",
                p![work.employee_number.as_str()],
            )?;
            Ok(!held.is_empty())
        })
    }

    fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        self.read(|db| {
            db.query(
                &format!("SELECT {PENDING_COLUMNS} FROM pending ORDER BY due_us, employee_number"),
                &[],
            )?
            .iter()
            .map(read_pending)
            .collect()
        })
    }

    fn settle_pending(
        &mut self,
        work: &Pending,
        next: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let owner = self.owner.name.clone();
        self.write(|db, _| {
            let (who, generation) = (work.employee_number.as_str(), work.generation as i64);
            match next {
                Some(at) => db.execute(
                    "UPDATE pending SET due_us = ?2, attempts = 0, last_error = NULL, next_try_us = 0, since_us = NULL
                     WHERE employee_number = ?1 AND generation = ?3 AND held_by IS NULL",
                    p![who, micros(at), generation],
                )?,
                None => db.execute(
                    "DELETE FROM pending WHERE employee_number = ?1 AND generation = ?2 AND held_by IS NULL",
                    p![who, generation],
                )?,
            };
            release(db, who, &owner)
        })
    }

    fn retry_pending(
        &mut self,
        work: &Pending,
        next_try: Timestamp,
        error: &str,
        counts: bool,
    ) -> Result<(), StoreError> {
        let owner = self.owner.name.clone();
        self.write(|db, _| {
            db.execute(
                "UPDATE pending SET attempts = attempts + ?4, last_error = ?2, next_try_us = ?3
                 WHERE employee_number = ?1 AND generation = ?5 AND held_by IS NULL",
                p![
                    work.employee_number.as_str(),
                    error,
                    micros(next_try),
                    i64::from(counts),
                    work.generation as i64
                ],
            )?;
            release(db, &work.employee_number, &owner)
        })
    }

    fn take_lease(
        &mut self,
        name: &str,
        now: Timestamp,
        ttl: jiff::SignedDuration,
    ) -> Result<bool, StoreError> {
        let owner = self.owner.name.clone();
        let until = micros(now.saturating_add(ttl).unwrap_or(now));
        self.write(|db, _| {
            // Taken when free, expired, or already ours (then renewed).
            let n = db.execute(
                "INSERT INTO lease (name, holder, expires_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us
                 WHERE lease.holder = excluded.holder OR lease.expires_us <= ?4",
                p![name, owner.as_str(), until, micros(now)],
            )?;
            Ok(n > 0)
        })
    }
}
