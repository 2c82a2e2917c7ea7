//! [`Reviews`] over the SQL layer: one implementation for SQLite and PostgreSQL.

use super::{Db, SqlStore, Value, one, time};
use crate::store::StoreError;
use crate::store::reviews::{IssuedLine, IssuedPack, Reviews};
use jiff::Timestamp;

impl<D: Db + 'static> Reviews for SqlStore<D> {
    fn issue_pack(&mut self, pack: &IssuedPack) -> Result<(), StoreError> {
        self.write(|db, _| {
            db.execute(
                "INSERT INTO review_pack (id, manager, issued_at, digest, lines) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET manager = excluded.manager, issued_at = excluded.issued_at,
                     digest = excluded.digest, lines = excluded.lines",
                p![
                    pack.id.as_str(),
                    pack.manager.as_str(),
                    pack.issued_at.to_string(),
                    pack.digest.as_str(),
                    pack.lines.len() as i64
                ],
            )?;
            db.execute("DELETE FROM review_line WHERE pack_id = ?1", p![pack.id.as_str()])?;
            for (ord, l) in pack.lines.iter().enumerate() {
                db.execute(
                    "INSERT INTO review_line (pack_id, ord, employee_number, system, account, entitlement) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    p![
                        pack.id.as_str(),
                        ord as i64,
                        l.employee_number.as_str(),
                        l.system.as_str(),
                        l.account.as_str(),
                        l.entitlement.as_deref()
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn issued_pack(&self, id: &str) -> Result<Option<IssuedPack>, StoreError> {
        self.read(|db| {
            let Some(row) = one(
                db,
                "SELECT id, manager, issued_at, digest FROM review_pack WHERE id = ?1",
                p![id],
            )?
            else {
                return Ok(None);
            };
            let lines = db
                .query(
                    "SELECT employee_number, system, account, entitlement FROM review_line WHERE pack_id = ?1 ORDER BY ord",
                    p![id],
                )?
                .iter()
                .map(|r| {
                    Ok(IssuedLine {
                        employee_number: r.text(0)?,
                        system: r.text(1)?,
                        account: r.text(2)?,
                        entitlement: r.opt_text(3)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Some(IssuedPack {
                id: row.text(0)?,
                manager: row.text(1)?,
                issued_at: time(row.opt_text(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
                digest: row.text(3)?,
                lines,
            }))
        })
    }
}
