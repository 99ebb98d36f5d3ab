//! Jobs: work written with a change and run later by a worker (a test card's dispute, a refund that
//! fails at the bank). A job is finished in the transaction that applies it, so it happens once even when
//! two workers race for it after a lease has run out.

use crate::store::{self, JobRecord};

use super::{disputes, refunds, Error, Services};

/// Runs a claimed job. A domain refusal (the payment moved on meanwhile) drops it with a log line; a
/// storage failure leaves it to be retried.
pub async fn run(svc: &Services, job: &JobRecord) -> Result<(), Error> {
    let now = svc.now();
    let (id, kind, subject) = (job.id, job.kind.clone(), job.subject.clone());
    let fp = svc.failpoints.clone();
    let outcome = store::write(&svc.store, move |tx| {
        if !tx.finish_job(id)? {
            return Ok(Ok(())); // another worker did it
        }
        fp.check("job")?;
        match kind.as_str() {
            "dispute" => disputes::open_in(tx, &subject, now),
            "refund_failure" => refunds::fail_in(tx, &subject, now),
            _ => Ok(Err(Error::internal("unknown job kind"))),
        }
    })
    .await?;
    if let Err(e) = outcome {
        tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job dropped: it no longer applies");
    }
    Ok(())
}
