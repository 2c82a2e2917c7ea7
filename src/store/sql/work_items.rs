//! [`WorkItems`](crate::store::WorkItems) over the SQL layer: work items raised, sent, settled.

use super::*;

impl<D: Db + 'static> crate::store::WorkItems for SqlStore<D> {
    fn open_work_item(&self, key: &WorkItemKey) -> Result<Option<WorkItem>, StoreError> {
        self.read(|db| {
            one(
                db,
                &format!(
                    "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE system = ?1 AND employee_number = ?2 AND (account = ?3 OR account = '') AND action = ?4 AND status IN ('open', 'reopened', 'overdue') ORDER BY account = ?3 DESC, id DESC LIMIT 1"
                ),
                p![
                    key.system.as_str(),
                    key.employee_number.as_str(),
                    key.account.as_deref().unwrap_or(""),
                    key.action.as_str()
                ],
            )?
            .as_ref()
            .map(read_work_item)
            .transpose()
        })
    }

    fn raise_work_item(
        &mut self,
        change: &crate::plan::Change,
        detail: &str,
        due_at: Timestamp,
        mut draft: Draft,
    ) -> Result<WorkItem, StoreError> {
        let key = WorkItemKey::of(change);
        let change_json = encode(
            &format!("work item {}/{}", key.system, key.employee_number),
            change,
        )?;
        self.write(|db, audit_key| {
            let account = key.account.as_deref().unwrap_or("");
            // An item raised for an account still to be created (no name) is the same
            // change as one for the account that was then created.
            let last = one(
                db,
                "SELECT id, status FROM work_item WHERE system = ?1 AND employee_number = ?2 AND (account = ?3 OR account = '') AND action = ?4 ORDER BY account = ?3 DESC, id DESC LIMIT 1",
                p![key.system.as_str(), key.employee_number.as_str(), account, key.action.as_str()],
            )?
            .map(|r| Ok::<_, StoreError>((r.int(0)?, r.text(1)?)))
            .transpose()?;
            let at = draft.at.to_string();
            let due = due_at.to_string();
            let (id, how) = match last {
                Some((id, status))
                    if WorkItemStatus::parse(&status).is_some_and(WorkItemStatus::is_active) =>
                {
                    (id, "still open")
                }
                Some((id, status)) if status == WorkItemStatus::Confirmed.as_str() => {
                    // Sent again as if new: the administrator has to act on it again.
                    db.execute(
                        "UPDATE work_item SET status = 'reopened', detail = ?2, closed_at = NULL, due_at = ?3, due_us = ?4, change_json = ?5,
                         delivered_at = NULL, emailed_at = NULL, escalated_at = NULL, last_error = NULL, account = ?6 WHERE id = ?1",
                        p![id, detail, due.as_str(), micros(due_at), change_json.as_str(), account],
                    )?;
                    (id, "reopened: the export shows the change undone")
                }
                _ => {
                    let id = one(
                        db,
                        "INSERT INTO work_item (system, employee_number, account, action, detail, status, raised_at, due_at, due_us, change_json)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9) RETURNING id",
                        p![
                            key.system.as_str(),
                            key.employee_number.as_str(),
                            account,
                            key.action.as_str(),
                            detail,
                            at,
                            due.as_str(),
                            micros(due_at),
                            change_json.as_str()
                        ],
                    )?
                    .ok_or_else(|| StoreError::Database("a new work item was given no id".into()))?
                    .int(0)?;
                    (id, "raised")
                }
            };
            draft.reason = format!("WI-{id:06} {how}: {}", draft.reason);
            append(db, audit_key, vec![draft])?;
            work_item(db, id)
        })
    }

    fn settle_work_items(
        &mut self,
        settled: &[Settled],
        at: Timestamp,
        actor: &str,
    ) -> Result<Vec<WorkItem>, StoreError> {
        self.write(|db, key| {
            let mut out = Vec::new();
            let mut drafts = Vec::new();
            for s in settled {
                let status = match s.how {
                    Settle::Confirmed => WorkItemStatus::Confirmed,
                    Settle::Cancelled => WorkItemStatus::Cancelled,
                };
                let n = db.execute(
                    "UPDATE work_item SET status = ?2, closed_at = ?3 WHERE id = ?1 AND status IN ('open', 'reopened', 'overdue')",
                    p![s.id as i64, status.as_str(), at.to_string()],
                )?;
                if n == 0 {
                    continue;
                }
                let item = work_item(db, s.id as i64)?;
                drafts.push(Draft {
                    at,
                    actor: actor.to_string(),
                    employee_number: Some(item.employee_number.clone()),
                    system: Some(item.system.clone()),
                    account: item.account.clone(),
                    action: match s.how {
                        Settle::Confirmed => audit::Action::WorkItemConfirmed,
                        Settle::Cancelled => audit::Action::WorkItemCancelled,
                    }
                    .to_string(),
                    outcome: audit::Outcome::Closed.to_string(),
                    rule: None,
                    event_id: None,
                    reason: format!("{}: {}: {}", item.reference(), item.action, s.reason),
                });
                out.push(item);
            }
            append(db, key, drafts)?;
            Ok(out)
        })
    }

    fn mark_overdue(&mut self, now: Timestamp, actor: &str) -> Result<Vec<WorkItem>, StoreError> {
        self.write(|db, key| {
            let due: Vec<WorkItem> = db
                .query(
                    &format!(
                        "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE status IN ('open', 'reopened') AND due_us <= ?1 ORDER BY id"
                    ),
                    p![micros(now)],
                )?
                .iter()
                .map(read_work_item)
                .collect::<Result<_, _>>()?;
            let mut drafts = Vec::new();
            let mut out = Vec::new();
            for mut item in due {
                if !turnstile_core::work::is_overdue(item.status, item.due_at, now) {
                    continue;
                }
                db.execute(
                    "UPDATE work_item SET status = 'overdue' WHERE id = ?1",
                    p![item.id as i64],
                )?;
                drafts.push(Draft {
                    at: now,
                    actor: actor.to_string(),
                    employee_number: Some(item.employee_number.clone()),
                    system: Some(item.system.clone()),
                    account: item.account.clone(),
                    action: audit::Action::WorkItemOverdue.to_string(),
                    outcome: audit::Outcome::Held.to_string(),
                    rule: None,
                    event_id: None,
                    reason: format!(
                        "{}: {}: not shown done by the system's export since {} (due {}); escalated",
                        item.reference(),
                        item.action,
                        item.raised_at,
                        item.due_at
                    ),
                });
                item.status = WorkItemStatus::Overdue;
                out.push(item);
            }
            append(db, key, drafts)?;
            Ok(out)
        })
    }

    fn work_items_to_send(&self, channel: Channel) -> Result<Vec<WorkItem>, StoreError> {
        let filter = match channel {
            Channel::Webhook => {
                "status IN ('open', 'reopened', 'overdue') AND delivered_at IS NULL"
            }
            Channel::Email => "status IN ('open', 'reopened', 'overdue') AND emailed_at IS NULL",
            Channel::Escalation => "status = 'overdue' AND escalated_at IS NULL",
        };
        self.read(|db| {
            db.query(
                &format!("SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE {filter} ORDER BY id"),
                &[],
            )?
            .iter()
            .map(read_work_item)
            .collect()
        })
    }

    fn work_item_sent(
        &mut self,
        id: u64,
        channel: Channel,
        result: Result<(), &str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let column = match channel {
            Channel::Webhook => "delivered_at",
            Channel::Email => "emailed_at",
            Channel::Escalation => "escalated_at",
        };
        self.write(|db, _| {
            match result {
                Ok(()) => db.execute(
                    &format!("UPDATE work_item SET attempts = attempts + 1, {column} = ?2, last_error = NULL WHERE id = ?1"),
                    p![id as i64, at.to_string()],
                )?,
                Err(e) => db.execute(
                    "UPDATE work_item SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    p![id as i64, e],
                )?,
            };
            Ok(())
        })
    }

    fn work_items(
        &self,
        system: Option<&str>,
        status: Option<WorkItemStatus>,
    ) -> Result<Vec<WorkItem>, StoreError> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE (CAST(?1 AS TEXT) IS NULL OR system = ?1) AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) ORDER BY id"
                ),
                p![system, status.map(WorkItemStatus::as_str)],
            )?
            .iter()
            .map(read_work_item)
            .collect()
        })
    }
}
