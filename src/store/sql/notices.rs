//! [`Notices`](crate::store::Notices) over the SQL layer: inactivity notices and dormancy.

use super::*;

impl<D: Db + 'static> crate::store::Notices for SqlStore<D> {
    fn dormancy(
        &self,
        system: &str,
    ) -> Result<std::collections::BTreeMap<String, Dormancy>, StoreError> {
        let rows = self.read(|db| {
            db.query(
                "SELECT account, employee_number, notified_on, disabled_on FROM dormancy WHERE system = ?1",
                p![system],
            )
        })?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            let (account, employee_number, notified, disabled) =
                (r.text(0)?, r.text(1)?, r.text(2)?, r.opt_text(3)?);
            let day = |t: &str| {
                t.parse::<jiff::civil::Date>()
                    .map_err(|e| StoreError::Corrupt {
                        key: format!("dormancy {system}/{account}"),
                        detail: e.to_string(),
                    })
            };
            let record = crate::inactivity::Record {
                notified_on: day(&notified)?,
                disabled_on: disabled.as_deref().map(day).transpose()?,
            };
            out.insert(
                account.to_lowercase(),
                Dormancy {
                    system: system.to_string(),
                    account,
                    employee_number,
                    record,
                },
            );
        }
        Ok(out)
    }

    fn record_notices(
        &mut self,
        notices: &[(String, String, String)],
        on: jiff::civil::Date,
        drafts: Vec<Draft>,
    ) -> Result<(), StoreError> {
        self.write(|db, key| {
            for (system, account, employee) in notices {
                db.execute(
                    "INSERT INTO dormancy (system, account, employee_number, notified_on) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (system, account) DO UPDATE SET notified_on = excluded.notified_on, disabled_on = NULL",
                    p![system, account, employee, on.to_string()],
                )?;
            }
            append(db, key, drafts)?;
            Ok(())
        })
    }

    fn dormancy_disabled(
        &mut self,
        system: &str,
        account: &str,
        on: jiff::civil::Date,
    ) -> Result<(), StoreError> {
        self.write(|db, _| {
            db.execute(
                "UPDATE dormancy SET disabled_on = ?3 WHERE system = ?1 AND lower(account) = lower(?2)",
                p![system, account, on.to_string()],
            )?;
            Ok(())
        })
    }

    fn clear_dormancy(
        &mut self,
        system: &str,
        account: &str,
        draft: Option<Draft>,
    ) -> Result<bool, StoreError> {
        self.write(|db, key| {
            let n = db.execute(
                "DELETE FROM dormancy WHERE system = ?1 AND lower(account) = lower(?2)",
                p![system, account],
            )?;
            if n > 0 {
                append(db, key, draft.into_iter().collect())?;
            }
            Ok(n > 0)
        })
    }
}
