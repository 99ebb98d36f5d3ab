use rusqlite::params;

use super::SqliteTx;
use crate::store::{JobRecord, JobRepo, NewJob, Result};

impl JobRepo for SqliteTx<'_> {
    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()> {
        for j in jobs {
            self.conn
                .prepare_cached("INSERT INTO jobs (kind, subject, due) VALUES (?1, ?2, ?3)")?
                .execute(params![j.kind, j.subject, j.due])?;
        }
        Ok(())
    }

    fn claim_jobs(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: usize,
        worker: &str,
    ) -> Result<Vec<JobRecord>> {
        let jobs = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, kind, subject, due, attempts FROM jobs WHERE due <= ?1 ORDER BY due, id LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now, limit as i64], |r| {
                    Ok(JobRecord {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        subject: r.get(2)?,
                        due: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        for j in &jobs {
            self.conn
                .prepare_cached(
                    "UPDATE jobs SET due = ?2, claimed_by = ?3, attempts = attempts + 1 WHERE id = ?1",
                )?
                .execute(params![j.id, lease_until, worker])?;
        }
        Ok(jobs)
    }

    fn finish_job(&mut self, id: i64) -> Result<bool> {
        Ok(self.conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")?.execute([id])? == 1)
    }

    fn retry_job(&mut self, id: i64, at: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE jobs SET due = ?2, claimed_by = NULL WHERE id = ?1")?
            .execute(params![id, at])?;
        Ok(())
    }

    fn release_jobs(&mut self, worker: &str, now: i64) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("UPDATE jobs SET claimed_by = NULL, due = MIN(due, ?2) WHERE claimed_by = ?1")?
            .execute(params![worker, now])?)
    }
}
