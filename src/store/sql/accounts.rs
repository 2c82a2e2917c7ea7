//! [`Accounts`](crate::store::Accounts) over the SQL layer: accounts as last read, and counts.

use super::*;

impl<D: Db + 'static> crate::store::Accounts for SqlStore<D> {
    fn accounts(&self, system: Option<&str>) -> Result<Vec<Account>, StoreError> {
        self.read(|db| {
            decode_accounts(db.query(
                "SELECT system, id, account_json FROM account WHERE CAST(?1 AS TEXT) IS NULL OR system = ?1 ORDER BY system, id",
                p![system],
            )?)
        })
    }

    fn accounts_of(&self, employee_number: &str) -> Result<Vec<Account>, StoreError> {
        self.read(|db| {
            decode_accounts(db.query(
                "SELECT system, id, account_json FROM account WHERE employee_number = ?1 ORDER BY system, id",
                p![employee_number],
            )?)
        })
    }

    fn accounts_of_people(
        &self,
        employee_numbers: &[&str],
    ) -> Result<BTreeMap<String, Vec<Account>>, StoreError> {
        let rows = self.read(|db| {
            query_in(
                db,
                "SELECT system, id, account_json, employee_number FROM account WHERE employee_number",
                "ORDER BY system, id",
                employee_numbers,
            )
        })?;
        let numbers: Vec<String> = rows.iter().map(|r| r.text(3)).collect::<Result<_, _>>()?;
        let mut out: BTreeMap<String, Vec<Account>> = BTreeMap::new();
        for (number, account) in numbers.into_iter().zip(decode_accounts(rows)?) {
            out.entry(number).or_default().push(account);
        }
        Ok(out)
    }

    fn replace_accounts(&mut self, system: &str, accounts: &[Account]) -> Result<(), StoreError> {
        self.write(|db, _| {
            db.execute("DELETE FROM account WHERE system = ?1", p![system])?;
            for a in accounts {
                let key = format!("{system}/{}", a.id);
                db.execute(
                    "INSERT INTO account (system, id, employee_number, account_json) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (system, id) DO UPDATE SET employee_number = excluded.employee_number,
                         account_json = excluded.account_json",
                    p![system, a.id.as_str(), a.employee_number.as_deref(), encode(&key, a)?],
                )?;
            }
            Ok(())
        })
    }

    fn access_taken_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError> {
        self.read(|db| {
            let n = one(
                db,
                "SELECT count(DISTINCT account) FROM audit WHERE at_us >= ?2 AND system = ?1 AND outcome = 'applied'
                 AND (action = 'change.disable' OR action = 'change.delete' OR action LIKE 'change.revoke %')",
                p![system, micros(since)],
            )?
            .map(|r| r.int(0))
            .transpose()?;
            Ok(n.unwrap_or(0) as usize)
        })
    }

    fn created_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError> {
        self.read(|db| {
            let n = one(
                db,
                "SELECT count(*) FROM audit WHERE at_us >= ?2 AND system = ?1 AND action = 'change.create'
                 AND (outcome = 'applied' OR outcome = 'work_item')",
                p![system, micros(since)],
            )?
            .map(|r| r.int(0))
            .transpose()?;
            Ok(n.unwrap_or(0) as usize)
        })
    }

    fn account_count(&self, system: &str) -> Result<usize, StoreError> {
        self.read(|db| {
            let n = one(
                db,
                "SELECT count(*) FROM account WHERE system = ?1",
                p![system],
            )?
            .map(|r| r.int(0))
            .transpose()?;
            Ok(n.unwrap_or(0) as usize)
        })
    }
}
