use super::{big, PgTx};
use crate::store::{MonitorRepo, Result, Scope, StoredBucket, StoredWatch};

impl MonitorRepo for PgTx<'_> {
    fn put_buckets(&mut self, buckets: &[StoredBucket]) -> Result<()> {
        for b in buckets {
            self.execute(
                "INSERT INTO monitor_buckets (instance, account_id, livemode, width, start, data) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (width, start, account_id, livemode, instance) \
                 DO UPDATE SET data = excluded.data",
                &[&b.instance, &b.account_id, &b.livemode, &b.width, &b.start, &b.data],
            )?;
        }
        Ok(())
    }

    fn buckets(&mut self, scope: Option<&Scope>, width: i64, from: i64) -> Result<Vec<StoredBucket>> {
        let (account, livemode) = match scope {
            Some(s) => (Some(s.account.as_str()), Some(s.livemode)),
            None => (None, None),
        };
        Ok(self
            .query(
                "SELECT instance, account_id, livemode, width, start, data FROM monitor_buckets \
                 WHERE width = $1 AND start >= $2 AND ($3::TEXT IS NULL OR account_id = $3) \
                 AND ($4::BOOLEAN IS NULL OR livemode = $4) ORDER BY start",
                &[&width, &from, &account, &livemode],
            )?
            .iter()
            .map(|r| StoredBucket {
                instance: r.get(0),
                account_id: r.get(1),
                livemode: r.get(2),
                width: r.get(3),
                start: r.get(4),
                data: r.get(5),
            })
            .collect())
    }

    fn prune_buckets(&mut self, width: i64, before: i64) -> Result<usize> {
        Ok(self.execute("DELETE FROM monitor_buckets WHERE width = $1 AND start < $2", &[&width, &before])?
            as usize)
    }

    fn claim_evaluation(&mut self, slot: i64) -> Result<bool> {
        let n = self.execute(
            "INSERT INTO monitor_evaluations (slot) VALUES ($1) ON CONFLICT (slot) DO NOTHING",
            &[&slot],
        )?;
        self.execute("DELETE FROM monitor_evaluations WHERE slot < $1", &[&(slot - 100)])?;
        Ok(n == 1)
    }

    fn watches(&mut self) -> Result<Vec<StoredWatch>> {
        Ok(self
            .query("SELECT account_id, livemode, metric, state FROM monitor_watches", &[])?
            .iter()
            .map(|r| StoredWatch {
                account_id: r.get(0),
                livemode: r.get(1),
                metric: r.get(2),
                state: r.get(3),
            })
            .collect())
    }

    fn put_watch(&mut self, w: &StoredWatch) -> Result<()> {
        self.execute(
            "INSERT INTO monitor_watches (account_id, livemode, metric, state) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, livemode, metric) DO UPDATE SET state = excluded.state",
            &[&w.account_id, &w.livemode, &w.metric, &w.state],
        )?;
        Ok(())
    }

    fn alerts(&mut self, scope: &Scope, limit: usize) -> Result<Vec<String>> {
        Ok(self
            .query(
                "SELECT body FROM alerts WHERE account_id = $1 AND livemode = $2 ORDER BY raised_at DESC, id LIMIT $3",
                &[&scope.account, &scope.livemode, &big(limit as u64)?],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn put_alert(&mut self, scope: &Scope, id: &str, raised_at: i64, body: &str) -> Result<()> {
        self.execute(
            "INSERT INTO alerts (id, account_id, livemode, raised_at, body) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            &[&id, &scope.account, &scope.livemode, &raised_at, &body],
        )?;
        Ok(())
    }
}
