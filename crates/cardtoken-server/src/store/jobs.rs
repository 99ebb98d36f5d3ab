//! Work to do later (a dispute opening, a refund failing at the bank), written with the change that
//! causes it and claimed by one worker at a time.

use super::Result;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: String,
    /// The object it concerns (`pay_…`, `re_…`).
    pub subject: String,
    pub due: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub due: i64,
    pub attempts: u32,
}

pub trait JobRepo {
    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()>;
    /// Claims up to `limit` jobs due at `now` for `worker` until `lease_until` (another worker takes a
    /// job over once its lease has passed).
    fn claim_jobs(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: usize,
        worker: &str,
    ) -> Result<Vec<JobRecord>>;
    /// Deletes a finished job; false if it was already gone.
    fn finish_job(&mut self, id: i64) -> Result<bool>;
    /// Puts a failed job back for `at`.
    fn retry_job(&mut self, id: i64, at: i64) -> Result<()>;
    /// Releases every claim of `worker` (it is stopping): its jobs are due again at `now`.
    fn release_jobs(&mut self, worker: &str, now: i64) -> Result<usize>;
}
