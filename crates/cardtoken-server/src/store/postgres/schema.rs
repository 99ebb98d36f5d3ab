//! The PostgreSQL schema, one migration a step, recorded in `schema_migrations`. Instances starting
//! together take a session advisory lock, so one migrates and the others wait, then find it done.
//! PostgreSQL support starts at the schema SQLite reached in 0.2 (accounts and modes): there is no
//! older PostgreSQL database to migrate.

use postgres::Client;

use crate::store::{Result, StoreError};

/// The advisory lock key migrations hold.
const MIGRATION_LOCK: i64 = 0x6361_7264_746f_6b01;

pub const MIGRATIONS: &[&str] = &[
    // 1: accounts and keys, tokens, payments, refunds, disputes, idempotency records, webhooks, jobs,
    // monitoring, rate-limit buckets, settings.
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (id),
        livemode BOOLEAN NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
        publishable TEXT UNIQUE,
        secret_hash BYTEA UNIQUE,
        hint TEXT NOT NULL,
        created BIGINT NOT NULL,
        revoked BIGINT,
        expires BIGINT,
        frame_ancestors TEXT
    );
    CREATE INDEX api_keys_by_account ON api_keys (account_id, created);
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        key_id TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT false,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        bin TEXT NOT NULL,
        exp_month SMALLINT NOT NULL,
        exp_year SMALLINT NOT NULL,
        fingerprint TEXT NOT NULL,
        master_version INTEGER NOT NULL,
        wrapped_key BYTEA,
        card_ct BYTEA,
        cvc_ct BYTEA,
        cvc_epoch BIGINT
    );
    CREATE INDEX tokens_with_cvc_by_expiry ON tokens (expires) WHERE cvc_ct IS NOT NULL;
    CREATE INDEX tokens_unused_with_card ON tokens (expires) WHERE NOT used AND card_ct IS NOT NULL;
    CREATE TABLE payments (
        seq BIGSERIAL UNIQUE,
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        key_id TEXT NOT NULL,
        token_id TEXT NOT NULL REFERENCES tokens (id),
        amount BIGINT NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        amount_capturable BIGINT NOT NULL,
        amount_captured BIGINT NOT NULL,
        amount_refunded BIGINT NOT NULL CHECK (amount_refunded >= 0 AND amount_refunded <= amount_captured),
        capture BOOLEAN NOT NULL,
        client_secret TEXT NOT NULL,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        exp_month SMALLINT NOT NULL,
        exp_year SMALLINT NOT NULL,
        next_action_url TEXT,
        last_error_code TEXT,
        last_error_decline_code TEXT,
        last_error_message TEXT,
        description TEXT,
        metadata TEXT NOT NULL,
        created BIGINT NOT NULL,
        version BIGINT NOT NULL
    );
    CREATE INDEX payments_by_scope ON payments (account_id, livemode, seq);
    CREATE TABLE refunds (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount BIGINT NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE INDEX refunds_by_payment ON refunds (payment_id);
    CREATE TABLE disputes (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount BIGINT NOT NULL,
        currency TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE INDEX disputes_by_payment ON disputes (payment_id);
    CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint BYTEA NOT NULL,
        legacy BOOLEAN NOT NULL DEFAULT false,
        status INTEGER NOT NULL,
        response BYTEA NOT NULL,
        created BIGINT NOT NULL,
        PRIMARY KEY (owner, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency_keys (created);
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_until BIGINT,
        created BIGINT NOT NULL,
        deleted BIGINT
    );
    CREATE INDEX endpoints_by_scope ON webhook_endpoints (account_id, livemode);
    CREATE TABLE events (
        seq BIGSERIAL UNIQUE,
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        type TEXT NOT NULL,
        object_id TEXT,
        created BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_by_scope ON events (account_id, livemode, seq);
    CREATE INDEX events_by_object ON events (object_id);
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id),
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt BIGINT NOT NULL,
        created BIGINT NOT NULL,
        claimed_by TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE status = 'pending';
    CREATE INDEX deliveries_by_event ON deliveries (event_id);
    CREATE TABLE delivery_attempts (
        id BIGSERIAL PRIMARY KEY,
        delivery_id TEXT NOT NULL REFERENCES deliveries (id),
        attempted BIGINT NOT NULL,
        status_code INTEGER,
        duration_ms BIGINT NOT NULL,
        response_excerpt TEXT,
        error TEXT
    );
    CREATE INDEX attempts_by_delivery ON delivery_attempts (delivery_id);
    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        due BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT
    );
    CREATE INDEX jobs_due ON jobs (due);
    CREATE TABLE monitor_buckets (
        instance TEXT NOT NULL,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        width BIGINT NOT NULL,
        start BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (width, start, account_id, livemode, instance)
    );
    CREATE TABLE monitor_evaluations (slot BIGINT PRIMARY KEY);
    CREATE TABLE monitor_watches (
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        metric TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (account_id, livemode, metric)
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        raised_at BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX alerts_by_scope ON alerts (account_id, livemode, raised_at);
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE settings (name TEXT PRIMARY KEY, value BYTEA NOT NULL);",
    // 2: dashboard users (people of an account, signing in with a password hashed with Argon2id) and
    // their sessions (by the token's SHA-256).
    "CREATE TABLE dashboard_users (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (id),
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE INDEX dashboard_users_by_account ON dashboard_users (account_id, created);
    CREATE TABLE dashboard_sessions (
        token_hash BYTEA PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        livemode BOOLEAN NOT NULL,
        created BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);
    CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires);",
    // 3: an account may take cards only encrypted (`card_jwe`)
    "ALTER TABLE accounts ADD COLUMN require_encryption BOOLEAN NOT NULL DEFAULT false;",
    // 4: due deliveries by endpoint (each claim takes a few of every endpoint's, so that one endpoint's
    // backlog does not fill every claim)
    "CREATE INDEX deliveries_due_by_endpoint ON deliveries (endpoint_id, next_attempt, created) \
     WHERE status = 'pending';",
    // 5: CVCs leave the database: the instance that makes a token holds its CVC (`crate::cvcs`), and the
    // token says which one. The epochs' keys are destroyed with their unlogged tables: the CVCs stored
    // until now are unrecoverable, and tokens made before the upgrade pay without them.
    "DROP INDEX IF EXISTS tokens_with_cvc_by_expiry;
    ALTER TABLE tokens DROP COLUMN cvc_ct, DROP COLUMN cvc_epoch, ADD COLUMN cvc_holder TEXT;
    DO $$ DECLARE t TEXT; BEGIN
        FOR t IN SELECT tablename FROM pg_tables WHERE tablename LIKE 'cvc\\_key\\_e%' LOOP
            EXECUTE format('DROP TABLE IF EXISTS %I', t);
        END LOOP;
    END $$;",
    // 6: a bucket's take is one statement (so it can run outside a transaction, its commit not waiting
    // for the disk): the row says whether the last take fitted.
    "ALTER TABLE rate_buckets ADD COLUMN taken BOOLEAN NOT NULL DEFAULT true;",
];

/// Brings the schema up to date, one instance at a time.
pub fn migrate(client: &mut Client) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let outcome = (|| -> Result<()> {
        client.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")?;
        let done: i32 =
            client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(done).unwrap_or(0)) {
            let version = i32::try_from(i + 1).map_err(|_| StoreError::Open("too many migrations".into()))?;
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version])?;
            tx.commit()?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    outcome
}

/// Whether the schema is the one this build expects.
pub fn check(client: &mut Client) -> Result<()> {
    let done: i32 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0);
    if usize::try_from(done).ok() == Some(MIGRATIONS.len()) {
        Ok(())
    } else {
        Err(StoreError::Open(format!("schema version {done}, expected {}", MIGRATIONS.len())))
    }
}
