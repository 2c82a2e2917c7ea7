//! [`Held`](crate::store::Held) over the SQL layer: plans held by the mass-change guard.

use super::*;

impl<D: Db + 'static> crate::store::Held for SqlStore<D> {
    fn hold_plan(
        &mut self,
        system: &str,
        reason: &str,
        changes: &[crate::plan::Change],
        mut draft: Draft,
    ) -> Result<HeldPlan, StoreError> {
        let people: std::collections::BTreeSet<&str> =
            changes.iter().map(|c| c.employee_number.as_str()).collect();
        self.write(|db, key| {
            let id = one(
                db,
                "INSERT INTO held_plan (system, created_at, reason, people, changes, status) VALUES (?1, ?2, ?3, ?4, ?5, 'held') RETURNING id",
                p![
                    system,
                    draft.at.to_string(),
                    reason,
                    people.len() as i64,
                    changes.len() as i64
                ],
            )?
            .ok_or_else(|| StoreError::Database("a new held plan was given no id".into()))?
            .int(0)?;
            for (ord, change) in changes.iter().enumerate() {
                let json = encode(&change.employee_number, change)?;
                db.execute(
                    "INSERT INTO held_change (plan_id, ord, employee_number, change_json) VALUES (?1, ?2, ?3, ?4)",
                    p![id, ord as i64, change.employee_number.as_str(), json],
                )?;
            }
            for person in &people {
                db.execute(HOLD_PENDING, p![id, *person])?;
            }
            draft.reason = format!("HP-{id:06}: {}", draft.reason);
            append(db, key, vec![draft])?;
            held_plan_row(db, id)?.ok_or(StoreError::Refused(crate::store::Refusal::NoSuchPlan(id as u64)))
        })
    }

    fn wait_behind(&mut self, id: u64, employee_numbers: &[String]) -> Result<(), StoreError> {
        self.write(|db, _| {
            for person in employee_numbers {
                db.execute(HOLD_PENDING, p![id as i64, person])?;
            }
            Ok(())
        })
    }

    fn held_plans(&self, status: Option<HeldStatus>) -> Result<Vec<HeldPlan>, StoreError> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {HELD_PLAN_COLUMNS} FROM held_plan WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) ORDER BY id"
                ),
                p![status.map(HeldStatus::as_str)],
            )?
            .iter()
            .map(read_held_plan)
            .collect()
        })
    }

    fn held_plan(
        &self,
        id: u64,
    ) -> Result<Option<(HeldPlan, Vec<crate::plan::Change>)>, StoreError> {
        self.read(|db| {
            let Some(plan) = held_plan_row(db, id as i64)? else {
                return Ok(None);
            };
            let changes = db
                .query(
                    "SELECT change_json FROM held_change WHERE plan_id = ?1 ORDER BY ord",
                    p![id as i64],
                )?
                .iter()
                .map(|r| {
                    serde_json::from_str(&r.text(0)?).map_err(|e| StoreError::Corrupt {
                        key: plan.reference(),
                        detail: e.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Some((plan, changes)))
        })
    }

    fn decide_held_plan(
        &mut self,
        id: u64,
        status: HeldStatus,
        by: &str,
        at: Timestamp,
        note: Option<&str>,
        release: &[(String, Option<Timestamp>)],
        drafts: Vec<Draft>,
    ) -> Result<HeldPlan, StoreError> {
        self.write(|db, key| {
            let plan_id = id as i64;
            held_plan_row(db, plan_id)?
                .ok_or(StoreError::Refused(crate::store::Refusal::NoSuchPlan(id)))?
                .undecided()?;
            db.execute(
                "UPDATE held_plan SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5 WHERE id = ?1",
                p![plan_id, status.as_str(), by, at.to_string(), note],
            )?;
            for (person, due) in release {
                match due {
                    Some(due) => db.execute(
                        "UPDATE pending SET held_by = NULL, due_us = ?2, attempts = 0, last_error = NULL, next_try_us = 0,
                             claimed_by = NULL, claimed_until_us = 0
                         WHERE employee_number = ?1 AND held_by = ?3",
                        p![person, micros(*due), plan_id],
                    )?,
                    None => db.execute(
                        "DELETE FROM pending WHERE employee_number = ?1 AND held_by = ?2",
                        p![person, plan_id],
                    )?,
                };
            }
            // Anyone else who waited behind it is looked at afresh at once.
            db.execute(
                "UPDATE pending SET held_by = NULL, due_us = 0, attempts = 0, last_error = NULL, next_try_us = 0,
                     claimed_by = NULL, claimed_until_us = 0 WHERE held_by = ?1",
                p![plan_id],
            )?;
            append(db, key, drafts)?;
            held_plan_row(db, plan_id)?.ok_or(StoreError::Refused(crate::store::Refusal::NoSuchPlan(id)))
        })
    }
}
