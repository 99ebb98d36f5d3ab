use postgres::Row;

use super::PgTx;
use crate::store::{Result, SessionRecord, UserRecord, UserRepo};

fn user(r: &Row) -> UserRecord {
    UserRecord {
        id: r.get(0),
        account_id: r.get(1),
        email: r.get(2),
        password_hash: r.get(3),
        created: r.get(4),
    }
}

fn session(r: &Row) -> SessionRecord {
    SessionRecord {
        token_hash: r.get(0),
        user_id: r.get(1),
        csrf: r.get(2),
        livemode: r.get(3),
        created: r.get(4),
        last_seen: r.get(5),
        expires: r.get(6),
    }
}

impl UserRepo for PgTx<'_> {
    fn insert_user(&mut self, u: &UserRecord) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO dashboard_users (id, account_id, email, password_hash, created) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (email) DO NOTHING",
            &[&u.id, &u.account_id, &u.email, &u.password_hash, &u.created],
        )? == 1)
    }

    fn get_user(&mut self, id: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, email, password_hash, created FROM dashboard_users WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(user))
    }

    fn find_user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .query_opt(
                "SELECT id, account_id, email, password_hash, created FROM dashboard_users WHERE email = $1",
                &[&email],
            )?
            .as_ref()
            .map(user))
    }

    fn list_users(&mut self, account: Option<&str>) -> Result<Vec<UserRecord>> {
        Ok(self
            .query(
                "SELECT id, account_id, email, password_hash, created FROM dashboard_users \
                 WHERE $1::TEXT IS NULL OR account_id = $1 ORDER BY created, id",
                &[&account],
            )?
            .iter()
            .map(user)
            .collect())
    }

    fn delete_user(&mut self, id: &str) -> Result<bool> {
        self.execute("DELETE FROM dashboard_sessions WHERE user_id = $1", &[&id])?;
        Ok(self.execute("DELETE FROM dashboard_users WHERE id = $1", &[&id])? == 1)
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.execute(
            "INSERT INTO dashboard_sessions (token_hash, user_id, csrf, livemode, created, last_seen, expires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&s.token_hash, &s.user_id, &s.csrf, &s.livemode, &s.created, &s.last_seen, &s.expires],
        )?;
        Ok(())
    }

    fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        Ok(self
            .query_opt(
                "SELECT token_hash, user_id, csrf, livemode, created, last_seen, expires FROM dashboard_sessions \
                 WHERE token_hash = $1",
                &[&token_hash],
            )?
            .as_ref()
            .map(session))
    }

    fn touch_session(&mut self, token_hash: &[u8], last_seen: i64, expires: i64) -> Result<bool> {
        Ok(self.execute(
            "UPDATE dashboard_sessions SET last_seen = $2, expires = $3 WHERE token_hash = $1",
            &[&token_hash, &last_seen, &expires],
        )? == 1)
    }

    fn set_session_mode(&mut self, token_hash: &[u8], livemode: bool) -> Result<bool> {
        Ok(self.execute(
            "UPDATE dashboard_sessions SET livemode = $2 WHERE token_hash = $1",
            &[&token_hash, &livemode],
        )? == 1)
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<bool> {
        Ok(self.execute("DELETE FROM dashboard_sessions WHERE token_hash = $1", &[&token_hash])? == 1)
    }

    fn delete_expired_sessions(&mut self, now: i64) -> Result<usize> {
        Ok(self.execute("DELETE FROM dashboard_sessions WHERE expires <= $1", &[&now])? as usize)
    }
}
