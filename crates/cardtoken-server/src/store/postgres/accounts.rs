use postgres::Row;

use super::PgTx;
use crate::store::{AccountRecord, AccountRepo, ApiKeyRecord, KeyKind, Result};

fn key(r: &Row) -> ApiKeyRecord {
    let kind: String = r.get(3);
    ApiKeyRecord {
        id: r.get(0),
        account_id: r.get(1),
        livemode: r.get(2),
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Publishable),
        publishable: r.get(4),
        secret_hash: r.get(5),
        hint: r.get(6),
        created: r.get(7),
        revoked: r.get(8),
        expires: r.get(9),
        frame_ancestors: r.get(10),
    }
}

fn account(r: &Row) -> AccountRecord {
    AccountRecord { id: r.get(0), name: r.get(1), created: r.get(2), require_encryption: r.get(3) }
}

impl AccountRepo for PgTx<'_> {
    fn insert_account(&mut self, a: &AccountRecord) -> Result<()> {
        self.execute(
            "INSERT INTO accounts (id, name, created, require_encryption) VALUES ($1, $2, $3, $4)",
            &[&a.id, &a.name, &a.created, &a.require_encryption],
        )?;
        Ok(())
    }

    fn get_account(&mut self, id: &str) -> Result<Option<AccountRecord>> {
        Ok(self
            .query_opt("SELECT id, name, created, require_encryption FROM accounts WHERE id = $1", &[&id])?
            .as_ref()
            .map(account))
    }

    fn list_accounts(&mut self) -> Result<Vec<AccountRecord>> {
        Ok(self
            .query("SELECT id, name, created, require_encryption FROM accounts ORDER BY created, id", &[])?
            .iter()
            .map(account)
            .collect())
    }

    fn set_require_encryption(&mut self, id: &str, required: bool) -> Result<bool> {
        Ok(self.execute("UPDATE accounts SET require_encryption = $2 WHERE id = $1", &[&id, &required])? == 1)
    }

    fn insert_key(&mut self, k: &ApiKeyRecord) -> Result<()> {
        self.execute(
            "INSERT INTO api_keys (id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, \
             expires, frame_ancestors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &k.id,
                &k.account_id,
                &k.livemode,
                &k.kind.as_str(),
                &k.publishable,
                &k.secret_hash,
                &k.hint,
                &k.created,
                &k.revoked,
                &k.expires,
                &k.frame_ancestors,
            ],
        )?;
        Ok(())
    }

    fn find_publishable_key(&mut self, pk: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, expires, \
                 frame_ancestors FROM api_keys WHERE publishable = $1",
                &[&pk],
            )?
            .as_ref()
            .map(key))
    }

    fn find_secret_key(&mut self, hash: &[u8]) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, expires, \
                 frame_ancestors FROM api_keys WHERE secret_hash = $1",
                &[&hash],
            )?
            .as_ref()
            .map(key))
    }

    fn get_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, expires, \
                 frame_ancestors FROM api_keys WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(key))
    }

    fn list_keys(&mut self, account: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        Ok(self
            .query(
                "SELECT id, account_id, livemode, kind, publishable, secret_hash, hint, created, revoked, expires, \
                 frame_ancestors FROM api_keys WHERE $1::TEXT IS NULL OR account_id = $1 ORDER BY created, id",
                &[&account],
            )?
            .iter()
            .map(key)
            .collect())
    }

    fn revoke_key(&mut self, id: &str, now: i64) -> Result<bool> {
        Ok(self
            .execute("UPDATE api_keys SET revoked = $2 WHERE id = $1 AND revoked IS NULL", &[&id, &now])?
            == 1)
    }

    fn expire_key(&mut self, id: &str, at: i64) -> Result<bool> {
        Ok(self.execute(
            "UPDATE api_keys SET expires = $2 WHERE id = $1 AND revoked IS NULL AND (expires IS NULL OR expires > $2)",
            &[&id, &at],
        )? == 1)
    }

    fn set_frame_ancestors(&mut self, id: &str, value: Option<&str>) -> Result<bool> {
        Ok(self.execute(
            "UPDATE api_keys SET frame_ancestors = $2 WHERE id = $1 AND kind = 'publishable'",
            &[&id, &value],
        )? == 1)
    }
}
