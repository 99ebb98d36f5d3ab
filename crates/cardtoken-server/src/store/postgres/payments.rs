use cardtoken_types::wire::PaymentStatus;
use postgres::Row;

use super::{big, unsigned, PgTx};
use crate::store::{
    DisputeRecord, PaymentFilter, PaymentRecord, PaymentRepo, RefundRecord, Result, Scope, StoreError,
};

fn payment(r: &Row) -> Result<PaymentRecord> {
    let status: String = r.get(7);
    let (month, year): (i16, i16) = (r.get(15), r.get(16));
    Ok(PaymentRecord {
        id: r.get(0),
        account_id: r.get(1),
        livemode: r.get(2),
        key_id: r.get(3),
        token_id: r.get(4),
        amount: unsigned(r.get(5))?,
        currency: r.get(6),
        status: PaymentStatus::parse(&status).ok_or_else(|| StoreError::Corrupt("payment status".into()))?,
        amount_capturable: unsigned(r.get(8))?,
        amount_captured: unsigned(r.get(9))?,
        amount_refunded: unsigned(r.get(10))?,
        capture: r.get(11),
        client_secret: r.get(12),
        brand: r.get(13),
        last4: r.get(14),
        exp_month: u8::try_from(month).map_err(|_| StoreError::Corrupt("exp_month".into()))?,
        exp_year: u16::try_from(year).map_err(|_| StoreError::Corrupt("exp_year".into()))?,
        next_action_url: r.get(17),
        last_error_code: r.get(18),
        last_error_decline_code: r.get(19),
        last_error_message: r.get(20),
        description: r.get(21),
        metadata: r.get(22),
        created: r.get(23),
        version: r.get(24),
    })
}

fn refund(r: &Row) -> Result<RefundRecord> {
    Ok(RefundRecord {
        id: r.get(0),
        account_id: r.get(1),
        livemode: r.get(2),
        payment_id: r.get(3),
        amount: unsigned(r.get(4))?,
        currency: r.get(5),
        status: r.get(6),
        created: r.get(7),
    })
}

impl PaymentRepo for PgTx<'_> {
    fn insert_payment(&mut self, p: &PaymentRecord) -> Result<()> {
        self.execute(
            "INSERT INTO payments (id, account_id, livemode, key_id, token_id, amount, currency, status, \
             amount_capturable, amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, \
             exp_year, next_action_url, last_error_code, last_error_decline_code, last_error_message, description, \
             metadata, created, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
            &[
                &p.id,
                &p.account_id,
                &p.livemode,
                &p.key_id,
                &p.token_id,
                &big(p.amount)?,
                &p.currency,
                &p.status.as_str(),
                &big(p.amount_capturable)?,
                &big(p.amount_captured)?,
                &big(p.amount_refunded)?,
                &p.capture,
                &p.client_secret,
                &p.brand,
                &p.last4,
                &i16::from(p.exp_month),
                &(p.exp_year as i16),
                &p.next_action_url,
                &p.last_error_code,
                &p.last_error_decline_code,
                &p.last_error_message,
                &p.description,
                &p.metadata,
                &p.created,
                &p.version,
            ],
        )?;
        Ok(())
    }

    fn get_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>> {
        const SQL: &str = concat!(
            "SELECT id, account_id, livemode, key_id, token_id, amount, currency, status, amount_capturable, ",
            "amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, exp_year, ",
            "next_action_url, last_error_code, last_error_decline_code, last_error_message, description, metadata, ",
            "created, version FROM payments WHERE id = $1 AND account_id = $2 AND livemode = $3"
        );
        self.query_opt(SQL, &[&id, &scope.account, &scope.livemode])?.as_ref().map(payment).transpose()
    }

    fn lock_payment(&mut self, scope: &Scope, id: &str) -> Result<Option<PaymentRecord>> {
        const SQL: &str = concat!(
            "SELECT id, account_id, livemode, key_id, token_id, amount, currency, status, amount_capturable, ",
            "amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, exp_year, ",
            "next_action_url, last_error_code, last_error_decline_code, last_error_message, description, metadata, ",
            "created, version FROM payments WHERE id = $1 AND account_id = $2 AND livemode = $3 FOR UPDATE"
        );
        self.query_opt(SQL, &[&id, &scope.account, &scope.livemode])?.as_ref().map(payment).transpose()
    }

    fn find_payment(&mut self, id: &str) -> Result<Option<PaymentRecord>> {
        const SQL: &str = concat!(
            "SELECT id, account_id, livemode, key_id, token_id, amount, currency, status, amount_capturable, ",
            "amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, exp_year, ",
            "next_action_url, last_error_code, last_error_decline_code, last_error_message, description, metadata, ",
            "created, version FROM payments WHERE id = $1"
        );
        self.query_opt(SQL, &[&id])?.as_ref().map(payment).transpose()
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
                .query_opt(
                    "SELECT seq FROM payments WHERE id = $1 AND account_id = $2 AND livemode = $3",
                    &[&id, &scope.account, &scope.livemode],
                )?
                .map_or(0, |r| r.get(0)),
            None => i64::MAX,
        };
        const SQL: &str = concat!(
            "SELECT id, account_id, livemode, key_id, token_id, amount, currency, status, amount_capturable, ",
            "amount_captured, amount_refunded, capture, client_secret, brand, last4, exp_month, exp_year, ",
            "next_action_url, last_error_code, last_error_decline_code, last_error_message, description, metadata, ",
            "created, version FROM payments WHERE account_id = $1 AND livemode = $2 AND seq < $3 ",
            "AND ($4::TEXT IS NULL OR status = $4) AND ($5::BIGINT IS NULL OR created >= $5) ",
            "AND ($6::BIGINT IS NULL OR created < $6) AND ($7::TEXT IS NULL OR last4 = $7) ",
            "AND ($8::BIGINT IS NULL OR amount = $8) ORDER BY seq DESC LIMIT $9"
        );
        let amount = filter.amount.map(big).transpose()?;
        let status = filter.status.map(|s| s.as_str());
        let rows = self.query(
            SQL,
            &[
                &scope.account,
                &scope.livemode,
                &after,
                &status,
                &filter.created_from,
                &filter.created_until,
                &filter.last4,
                &amount,
                &big(limit as u64 + 1)?,
            ],
        )?;
        let mut out = rows.iter().map(payment).collect::<Result<Vec<_>>>()?;
        let has_more = out.len() > limit;
        out.truncate(limit);
        Ok((out, has_more))
    }

    fn update_payment(&mut self, p: &PaymentRecord) -> Result<bool> {
        Ok(self.execute(
            "UPDATE payments SET status = $2, amount_capturable = $3, amount_captured = $4, amount_refunded = $5, \
             next_action_url = $6, last_error_code = $7, last_error_decline_code = $8, last_error_message = $9, \
             version = version + 1 WHERE id = $1 AND version = $10",
            &[
                &p.id,
                &p.status.as_str(),
                &big(p.amount_capturable)?,
                &big(p.amount_captured)?,
                &big(p.amount_refunded)?,
                &p.next_action_url,
                &p.last_error_code,
                &p.last_error_decline_code,
                &p.last_error_message,
                &p.version,
            ],
        )? == 1)
    }

    fn insert_refund(&mut self, r: &RefundRecord) -> Result<()> {
        self.execute(
            "INSERT INTO refunds (id, account_id, livemode, payment_id, amount, currency, status, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &r.id,
                &r.account_id,
                &r.livemode,
                &r.payment_id,
                &big(r.amount)?,
                &r.currency,
                &r.status,
                &r.created,
            ],
        )?;
        Ok(())
    }

    fn get_refund(&mut self, scope: &Scope, id: &str) -> Result<Option<RefundRecord>> {
        self.query_opt(
            "SELECT id, account_id, livemode, payment_id, amount, currency, status, created FROM refunds \
             WHERE id = $1 AND account_id = $2 AND livemode = $3",
            &[&id, &scope.account, &scope.livemode],
        )?
        .as_ref()
        .map(refund)
        .transpose()
    }

    fn find_refund(&mut self, id: &str) -> Result<Option<RefundRecord>> {
        self.query_opt(
            "SELECT id, account_id, livemode, payment_id, amount, currency, status, created FROM refunds WHERE id = $1",
            &[&id],
        )?
        .as_ref()
        .map(refund)
        .transpose()
    }

    fn set_refund_status(&mut self, id: &str, status: &str) -> Result<bool> {
        Ok(self.execute("UPDATE refunds SET status = $2 WHERE id = $1 AND status <> $2", &[&id, &status])?
            == 1)
    }

    fn refunds_of(&mut self, payment_id: &str) -> Result<Vec<RefundRecord>> {
        self.query(
            "SELECT id, account_id, livemode, payment_id, amount, currency, status, created FROM refunds \
             WHERE payment_id = $1 ORDER BY created, id",
            &[&payment_id],
        )?
        .iter()
        .map(refund)
        .collect()
    }

    fn insert_dispute(&mut self, d: &DisputeRecord) -> Result<()> {
        self.execute(
            "INSERT INTO disputes (id, account_id, livemode, payment_id, amount, currency, reason, status, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &d.id,
                &d.account_id,
                &d.livemode,
                &d.payment_id,
                &big(d.amount)?,
                &d.currency,
                &d.reason,
                &d.status,
                &d.created,
            ],
        )?;
        Ok(())
    }

    fn disputes_of(&mut self, payment_id: &str) -> Result<Vec<DisputeRecord>> {
        self.query(
            "SELECT id, account_id, livemode, payment_id, amount, currency, reason, status, created FROM disputes \
             WHERE payment_id = $1 ORDER BY created, id",
            &[&payment_id],
        )?
        .iter()
        .map(|r| {
            Ok(DisputeRecord {
                id: r.get(0),
                account_id: r.get(1),
                livemode: r.get(2),
                payment_id: r.get(3),
                amount: unsigned(r.get(4))?,
                currency: r.get(5),
                reason: r.get(6),
                status: r.get(7),
                created: r.get(8),
            })
        })
        .collect()
    }
}
