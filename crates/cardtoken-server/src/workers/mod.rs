//! Background work, on every instance: webhook deliveries and jobs (each claimed by one instance at a
//! time, under a lease another instance takes over once it has run out), the sweeps, the alert
//! evaluation, and picking up a master key rotated by another process. Workers call the domain; they
//! hold no rules of their own. On a graceful stop they finish what they have in flight and release
//! their leases.

pub mod delivery;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::domain::{jobs, maintenance, monitoring, tokens, Services};
use crate::store;

/// Deliveries in flight at once on one instance, and to one endpoint.
const IN_FLIGHT: usize = 64;
const PER_ENDPOINT: usize = 4;
/// How often a running server re-reads the keys file.
const KEY_RELOAD: Duration = Duration::from_secs(2);

pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Workers {
    /// Starts every worker.
    pub fn start(svc: Arc<Services>) -> Workers {
        let (stop, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(deliveries(svc.clone(), rx.clone()));
        tasks.spawn(sweeps(svc.clone(), rx.clone()));
        tasks.spawn(alerts(svc.clone(), rx.clone()));
        tasks.spawn(key_reloads(svc, rx));
        Workers { stop, tasks }
    }

    /// Stops them: in-flight deliveries finish (up to their timeout), leases are released.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
    *stop.borrow()
}

/// Runs the jobs that are due; a failing job is logged and tried again later, never stopping the rest.
pub async fn run_due_jobs(svc: &Services) -> usize {
    let now = svc.now();
    let (worker, lease) = (svc.instance.clone(), svc.config.lease_secs);
    let due = match store::write(&svc.store, move |tx| tx.claim_jobs(now, now + lease, 50, &worker)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "claiming jobs failed");
            return 0;
        }
    };
    let n = due.len();
    for job in due {
        if let Err(e) = jobs::run(svc, &job).await {
            tracing::error!(job = job.id, kind = %job.kind, error = %e, "a job failed; it will be tried again");
            let (id, at) = (job.id, svc.now() + 30 * i64::from(job.attempts.clamp(1, 20)));
            if let Err(e) = store::write(&svc.store, move |tx| tx.retry_job(id, at)).await {
                tracing::error!(error = %e, "rescheduling a job failed");
            }
        }
    }
    n
}

async fn deliveries(svc: Arc<Services>, mut stop: watch::Receiver<bool>) {
    let http = delivery::client(svc.config.allow_private_webhooks, svc.resolver.clone());
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut sending = JoinSet::new();
    loop {
        run_due_jobs(&svc).await;
        let free = permits.available_permits();
        if free > 0 {
            let now = svc.now();
            let (worker, lease) = (svc.instance.clone(), svc.config.lease_secs);
            let claimed = store::write(&svc.store, move |tx| {
                tx.claim_deliveries(now, now + lease, free.min(32), PER_ENDPOINT, &worker)
            })
            .await;
            match claimed {
                Ok(due) => {
                    for d in due {
                        let Ok(permit) = permits.clone().acquire_owned().await else { break };
                        let (svc, http) = (svc.clone(), http.clone());
                        sending.spawn(async move {
                            delivery::deliver(&svc, &http, d).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "claiming deliveries failed"),
            }
        }
        while sending.try_join_next().is_some() {}
        if pause(&mut stop, Duration::from_millis(200)).await {
            break;
        }
    }
    // Stopping: let what is in flight finish, then give back whatever is still claimed.
    let drained = async { while sending.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(delivery::TIMEOUT + Duration::from_secs(1), drained).await;
    let (now, worker) = (svc.now(), svc.instance.clone());
    let released = store::write(&svc.store, move |tx| {
        Ok(tx.release_deliveries(&worker, now)? + tx.release_jobs(&worker, now)?)
    })
    .await;
    match released {
        Ok(n) if n > 0 => tracing::info!(released = n, "leases released"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "releasing leases failed: they expire on their own"),
    }
}

async fn sweeps(svc: Arc<Services>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(svc.config.sweep_interval_secs.max(1));
    loop {
        if let Err(e) = maintenance::sweep(&svc).await {
            tracing::error!(error = %e, "the sweep failed");
        }
        if pause(&mut stop, every).await {
            break;
        }
    }
}

async fn alerts(svc: Arc<Services>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(svc.monitor.resolution().max(1) as u64);
    loop {
        if pause(&mut stop, every).await {
            let _ = monitoring::flush(&svc).await;
            break;
        }
        if let Err(e) = monitoring::evaluate_and_emit(&svc).await {
            tracing::error!(error = %e, "evaluating alerts failed");
        }
    }
}

/// Re-reads the keys file every couple of seconds, and on SIGHUP.
async fn key_reloads(svc: Arc<Services>, mut stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    // The encryption keys' check values as last recorded (start-up recorded them).
    let mut recorded = svc.vault.encryption_checks();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::time::sleep(KEY_RELOAD) => {}
            _ = hangup => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        match svc.vault.reload() {
            Ok(true) => {
                tracing::info!(version = svc.vault.current_version(), "a new master key version is current")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "re-reading the keys file failed"),
        }
        let kids = svc.vault.encryption_checks();
        if kids != recorded {
            match tokens::record_encryption_keys(&svc.store, &svc.vault).await {
                Ok(()) => recorded = kids,
                Err(e) => tracing::warn!(error = %e, "recording the card-encryption keys failed"),
            }
        }
    }
}
