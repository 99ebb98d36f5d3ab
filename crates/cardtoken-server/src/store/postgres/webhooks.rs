use std::collections::HashMap;

use postgres::Row;

use super::{big, PgTx};
use crate::ids::new_id;
use crate::store::{
    AttemptRecord, DeliveryOutcome, DeliveryRecord, DueDelivery, EndpointRecord, EventRecord, NewEvent,
    Result, Scope, StoreError, WebhookRepo,
};

fn endpoint(r: &Row) -> EndpointRecord {
    let events: String = r.get(4);
    EndpointRecord {
        id: r.get(0),
        account_id: r.get(1),
        livemode: r.get(2),
        url: r.get(3),
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: r.get(5),
        secret: r.get(6),
        previous_secret: r.get(7),
        previous_until: r.get(8),
        created: r.get(9),
    }
}

fn event(r: &Row) -> EventRecord {
    EventRecord { id: r.get(0), kind: r.get(1), created: r.get(2), body: r.get(3) }
}

impl PgTx<'_> {
    fn queue_delivery(&mut self, event_id: &str, endpoint_id: &str, now: i64) -> Result<()> {
        let id = new_id("whd").map_err(|e| StoreError::Db(e.to_string()))?;
        self.execute(
            "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt, created) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
            &[&id, &event_id, &endpoint_id, &now],
        )?;
        Ok(())
    }

    fn enabled_endpoints(&mut self, scope: &Scope) -> Result<Vec<EndpointRecord>> {
        Ok(self
            .query(
                "SELECT id, account_id, livemode, url, events, enabled, secret, previous_secret, previous_until, created \
                 FROM webhook_endpoints WHERE account_id = $1 AND livemode = $2 AND enabled AND deleted IS NULL",
                &[&scope.account, &scope.livemode],
            )?
            .iter()
            .map(endpoint)
            .collect())
    }

    fn event_type(&mut self, scope: &Scope, id: &str) -> Result<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT type FROM events WHERE id = $1 AND account_id = $2 AND livemode = $3",
                &[&id, &scope.account, &scope.livemode],
            )?
            .map(|r| r.get(0)))
    }
}

impl WebhookRepo for PgTx<'_> {
    fn insert_endpoint(&mut self, e: &EndpointRecord) -> Result<()> {
        let events = serde_json::to_string(&e.events).unwrap_or_else(|_| "[]".into());
        self.execute(
            "INSERT INTO webhook_endpoints (id, account_id, livemode, url, events, enabled, secret, previous_secret, \
             previous_until, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &e.id,
                &e.account_id,
                &e.livemode,
                &e.url,
                &events,
                &e.enabled,
                &e.secret,
                &e.previous_secret,
                &e.previous_until,
                &e.created,
            ],
        )?;
        Ok(())
    }

    fn list_endpoints(&mut self, scope: &Scope) -> Result<Vec<EndpointRecord>> {
        Ok(self
            .query(
                "SELECT id, account_id, livemode, url, events, enabled, secret, previous_secret, previous_until, created \
                 FROM webhook_endpoints WHERE account_id = $1 AND livemode = $2 AND deleted IS NULL ORDER BY created, id",
                &[&scope.account, &scope.livemode],
            )?
            .iter()
            .map(endpoint)
            .collect())
    }

    fn get_endpoint(&mut self, scope: &Scope, id: &str) -> Result<Option<EndpointRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, livemode, url, events, enabled, secret, previous_secret, previous_until, created \
                 FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND livemode = $3 AND deleted IS NULL",
                &[&id, &scope.account, &scope.livemode],
            )?
            .as_ref()
            .map(endpoint))
    }

    fn delete_endpoint(&mut self, scope: &Scope, id: &str, now: i64) -> Result<bool> {
        let n = self.execute(
            "UPDATE webhook_endpoints SET deleted = $4, enabled = false WHERE id = $1 AND account_id = $2 \
             AND livemode = $3 AND deleted IS NULL",
            &[&id, &scope.account, &scope.livemode, &now],
        )?;
        if n == 1 {
            self.execute(
                "UPDATE deliveries SET status = 'failed', claimed_by = NULL WHERE endpoint_id = $1 AND status = 'pending'",
                &[&id],
            )?;
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
        let n = self.execute(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = $4, previous_until = $5 \
             WHERE id = $1 AND account_id = $2 AND livemode = $3 AND deleted IS NULL",
            &[&id, &scope.account, &scope.livemode, &secret, &previous_until],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.get_endpoint(scope, id)
    }

    fn insert_events(&mut self, events: &[NewEvent]) -> Result<()> {
        let mut endpoints: HashMap<Scope, Vec<EndpointRecord>> = HashMap::new();
        for e in events {
            self.execute(
                "INSERT INTO events (id, account_id, livemode, type, object_id, created, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&e.id, &e.account_id, &e.livemode, &e.kind, &e.object_id, &e.created, &e.body],
            )?;
            let scope = Scope::new(e.account_id.clone(), e.livemode);
            if !endpoints.contains_key(&scope) {
                let found = self.enabled_endpoints(&scope)?;
                endpoints.insert(scope.clone(), found);
            }
            let targets: Vec<String> = endpoints
                .get(&scope)
                .into_iter()
                .flatten()
                .filter(|w| w.takes(&e.kind))
                .map(|w| w.id.clone())
                .collect();
            for endpoint in targets {
                self.queue_delivery(&e.id, &endpoint, e.created)?;
            }
        }
        Ok(())
    }

    fn get_event(&mut self, scope: &Scope, id: &str) -> Result<Option<EventRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, type, created, body FROM events WHERE id = $1 AND account_id = $2 AND livemode = $3",
                &[&id, &scope.account, &scope.livemode],
            )?
            .as_ref()
            .map(event))
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
                .query_opt(
                    "SELECT seq FROM events WHERE id = $1 AND account_id = $2 AND livemode = $3",
                    &[&id, &scope.account, &scope.livemode],
                )?
                .map_or(0, |r| r.get(0)),
            None => i64::MAX,
        };
        let rows = self.query(
            "SELECT id, type, created, body FROM events WHERE account_id = $1 AND livemode = $2 AND seq < $3 \
             AND ($4::TEXT IS NULL OR type = $4) AND ($5::TEXT IS NULL OR object_id = $5) ORDER BY seq DESC LIMIT $6",
            &[&scope.account, &scope.livemode, &after, &kind, &object, &big(limit as u64 + 1)?],
        )?;
        let mut out: Vec<EventRecord> = rows.iter().map(event).collect();
        let has_more = out.len() > limit;
        out.truncate(limit);
        Ok((out, has_more))
    }

    fn redeliver_event(
        &mut self,
        scope: &Scope,
        id: &str,
        endpoint: Option<&str>,
        now: i64,
    ) -> Result<Option<usize>> {
        let Some(kind) = self.event_type(scope, id)? else { return Ok(None) };
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
        let n: i64 = self
            .query_one(
                "SELECT COUNT(*) FROM deliveries WHERE event_id = $1 AND status = 'pending'",
                &[&event_id],
            )?
            .get(0);
        Ok(n as usize)
    }

    fn deliveries_of_event(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<DeliveryRecord>> {
        if self.event_type(scope, event_id)?.is_none() {
            return Ok(Vec::new());
        }
        let mut deliveries: Vec<DeliveryRecord> = self
            .query(
                "SELECT id, event_id, endpoint_id, status FROM deliveries WHERE event_id = $1 ORDER BY created, id",
                &[&event_id],
            )?
            .iter()
            .map(|r| DeliveryRecord {
                id: r.get(0),
                event_id: r.get(1),
                endpoint_id: r.get(2),
                status: r.get(3),
                attempts: vec![],
            })
            .collect();
        for d in &mut deliveries {
            d.attempts = self
                .query(
                    "SELECT attempted, status_code, duration_ms, response_excerpt, error FROM delivery_attempts \
                     WHERE delivery_id = $1 ORDER BY id",
                    &[&d.id],
                )?
                .iter()
                .map(|r| {
                    let code: Option<i32> = r.get(1);
                    let ms: i64 = r.get(2);
                    AttemptRecord {
                        attempted: r.get(0),
                        status_code: code.and_then(|c| u16::try_from(c).ok()),
                        duration_ms: ms.max(0) as u64,
                        response_excerpt: r.get(3),
                        error: r.get(4),
                    }
                })
                .collect();
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
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        for r in self.query(
            "SELECT endpoint_id, COUNT(*) FROM deliveries WHERE status = 'pending' AND claimed_by IS NOT NULL \
             AND next_attempt > $1 GROUP BY endpoint_id",
            &[&now],
        )? {
            let n: i64 = r.get(1);
            in_flight.insert(r.get(0), n as usize);
        }
        // A few of each endpoint's due deliveries, oldest first (an endpoint's backlog cannot crowd the
        // others out of the claim); rows another instance is claiming right now are skipped, not waited for.
        // The conditions on `d` are repeated outside the subquery so that a row another claim has just
        // taken is checked again once locked (READ COMMITTED re-reads the locked row, not the subquery).
        let candidates = self.query(
            "SELECT d.id, d.attempts, e.id, e.body, w.id, w.url, w.secret, \
                    CASE WHEN w.previous_until > $1 THEN w.previous_secret END, w.account_id, w.livemode \
             FROM webhook_endpoints w \
             CROSS JOIN LATERAL (SELECT x.id, x.attempts, x.event_id, x.next_attempt, x.created FROM deliveries x \
                  WHERE x.endpoint_id = w.id AND x.status = 'pending' AND x.next_attempt <= $1 \
                  ORDER BY x.next_attempt, x.created LIMIT $3) due \
             JOIN deliveries d ON d.id = due.id JOIN events e ON e.id = d.event_id \
             WHERE w.enabled AND w.deleted IS NULL AND d.status = 'pending' AND d.next_attempt <= $1 \
             ORDER BY d.next_attempt, d.created LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
            &[&now, &big(limit as u64 * 4)?, &big(per_endpoint as u64)?],
        )?;
        let mut claimed = Vec::new();
        for r in candidates {
            if claimed.len() >= limit {
                break;
            }
            let attempts: i32 = r.get(1);
            let d = DueDelivery {
                id: r.get(0),
                attempts: attempts.max(0) as u32,
                event_id: r.get(2),
                body: r.get(3),
                endpoint_id: r.get(4),
                url: r.get(5),
                secret: r.get(6),
                previous_secret: r.get(7),
                account_id: r.get(8),
                livemode: r.get(9),
            };
            let busy = in_flight.entry(d.endpoint_id.clone()).or_default();
            if *busy >= per_endpoint {
                continue;
            }
            *busy += 1;
            self.execute(
                "UPDATE deliveries SET next_attempt = $2, claimed_by = $3 WHERE id = $1",
                &[&d.id, &lease_until, &worker],
            )?;
            claimed.push(d);
        }
        Ok(claimed)
    }

    fn record_attempt(&mut self, d: &DueDelivery, a: &AttemptRecord, outcome: DeliveryOutcome) -> Result<()> {
        self.execute(
            "INSERT INTO delivery_attempts (delivery_id, attempted, status_code, duration_ms, response_excerpt, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &d.id,
                &a.attempted,
                &a.status_code.map(i32::from),
                &big(a.duration_ms)?,
                &a.response_excerpt,
                &a.error,
            ],
        )?;
        let (status, next) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", a.attempted),
            DeliveryOutcome::RetryAt(at) => ("pending", at),
            DeliveryOutcome::Failed | DeliveryOutcome::Gone => ("failed", a.attempted),
        };
        self.execute(
            "UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt = $3, claimed_by = NULL \
             WHERE id = $1",
            &[&d.id, &status, &next],
        )?;
        if outcome == DeliveryOutcome::Gone {
            self.execute("UPDATE webhook_endpoints SET enabled = false WHERE id = $1", &[&d.endpoint_id])?;
            self.execute(
                "UPDATE deliveries SET status = 'failed', claimed_by = NULL WHERE endpoint_id = $1 AND status = 'pending'",
                &[&d.endpoint_id],
            )?;
        }
        Ok(())
    }

    fn release_deliveries(&mut self, worker: &str, now: i64) -> Result<usize> {
        Ok(self.execute(
            "UPDATE deliveries SET next_attempt = $2, claimed_by = NULL WHERE claimed_by = $1 AND status = 'pending'",
            &[&worker, &now],
        )? as usize)
    }

    fn next_due(&mut self) -> Result<Option<i64>> {
        let delivery: Option<i64> = self
            .query_one(
                "SELECT MIN(d.next_attempt) FROM deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                 WHERE d.status = 'pending' AND w.enabled AND w.deleted IS NULL",
                &[],
            )?
            .get(0);
        let job: Option<i64> = self.query_one("SELECT MIN(due) FROM jobs", &[])?.get(0);
        Ok(match (delivery, job) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}
