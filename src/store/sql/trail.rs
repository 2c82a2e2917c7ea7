//! [`Trail`](crate::store::Trail) over the SQL layer: the audit trail appended, read, verified.

use super::*;

impl<D: Db + 'static> crate::store::Trail for SqlStore<D> {
    fn append_audit(&mut self, drafts: Vec<Draft>) -> Result<Vec<Entry>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|db, key| append(db, key, drafts))
    }

    fn was_dead_lettered(&self, r: &DeadLettered) -> Result<bool, StoreError> {
        self.read(|db| {
            exists(
                db,
                REFUSED_KNOWN,
                p![
                    r.topic.as_str(),
                    i64::from(r.partition),
                    r.offset,
                    r.digest.as_str()
                ],
            )
        })
    }

    fn note_dead_letter(&mut self, r: &DeadLettered, draft: Draft) -> Result<(), StoreError> {
        self.write(|db, key| {
            let params = p![r.topic.as_str(), i64::from(r.partition), r.offset, r.digest.as_str()];
            if !exists(db, REFUSED_KNOWN, params)? {
                let entries = append(db, key, vec![draft])?;
                let seq = entries.first().map_or(0, |e| e.seq as i64);
                db.execute(
                    "INSERT INTO refused (topic, \"partition\", \"offset\", digest, audit_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                    p![r.topic.as_str(), i64::from(r.partition), r.offset, r.digest.as_str(), seq],
                )?;
            }
            Ok(())
        })
    }

    fn latest_entry_at(&self) -> Result<Option<Timestamp>, StoreError> {
        // audit_by_time answers this from the index.
        self.read(|db| {
            one(db, "SELECT MAX(at_us) FROM audit", &[])?
                .map(|r| r.opt_int(0))
                .transpose()
                .map(|us| us.flatten().map(at_micros))
        })
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit WHERE (CAST(?1 AS TEXT) IS NULL OR employee_number = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR at_us >= ?2) ORDER BY seq"
        );
        self.read(|db| {
            db.query(
                &sql,
                p![filter.employee_number.as_deref(), filter.since.map(micros)],
            )?
            .iter()
            .map(|r| read_entry(r).map(|e| e.0))
            .collect()
        })
    }

    fn verify_audit(
        &self,
        expected_head: Option<(u64, &str)>,
    ) -> Result<Result<Verified, Break>, StoreError> {
        let (head, rows) = self.read(|db| {
            Ok((
                head(db)?,
                db.query(
                    &format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq"),
                    &[],
                )?,
            ))
        })?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let (entry, at_text, at_us) = read_entry(row)?;
            // A time that no longer parses or prints as stored, or a filter column that no
            // longer matches the hashed time, was edited.
            if entry.draft.at.to_string() != at_text || micros(entry.draft.at) != at_us {
                return Ok(Err(Break::Edited { seq: entry.seq }));
            }
            entries.push(entry);
        }
        let mut verified = audit::verify(
            &entries,
            head.as_ref().map(|h| (h.seq, h.hash.as_str())),
            self.key.as_ref(),
        );
        // With the key, the head must carry its seal: a trail cut short whose head was
        // moved back still chains, but nobody without the key can seal the shorter head.
        if let (Ok(_), Some(key), Some(h)) = (&verified, self.key.as_ref(), &head)
            && !key.seals_head(h.seq, &h.hash, h.mac.as_deref())
        {
            verified = Err(Break::HeadUnsealed { head: h.seq });
        }
        Ok(match (verified, expected_head) {
            (Ok(v), Some(expected)) => audit::expect_head(&entries, expected).map(|()| v),
            (other, _) => other,
        })
    }
}
