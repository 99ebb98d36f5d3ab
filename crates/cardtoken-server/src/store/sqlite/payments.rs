use cardtoken_types::wire::PaymentStatus;
use rusqlite::{params, OptionalExtension};

use super::accounts::corrupt;
use super::SqliteTx;
use crate::store::{DisputeRecord, PaymentFilter, PaymentRecord, PaymentRepo, RefundRecord, Result, Scope};

const PAYMENT_COLUMNS: &str = "id, account_id, livemode, key_id, token_id, amount, currency, status, \
    amount_capturable, amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, \
    exp_year, next_action_url, last_error_code, last_error_decline_code, last_error_message, description, \
    metadata, created, version";

fn payment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PaymentRecord> {
    let status: String = r.get(7)?;
    Ok(PaymentRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        livemode: r.get(2)?,
        key_id: r.get(3)?,
        token_id: r.get(4)?,
        amount: r.get(5)?,
        currency: r.get(6)?,
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt(7, "unknown payment status"))?,
        amount_capturable: r.get(8)?,
        amount_captured: r.get(9)?,
        amount_refunded: r.get(10)?,
        capture: r.get(11)?,
        client_secret: r.get(12)?,
        brand: r.get(13)?,
        last4: r.get(14)?,
        exp_month: r.get(15)?,
        exp_year: r.get(16)?,
        next_action_url: r.get(17)?,
        last_error_code: r.get(18)?,
        last_error_decline_code: r.get(19)?,
        last_error_message: r.get(20)?,
        description: r.get(21)?,
        metadata: r.get(22)?,
        created: r.get(23)?,
        version: r.get(24)?,
    })
}

const REFUND_COLUMNS: &str = "id, account_id, livemode, payment_id, amount, currency, status, created";

fn refund_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefundRecord> {
    Ok(RefundRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        livemode: r.get(2)?,
        payment_id: r.get(3)?,
        amount: r.get(4)?,
        currency: r.get(5)?,
        status: r.get(6)?,
        created: r.get(7)?,
    })
}

impl SqliteTx<'_> {
    fn payment_where(&self, clause: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Option<PaymentRecord>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
        Ok(self.conn.prepare_cached(&sql)?.query_row(args, payment_from_row).optional()?)
    }

    fn refund_where(&self, clause: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Option<RefundRecord>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE {clause}");
        Ok(self.conn.prepare_cached(&sql)?.query_row(args, refund_from_row).optional()?)
    }
}

impl PaymentRepo for SqliteTx<'_> {
    fn insert_payment(&mut self, p: &PaymentRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
             ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
        );
        self.conn.prepare_cached(&sql)?.execute(params![
            p.id,
            p.account_id,
            p.livemode,
            p.key_id,
            p.token_id,
            p.amount,
            p.currency,
            p.status.as_str(),
            p.amount_capturable,
            p.amount_captured,
            p.amount_refunded,
            p.capture,
            p.client_secret,
            p.brand,
            p.last4,
            p.exp_month,
            p.exp_year,
            p.next_action_url,
            p.last_error_code,
            p.last_error_decline_code,
            p.last_error_message,
            p.description,
            p.metadata,
            p.created,
            p.version
        ])?;
        Ok(())
    }

    fn get_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>> {
        self.payment_where(
            "id = ?1 AND account_id = ?2 AND livemode = ?3",
            &[&id, &scope.account, &scope.livemode],
        )
    }

    fn lock_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>> {
        // The writer connection is the only writer: reading in its transaction is a lock.
        self.get_payment(scope, id)
    }

    fn find_payment(&mut self, id: &str) -> Result<Option<PaymentRecord>> {
        self.payment_where("id = ?1", &[&id])
    }

    fn list_payments(
        &mut self,
        scope: &Scope,
        filter: &PaymentFilter,
        limit: usize,
        starting_after: Option<&str>,
    ) -> Result<(Vec<PaymentRecord>, bool)> {
        let after: i64 = match starting_after {
            Some(id) => self
                .conn
                .prepare_cached(
                    "SELECT seq FROM payments WHERE id = ?1 AND account_id = ?2 AND livemode = ?3",
                )?
                .query_row(params![id, scope.account, scope.livemode], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
            None => i64::MAX,
        };
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE account_id = ?1 AND livemode = ?2 AND seq < ?3 \
             AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR created >= ?5) AND (?6 IS NULL OR created < ?6) \
             AND (?7 IS NULL OR last4 = ?7) AND (?8 IS NULL OR amount = ?8) \
             ORDER BY seq DESC LIMIT ?9"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt
            .query_map(
                params![
                    scope.account,
                    scope.livemode,
                    after,
                    filter.status.map(|s| s.as_str()),
                    filter.created_from,
                    filter.created_until,
                    filter.last4,
                    filter.amount,
                    (limit + 1) as i64
                ],
                payment_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, has_more))
    }

    fn update_payment(&mut self, p: &PaymentRecord) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE payments SET status = ?2, amount_capturable = ?3, amount_captured = ?4, amount_refunded = ?5, \
                 next_action_url = ?6, last_error_code = ?7, last_error_decline_code = ?8, last_error_message = ?9, \
                 version = version + 1 WHERE id = ?1 AND version = ?10",
            )?
            .execute(params![
                p.id,
                p.status.as_str(),
                p.amount_capturable,
                p.amount_captured,
                p.amount_refunded,
                p.next_action_url,
                p.last_error_code,
                p.last_error_decline_code,
                p.last_error_message,
                p.version
            ])?;
        Ok(n == 1)
    }

    fn insert_refund(&mut self, r: &RefundRecord) -> Result<()> {
        let sql = format!("INSERT INTO refunds ({REFUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        self.conn.prepare_cached(&sql)?.execute(params![
            r.id,
            r.account_id,
            r.livemode,
            r.payment_id,
            r.amount,
            r.currency,
            r.status,
            r.created
        ])?;
        Ok(())
    }

    fn get_refund(&mut self, scope: &Scope, id: &str) -> Result<Option<RefundRecord>> {
        self.refund_where(
            "id = ?1 AND account_id = ?2 AND livemode = ?3",
            &[&id, &scope.account, &scope.livemode],
        )
    }

    fn find_refund(&mut self, id: &str) -> Result<Option<RefundRecord>> {
        self.refund_where("id = ?1", &[&id])
    }

    fn set_refund_status(&mut self, id: &str, status: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE refunds SET status = ?2 WHERE id = ?1 AND status <> ?2")?
            .execute(params![id, status])?;
        Ok(n == 1)
    }

    fn refunds_of(&mut self, payment_id: &str) -> Result<Vec<RefundRecord>> {
        let sql =
            format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = ?1 ORDER BY created, rowid");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([payment_id], refund_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn insert_dispute(&mut self, d: &DisputeRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO disputes (id, account_id, livemode, payment_id, amount, currency, reason, status, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                d.id,
                d.account_id,
                d.livemode,
                d.payment_id,
                d.amount,
                d.currency,
                d.reason,
                d.status,
                d.created
            ])?;
        Ok(())
    }

    fn disputes_of(&mut self, payment_id: &str) -> Result<Vec<DisputeRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, account_id, livemode, payment_id, amount, currency, reason, status, created \
             FROM disputes WHERE payment_id = ?1 ORDER BY created, id",
        )?;
        let rows = stmt
            .query_map([payment_id], |r| {
                Ok(DisputeRecord {
                    id: r.get(0)?,
                    account_id: r.get(1)?,
                    livemode: r.get(2)?,
                    payment_id: r.get(3)?,
                    amount: r.get(4)?,
                    currency: r.get(5)?,
                    reason: r.get(6)?,
                    status: r.get(7)?,
                    created: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
