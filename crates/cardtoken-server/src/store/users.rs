//! Dashboard users (people who sign in, each belonging to one account) and their sessions. A session is
//! stored by the SHA-256 of its token, never the token, so a copy of the database opens no session.

use super::Result;

#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// `user_…`
    pub id: String,
    pub account_id: String,
    /// Lower-cased; unique across accounts (it is what people sign in with).
    pub email: String,
    /// The password's Argon2id hash, as a PHC string (`$argon2id$v=19$m=…`).
    pub password_hash: String,
    pub created: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserRecord({}, {}, {})", self.id, self.account_id, self.email)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session token (the cookie's value).
    pub token_hash: Vec<u8>,
    pub user_id: String,
    /// The token every change must carry (CSRF), shown only in the session's own pages.
    pub csrf: String,
    /// What the test/live switch selects.
    pub livemode: bool,
    pub created: i64,
    pub last_seen: i64,
    /// When it stops working (idle or absolute limit, whichever comes first).
    pub expires: i64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionRecord({}, livemode: {}, expires: {})", self.user_id, self.livemode, self.expires)
    }
}

pub trait UserRepo {
    /// Adds a user; false (and nothing written) when the email is taken.
    fn insert_user(&mut self, user: &UserRecord) -> Result<bool>;
    fn get_user(&mut self, id: &str) -> Result<Option<UserRecord>>;
    /// By lower-cased email.
    fn find_user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>>;
    /// Every user, or one account's, oldest first.
    fn list_users(&mut self, account: Option<&str>) -> Result<Vec<UserRecord>>;
    /// Removes a user and every session of theirs; false when there is none.
    fn delete_user(&mut self, id: &str) -> Result<bool>;

    fn insert_session(&mut self, session: &SessionRecord) -> Result<()>;
    /// The session a token's hash names (expired ones included: the caller decides).
    fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<SessionRecord>>;
    /// Records activity: new `last_seen` and `expires`; false when there is no such session.
    fn touch_session(&mut self, token_hash: &[u8], last_seen: i64, expires: i64) -> Result<bool>;
    /// Sets the test/live switch; false when there is no such session.
    fn set_session_mode(&mut self, token_hash: &[u8], livemode: bool) -> Result<bool>;
    /// Signs a session out; false when there was none.
    fn delete_session(&mut self, token_hash: &[u8]) -> Result<bool>;
    /// Deletes sessions that expired before `now`; answers how many.
    fn delete_expired_sessions(&mut self, now: i64) -> Result<usize>;
}
