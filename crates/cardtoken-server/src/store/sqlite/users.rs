use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::store::{Result, SessionRecord, UserRecord, UserRepo};

const USER_COLUMNS: &str = "id, account_id, email, password_hash, created";
const SESSION_COLUMNS: &str = "token_hash, user_id, csrf, livemode, created, last_seen, expires";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get(3)?,
        created: r.get(4)?,
    })
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        token_hash: r.get(0)?,
        user_id: r.get(1)?,
        csrf: r.get(2)?,
        livemode: r.get(3)?,
        created: r.get(4)?,
        last_seen: r.get(5)?,
        expires: r.get(6)?,
    })
}

impl UserRepo for SqliteTx<'_> {
    fn insert_user(&mut self, u: &UserRecord) -> Result<bool> {
        let sql = format!(
            "INSERT INTO dashboard_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO NOTHING"
        );
        let n = self.conn.prepare_cached(&sql)?.execute(params![
            u.id,
            u.account_id,
            u.email,
            u.password_hash,
            u.created
        ])?;
        Ok(n == 1)
    }

    fn get_user(&mut self, id: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE id = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row([id], user_from_row).optional()?)
    }

    fn find_user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE email = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row([email], user_from_row).optional()?)
    }

    fn list_users(&mut self, account: Option<&str>) -> Result<Vec<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([account], user_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn delete_user(&mut self, id: &str) -> Result<bool> {
        self.conn.prepare_cached("DELETE FROM dashboard_sessions WHERE user_id = ?1")?.execute([id])?;
        let n = self.conn.prepare_cached("DELETE FROM dashboard_users WHERE id = ?1")?.execute([id])?;
        Ok(n == 1)
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        let sql =
            format!("INSERT INTO dashboard_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        self.conn.prepare_cached(&sql)?.execute(params![
            s.token_hash,
            s.user_id,
            s.csrf,
            s.livemode,
            s.created,
            s.last_seen,
            s.expires
        ])?;
        Ok(())
    }

    fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM dashboard_sessions WHERE token_hash = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row([token_hash], session_from_row).optional()?)
    }

    fn touch_session(&mut self, token_hash: &[u8], last_seen: i64, expires: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE dashboard_sessions SET last_seen = ?2, expires = ?3 WHERE token_hash = ?1",
            )?
            .execute(params![token_hash, last_seen, expires])?;
        Ok(n == 1)
    }

    fn set_session_mode(&mut self, token_hash: &[u8], livemode: bool) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE dashboard_sessions SET livemode = ?2 WHERE token_hash = ?1")?
            .execute(params![token_hash, livemode])?;
        Ok(n == 1)
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM dashboard_sessions WHERE token_hash = ?1")?
            .execute([token_hash])?;
        Ok(n == 1)
    }

    fn delete_expired_sessions(&mut self, now: i64) -> Result<usize> {
        Ok(self.conn.prepare_cached("DELETE FROM dashboard_sessions WHERE expires <= ?1")?.execute([now])?)
    }
}
