//! [`People`](crate::store::People) over the SQL layer: HR records recorded, read and linked.

use super::*;

impl<D: Db + 'static> crate::store::People for SqlStore<D> {
    fn record_ready(
        &mut self,
        events: &[Ready<'_>],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError> {
        self.write(|db, audit_key| {
            // Each person's record as stored, read for the whole batch at once; then the
            // newest record seen in the batch stands in for it.
            let keys: BTreeSet<&str> = events
                .iter()
                .map(|e| e.event.person.employee_number.as_str())
                .collect();
            let stored = stored_events(db, &keys.into_iter().collect::<Vec<_>>())?;
            let mut latest: HashMap<&str, &HrEvent> = HashMap::new();
            let mut outcomes = Vec::with_capacity(events.len());
            // What the batch writes, all at the end: the batch's audit entries in event
            // order, each person's last record, their pending work, the contents seen.
            let mut trail = Vec::new();
            let mut records: BTreeMap<&str, &Ready<'_>> = BTreeMap::new();
            let mut made_due: BTreeMap<&str, i64> = BTreeMap::new();
            let mut seen: Vec<(&str, &str)> = Vec::new();
            for (i, ready) in events.iter().enumerate() {
                let event = ready.event;
                let key = event.person.employee_number.as_str();
                let current = latest.get(key).copied().or_else(|| stored.get(key));
                let digest = ready.digest;
                // Only a tie needs to know whether this content was recorded before.
                let seen_before = match current {
                    Some(cur) if cur.ties(event) && cur.person != event.person => {
                        let id = event.event_id.as_str();
                        seen.iter().any(|(i, d)| *i == id && *d == digest)
                            || exists(
                                db,
                                "SELECT 1 FROM event_seen WHERE event_id = ?1 AND digest = ?2",
                                p![id, digest],
                            )?
                    }
                    _ => false,
                };
                let outcome = judge(current, event, seen_before);
                match &outcome {
                    Outcome::Applied { previous } => {
                        trail.extend(follow_up(i, event, previous.as_ref(), &event.person));
                        *made_due.entry(key).or_default() += 1;
                    }
                    Outcome::Unchanged => {}
                    Outcome::Duplicate | Outcome::Stale { .. } => {
                        outcomes.push(outcome);
                        continue;
                    }
                }
                latest.insert(key, event);
                records.insert(key, ready);
                seen.push((event.event_id.as_str(), digest));
                outcomes.push(outcome);
            }
            let mut values = Vec::new();
            for (key, ready) in &records {
                values.extend([
                    Value::from(*key),
                    Value::from(ready.json),
                    Value::from(ready.event.event_id.as_str()),
                    Value::from(ready.event.occurred_at.to_string()),
                ]);
            }
            insert_rows(
                db,
                "INSERT INTO person (employee_number, event_json, event_id, updated_at)",
                4,
                "ON CONFLICT (employee_number) DO UPDATE SET event_json = excluded.event_json,
                     event_id = excluded.event_id, updated_at = excluded.updated_at, review = NULL",
                &values,
            )?;
            // Their access is brought in line as soon as a daemon can. A claim on them
            // stays: the replica applying them now plans again. Each applied record
            // counts one generation (a new row starts at 0, as if recorded one by one).
            let now = micros(crate::now());
            values.clear();
            for (key, n) in &made_due {
                values.extend([
                    Value::from(*key),
                    Value::Int(0),
                    Value::Int(0),
                    Value::Int(0),
                    Value::from(now),
                    Value::from(n - 1),
                ]);
            }
            insert_rows(
                db,
                "INSERT INTO pending (employee_number, due_us, attempts, next_try_us, since_us, generation)",
                6,
                "ON CONFLICT (employee_number) DO UPDATE SET due_us = 0, attempts = 0, next_try_us = 0,
                     last_error = NULL, held_by = NULL, since_us = excluded.since_us,
                     generation = pending.generation + excluded.generation + 1",
                &values,
            )?;
            values.clear();
            for (id, digest) in &seen {
                values.extend([Value::from(*id), Value::from(*digest)]);
            }
            insert_rows(
                db,
                "INSERT INTO event_seen (event_id, digest)",
                2,
                "ON CONFLICT DO NOTHING",
                &values,
            )?;
            append(db, audit_key, trail)?;
            Ok(outcomes)
        })
    }

    fn person(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError> {
        self.read(|db| {
            one(
                db,
                "SELECT event_json, review FROM person WHERE employee_number = ?1",
                p![employee_number],
            )?
            .map(|r| {
                Ok(StoredPerson {
                    event: decode_event(employee_number, &r.text(0)?)?,
                    review: r.opt_text(1)?,
                })
            })
            .transpose()
        })
    }

    fn persons(&self) -> Result<Vec<StoredPerson>, StoreError> {
        self.read(|db| {
            // Decoded row by row: 100,000 records' JSON is never held beside the people.
            let mut out = Vec::new();
            db.query_each(
                "SELECT employee_number, event_json, review FROM person
                 WHERE employee_number NOT IN (SELECT provisional FROM starter_link) ORDER BY employee_number",
                &[],
                &mut |r| {
                    out.push(StoredPerson {
                        event: decode_event(&r.text(0)?, &r.text(1)?)?,
                        review: r.opt_text(2)?,
                    });
                    Ok(())
                },
            )?;
            Ok(out)
        })
    }

    fn flag_for_review(
        &mut self,
        employee_numbers: &[String],
        reason: &str,
        at: Timestamp,
        actor: &str,
    ) -> Result<usize, StoreError> {
        self.write(|db, audit_key| {
            let mut drafts = Vec::new();
            for n in employee_numbers {
                let changed = db.execute(
                    "UPDATE person SET review = ?2 WHERE employee_number = ?1 AND review IS NULL",
                    p![n, reason],
                )?;
                if changed > 0 {
                    drafts.push(Draft {
                        at,
                        actor: actor.to_string(),
                        employee_number: Some(n.clone()),
                        system: None,
                        account: None,
                        action: audit::Action::HrReview.to_string(),
                        outcome: audit::Outcome::Recorded.to_string(),
                        rule: None,
                        event_id: None,
                        reason: reason.to_string(),
                    });
                }
            }
            let flagged = drafts.len();
            append(db, audit_key, drafts)?;
            Ok(flagged)
        })
    }

    fn link_starter(
        &mut self,
        provisional: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError> {
        let at = draft.at.to_string();
        self.write(|db, key| {
            db.execute(
                "INSERT INTO starter_link (provisional, employee_number, linked_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (provisional) DO UPDATE SET employee_number = excluded.employee_number,
                     linked_at = excluded.linked_at",
                p![provisional, employee_number, at],
            )?;
            db.execute(
                "DELETE FROM pending WHERE employee_number = ?1",
                p![provisional],
            )?;
            // What was asked of administrators for the starter is asked for the ESR person:
            // the same items, never raised a second time under the new number.
            db.execute(
                "UPDATE work_item SET employee_number = ?2 WHERE employee_number = ?1 AND status IN ('open', 'reopened', 'overdue')",
                p![provisional, employee_number],
            )?;
            append(db, key, vec![draft])?;
            Ok(())
        })
    }

    fn starter_links(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        self.read(|db| {
            db.query("SELECT provisional, employee_number FROM starter_link", &[])?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect()
        })
    }

    fn provisional_starters(&self) -> Result<Vec<crate::hr::Person>, StoreError> {
        self.read(|db| {
            db.query(PROVISIONAL_STARTERS, &[])?
                .iter()
                .map(|r| Ok(decode_event(&r.text(0)?, &r.text(1)?)?.person))
                .collect()
        })
    }
}
