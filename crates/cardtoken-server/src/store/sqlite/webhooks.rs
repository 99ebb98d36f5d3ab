use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::ids::new_id;
use crate::store::{
    AttemptRecord, DeliveryOutcome, DeliveryRecord, DueDelivery, EndpointRecord, EventRecord, NewEvent,
    Result, Scope, StoreError, WebhookRepo,
};

const ENDPOINT_COLUMNS: &str =
    "id, account_id, livemode, url, events, enabled, secret, previous_secret, previous_until, created";

fn endpoint_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRecord> {
    let events: String = r.get(4)?;
    Ok(EndpointRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        livemode: r.get(2)?,
        url: r.get(3)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: r.get(5)?,
        secret: r.get(6)?,
        previous_secret: r.get(7)?,
        previous_until: r.get(8)?,
        created: r.get(9)?,
    })
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord { id: r.get(0)?, kind: r.get(1)?, created: r.get(2)?, body: r.get(3)? })
}

fn delivery_id() -> Result<String> {
    new_id("whd").map_err(|e| StoreError::Db(e.to_string()))
}

impl SqliteTx<'_> {
    fn queue_delivery(&self, event_id: &str, endpoint_id: &str, now: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt, created) \
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
            )?
            .execute(params![delivery_id()?, event_id, endpoint_id, now])?;
        Ok(())
    }

    fn enabled_endpoints(&self, scope: &Scope) -> Result<Vec<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ?1 AND livemode = ?2 \
             AND enabled = 1 AND deleted IS NULL"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![scope.account, scope.livemode], endpoint_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn event_scope(&self, scope: &Scope, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT type FROM events WHERE id = ?1 AND account_id = ?2 AND livemode = ?3")?
            .query_row(params![id, scope.account, scope.livemode], |r| r.get(0))
            .optional()?)
    }
}

impl WebhookRepo for SqliteTx<'_> {
    fn insert_endpoint(&mut self, e: &EndpointRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            e.id,
            e.account_id,
            e.livemode,
            e.url,
            serde_json::to_string(&e.events).unwrap_or_else(|_| "[]".into()),
            e.enabled,
            e.secret,
            e.previous_secret,
            e.previous_until,
            e.created
        ])?;
        Ok(())
    }

    fn list_endpoints(&mut self, scope: &Scope) -> Result<Vec<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ?1 AND livemode = ?2 \
             AND deleted IS NULL ORDER BY created, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![scope.account, scope.livemode], endpoint_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn get_endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND account_id = ?2 AND livemode = ?3 \
             AND deleted IS NULL"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id, scope.account, scope.livemode], endpoint_from_row)
            .optional()?)
    }

    fn delete_endpoint(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE webhook_endpoints SET deleted = ?4, enabled = 0 WHERE id = ?1 AND account_id = ?2 \
                 AND livemode = ?3 AND deleted IS NULL",
            )?
            .execute(params![id, scope.account, scope.livemode, now])?;
        if n == 1 {
            self.conn
                .prepare_cached(
                    "UPDATE deliveries SET status = 'failed', claimed_by = NULL \
                     WHERE endpoint_id = ?1 AND status = 'pending'",
                )?
                .execute([id])?;
        }
        Ok(n == 1)
    }

    fn rotate_endpoint_secret(
        &mut self,
        scope: &Scope,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<Option<EndpointRecord>> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE webhook_endpoints SET previous_secret = secret, secret = ?4, previous_until = ?5 \
                 WHERE id = ?1 AND account_id = ?2 AND livemode = ?3 AND deleted IS NULL",
            )?
            .execute(params![id, scope.account, scope.livemode, secret, previous_until])?;
        if n == 0 {
            return Ok(None);
        }
        self.get_endpoint(scope, id)
    }

    fn insert_events(&mut self, events: &[NewEvent]) -> Result<()> {
        let mut endpoints: HashMap<Scope, Vec<EndpointRecord>> = HashMap::new();
        for e in events {
            self.conn
                .prepare_cached(
                    "INSERT INTO events (id, account_id, livemode, type, object_id, created, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![e.id, e.account_id, e.livemode, e.kind, e.object_id, e.created, e.body])?;
            let scope = Scope::new(e.account_id.clone(), e.livemode);
            if !endpoints.contains_key(&scope) {
                let found = self.enabled_endpoints(&scope)?;
                endpoints.insert(scope.clone(), found);
            }
            for endpoint in endpoints.get(&scope).into_iter().flatten().filter(|w| w.takes(&e.kind)) {
                self.queue_delivery(&e.id, &endpoint.id, e.created)?;
            }
        }
        Ok(())
    }

    fn get_event(&mut self, scope: &Scope, id: &str) -> Result<Option<EventRecord>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, type, created, body FROM events WHERE id = ?1 AND account_id = ?2 AND livemode = ?3",
            )?
            .query_row(params![id, scope.account, scope.livemode], event_from_row)
            .optional()?)
    }

    fn list_events(
        &mut self,
        scope: &Scope,
        limit: usize,
        starting_after: Option<&str>,
        kind: Option<&str>,
        object: Option<&str>,
    ) -> Result<(Vec<EventRecord>, bool)> {
        let after: i64 = match starting_after {
            Some(id) => self
                .conn
                .prepare_cached("SELECT seq FROM events WHERE id = ?1 AND account_id = ?2 AND livemode = ?3")?
                .query_row(params![id, scope.account, scope.livemode], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
            None => i64::MAX,
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, type, created, body FROM events WHERE account_id = ?1 AND livemode = ?2 AND seq < ?3 \
             AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR object_id = ?5) ORDER BY seq DESC LIMIT ?6",
        )?;
        let mut rows = stmt
            .query_map(
                params![scope.account, scope.livemode, after, kind, object, (limit + 1) as i64],
                event_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, has_more))
    }

    fn redeliver_event(
        &mut self,
        scope: &Scope,
        id: &str,
        endpoint: Option<&str>,
        now: i64,
    ) -> Result<Option<usize>> {
        let Some(kind) = self.event_scope(scope, id)? else {
            return Ok(None);
        };
        let mut n = 0;
        for w in self.enabled_endpoints(scope)? {
            let chosen = match endpoint {
                Some(e) => w.id == e,
                None => w.takes(&kind),
            };
            if chosen {
                self.queue_delivery(id, &w.id, now)?;
                n += 1;
            }
        }
        Ok(Some(n))
    }

    fn pending_deliveries_of(&mut self, event_id: &str) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM deliveries WHERE event_id = ?1 AND status = 'pending'")?
            .query_row([event_id], |r| r.get::<_, i64>(0))? as usize)
    }

    fn deliveries_of_event(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<DeliveryRecord>> {
        if self.event_scope(scope, event_id)?.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, event_id, endpoint_id, status FROM deliveries WHERE event_id = ?1 ORDER BY created, id",
        )?;
        let mut deliveries = stmt
            .query_map([event_id], |r| {
                Ok(DeliveryRecord {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    endpoint_id: r.get(2)?,
                    status: r.get(3)?,
                    attempts: vec![],
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut attempts = self.conn.prepare_cached(
            "SELECT attempted, status_code, duration_ms, response_excerpt, error FROM delivery_attempts \
             WHERE delivery_id = ?1 ORDER BY id",
        )?;
        for d in &mut deliveries {
            d.attempts = attempts
                .query_map([&d.id], |r| {
                    Ok(AttemptRecord {
                        attempted: r.get(0)?,
                        status_code: r.get(1)?,
                        duration_ms: r.get(2)?,
                        response_excerpt: r.get(3)?,
                        error: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(deliveries)
    }

    fn claim_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: usize,
        per_endpoint: usize,
        worker: &str,
    ) -> Result<Vec<DueDelivery>> {
        // What each endpoint has in flight now (claimed, lease not passed).
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT endpoint_id, COUNT(*) FROM deliveries WHERE status = 'pending' AND claimed_by IS NOT NULL \
                 AND next_attempt > ?1 GROUP BY endpoint_id",
            )?;
            let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (endpoint, n) = row?;
                in_flight.insert(endpoint, n as usize);
            }
        }
        let candidates: Vec<DueDelivery> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT d.id, d.attempts, e.id, e.body, w.id, w.url, w.secret, \
                        CASE WHEN w.previous_until > ?1 THEN w.previous_secret END, w.account_id, w.livemode \
                 FROM webhook_endpoints w \
                 JOIN deliveries d ON d.id IN (SELECT x.id FROM deliveries x WHERE x.endpoint_id = w.id \
                      AND x.status = 'pending' AND x.next_attempt <= ?1 ORDER BY x.next_attempt, x.created LIMIT ?3) \
                 JOIN events e ON e.id = d.event_id \
                 WHERE w.enabled = 1 AND w.deleted IS NULL \
                 ORDER BY d.next_attempt, d.created LIMIT ?2",
            )?;
            // A few of each endpoint's due deliveries, oldest first: an endpoint's backlog cannot crowd
            // the others out of the claim.
            let rows = stmt
                .query_map(params![now, (limit * 4) as i64, per_endpoint as i64], |r| {
                    Ok(DueDelivery {
                        id: r.get(0)?,
                        attempts: r.get(1)?,
                        event_id: r.get(2)?,
                        body: r.get(3)?,
                        endpoint_id: r.get(4)?,
                        url: r.get(5)?,
                        secret: r.get(6)?,
                        previous_secret: r.get(7)?,
                        account_id: r.get(8)?,
                        livemode: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows
        };
        let mut claimed = Vec::new();
        for d in candidates {
            if claimed.len() >= limit {
                break;
            }
            let busy = in_flight.entry(d.endpoint_id.clone()).or_default();
            if *busy >= per_endpoint {
                continue;
            }
            *busy += 1;
            self.conn
                .prepare_cached("UPDATE deliveries SET next_attempt = ?2, claimed_by = ?3 WHERE id = ?1")?
                .execute(params![d.id, lease_until, worker])?;
            claimed.push(d);
        }
        Ok(claimed)
    }

    fn record_attempt(&mut self, d: &DueDelivery, a: &AttemptRecord, outcome: DeliveryOutcome) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO delivery_attempts (delivery_id, attempted, status_code, duration_ms, response_excerpt, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![d.id, a.attempted, a.status_code, a.duration_ms as i64, a.response_excerpt, a.error])?;
        let (status, next) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", a.attempted),
            DeliveryOutcome::RetryAt(at) => ("pending", at),
            DeliveryOutcome::Failed | DeliveryOutcome::Gone => ("failed", a.attempted),
        };
        self.conn
            .prepare_cached(
                "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt = ?3, claimed_by = NULL \
                 WHERE id = ?1",
            )?
            .execute(params![d.id, status, next])?;
        if outcome == DeliveryOutcome::Gone {
            self.conn
                .prepare_cached("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?1")?
                .execute([&d.endpoint_id])?;
            self.conn
                .prepare_cached(
                    "UPDATE deliveries SET status = 'failed', claimed_by = NULL \
                     WHERE endpoint_id = ?1 AND status = 'pending'",
                )?
                .execute([&d.endpoint_id])?;
        }
        Ok(())
    }

    fn release_deliveries(&mut self, worker: &str, now: i64) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET next_attempt = ?2, claimed_by = NULL \
                 WHERE claimed_by = ?1 AND status = 'pending'",
            )?
            .execute(params![worker, now])?)
    }

    fn next_due(&mut self) -> Result<Option<i64>> {
        let delivery: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MIN(d.next_attempt) FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.status = 'pending' AND w.enabled = 1 AND w.deleted IS NULL",
            )?
            .query_row([], |r| r.get(0))?;
        let job: Option<i64> =
            self.conn.prepare_cached("SELECT MIN(due) FROM jobs")?.query_row([], |r| r.get(0))?;
        Ok(match (delivery, job) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}
