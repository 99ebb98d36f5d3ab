use super::{big, PgTx};
use crate::store::{JobRecord, JobRepo, NewJob, Result};

impl JobRepo for PgTx<'_> {
    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()> {
        for j in jobs {
            self.execute(
                "INSERT INTO jobs (kind, subject, due) VALUES ($1, $2, $3)",
                &[&j.kind, &j.subject, &j.due],
            )?;
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
        let rows = self.query(
            "UPDATE jobs SET due = $2, claimed_by = $3, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM jobs WHERE due <= $1 ORDER BY due, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, subject, due, attempts - 1",
            &[&now, &lease_until, &worker, &big(limit as u64)?],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let attempts: i32 = r.get(4);
                JobRecord {
                    id: r.get(0),
                    kind: r.get(1),
                    subject: r.get(2),
                    due: r.get(3),
                    attempts: attempts.max(0) as u32,
                }
            })
            .collect())
    }

    fn finish_job(&mut self, id: i64) -> Result<bool> {
        Ok(self.execute("DELETE FROM jobs WHERE id = $1", &[&id])? == 1)
    }

    fn retry_job(&mut self, id: i64, at: i64) -> Result<()> {
        self.execute("UPDATE jobs SET due = $2, claimed_by = NULL WHERE id = $1", &[&id, &at])?;
        Ok(())
    }

    fn release_jobs(&mut self, worker: &str, now: i64) -> Result<usize> {
        Ok(self.execute(
            "UPDATE jobs SET claimed_by = NULL, due = LEAST(due, $2) WHERE claimed_by = $1",
            &[&worker, &now],
        )? as usize)
    }
}
