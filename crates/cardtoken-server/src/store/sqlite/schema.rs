//! The SQLite schema: one migration a step; `PRAGMA user_version` records how many ran. Migrations 1–4
//! are the 0.1.0 release's; 5 brings accounts and modes, keyed idempotency fingerprints, CVC epoch keys,
//! leases, shared monitoring and rate-limit buckets; 6 the settings; 7 dashboard users and sessions. A
//! 0.1.0 database migrates: its keys and data land in one account.

/// Migrations after which `PRAGMA foreign_key_check` must pass (they rebuild tables with foreign keys
/// off).
pub const REBUILDS: &[usize] = &[5, 10];

pub const MIGRATIONS: &[&str] = &[
    // 1: keys and tokens
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
        publishable TEXT UNIQUE,
        secret_hash BLOB UNIQUE,
        hint TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        created INTEGER NOT NULL,
        revoked INTEGER
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        livemode INTEGER NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        bin TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        master_version INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL,
        card_ct BLOB NOT NULL,
        cvc_ct BLOB
    );
    CREATE INDEX tokens_with_cvc_by_expiry ON tokens (expires) WHERE cvc_ct IS NOT NULL;",
    // 2: payments, refunds, idempotency keys
    "CREATE TABLE payments (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        livemode INTEGER NOT NULL,
        token_id TEXT NOT NULL REFERENCES tokens (id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        amount_capturable INTEGER NOT NULL,
        amount_captured INTEGER NOT NULL,
        amount_refunded INTEGER NOT NULL CHECK (amount_refunded <= amount_captured),
        capture INTEGER NOT NULL,
        client_secret TEXT NOT NULL,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        next_action_url TEXT,
        last_error_code TEXT,
        last_error_decline_code TEXT,
        last_error_message TEXT,
        description TEXT,
        metadata TEXT NOT NULL,
        created INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE TABLE refunds (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX refunds_by_payment ON refunds (payment_id);
    CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash BLOB NOT NULL,
        status INTEGER,
        response BLOB,
        created INTEGER NOT NULL,
        PRIMARY KEY (owner, key)
    );",
    // 3: webhooks (endpoints, the event outbox, deliveries and their attempts), jobs, disputes
    "CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_until INTEGER,
        created INTEGER NOT NULL,
        deleted INTEGER
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        created INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id),
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt INTEGER NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE status = 'pending';
    CREATE INDEX deliveries_by_event ON deliveries (event_id);
    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL REFERENCES deliveries (id),
        attempted INTEGER NOT NULL,
        status_code INTEGER,
        duration_ms INTEGER NOT NULL,
        response_excerpt TEXT,
        error TEXT
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        due INTEGER NOT NULL
    );
    CREATE TABLE disputes (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 4: who may frame a publishable key's card fields
    "ALTER TABLE api_keys ADD COLUMN frame_ancestors TEXT;",
    // 5: accounts and modes. Every object gets its account (the one account a 0.1.0 database's keys
    // land in) and mode; tokens are rebuilt so that card data can be purged and CVCs move to epoch keys
    // (0.1.0's CVCs, under the data keys, are erased); idempotency records are keyed by (account, mode)
    // and their unkeyed digests marked for re-keying at start-up.
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    INSERT INTO accounts (id, name, created)
        SELECT 'acct_' || lower(hex(randomblob(12))), 'Default', MIN(created) FROM api_keys HAVING COUNT(*) > 0;
    ALTER TABLE api_keys ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN expires INTEGER;
    UPDATE api_keys SET account_id = (SELECT id FROM accounts);
    CREATE INDEX api_keys_by_account ON api_keys (account_id, created);

    CREATE TABLE tokens_v5 (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        bin TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        master_version INTEGER NOT NULL,
        wrapped_key BLOB,
        card_ct BLOB,
        cvc_ct BLOB,
        cvc_epoch INTEGER
    );
    INSERT INTO tokens_v5
        SELECT id, (SELECT id FROM accounts), livemode, key_id, created, expires, used, brand, last4, bin,
               exp_month, exp_year, fingerprint, master_version, wrapped_key, card_ct, NULL, NULL
        FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_v5 RENAME TO tokens;
    CREATE INDEX tokens_with_cvc_by_expiry ON tokens (expires) WHERE cvc_ct IS NOT NULL;
    CREATE INDEX tokens_unused_with_card ON tokens (expires) WHERE used = 0 AND card_ct IS NOT NULL;
    CREATE TABLE cvc_keys (
        epoch INTEGER PRIMARY KEY,
        master_version INTEGER NOT NULL,
        wrapped BLOB NOT NULL
    );

    ALTER TABLE payments ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    UPDATE payments SET account_id = (SELECT id FROM accounts);
    CREATE INDEX payments_by_scope ON payments (account_id, livemode, seq);
    ALTER TABLE refunds ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE refunds ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
    UPDATE refunds SET account_id = (SELECT id FROM accounts),
        livemode = (SELECT p.livemode FROM payments p WHERE p.id = refunds.payment_id);
    ALTER TABLE disputes ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE disputes ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
    UPDATE disputes SET account_id = (SELECT id FROM accounts),
        livemode = (SELECT p.livemode FROM payments p WHERE p.id = disputes.payment_id);
    CREATE INDEX disputes_by_payment ON disputes (payment_id);

    ALTER TABLE webhook_endpoints ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE webhook_endpoints ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
    UPDATE webhook_endpoints SET account_id = (SELECT id FROM accounts);
    CREATE INDEX endpoints_by_scope ON webhook_endpoints (account_id, livemode);
    ALTER TABLE events ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN livemode INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN object_id TEXT;
    UPDATE events SET account_id = (SELECT id FROM accounts), object_id = json_extract(body, '$.data.object.id');
    CREATE INDEX events_by_scope ON events (account_id, livemode, seq);
    CREATE INDEX events_by_object ON events (object_id);
    ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    CREATE INDEX jobs_due ON jobs (due);

    DELETE FROM idempotency_keys WHERE status IS NULL;
    CREATE TABLE idempotency_v5 (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint BLOB NOT NULL,
        legacy INTEGER NOT NULL DEFAULT 0,
        status INTEGER NOT NULL,
        response BLOB NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (owner, key)
    );
    INSERT INTO idempotency_v5 (owner, key, fingerprint, legacy, status, response, created)
        SELECT COALESCE((SELECT k.account_id || ':' || CASE k.livemode WHEN 1 THEN 'live' ELSE 'test' END
                         FROM api_keys k WHERE k.id = i.owner), i.owner),
               i.key, i.request_hash, 1, i.status, i.response, i.created
        FROM idempotency_keys i;
    DROP TABLE idempotency_keys;
    ALTER TABLE idempotency_v5 RENAME TO idempotency_keys;
    CREATE INDEX idempotency_by_age ON idempotency_keys (created);

    CREATE TABLE monitor_buckets (
        instance TEXT NOT NULL,
        account_id TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        width INTEGER NOT NULL,
        start INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (width, start, account_id, livemode, instance)
    );
    CREATE TABLE monitor_evaluations (slot INTEGER PRIMARY KEY);
    CREATE TABLE monitor_watches (
        account_id TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        metric TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (account_id, livemode, metric)
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        raised_at INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX alerts_by_scope ON alerts (account_id, livemode, raised_at);
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated REAL NOT NULL
    );",
    // 6: deployment-wide settings (the key check)
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    // 7: dashboard users (people of an account, signing in with a password hashed with Argon2id) and
    // their sessions (by the token's SHA-256).
    "CREATE TABLE dashboard_users (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (id),
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX dashboard_users_by_account ON dashboard_users (account_id, created);
    CREATE TABLE dashboard_sessions (
        token_hash BLOB PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        livemode INTEGER NOT NULL,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);
    CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires);",
    // 8: an account may take cards only encrypted (`card_jwe`)
    "ALTER TABLE accounts ADD COLUMN require_encryption INTEGER NOT NULL DEFAULT 0;",
    // 9: due deliveries by endpoint (each claim takes a few of every endpoint's, so that one endpoint's
    // backlog does not fill every claim)
    "CREATE INDEX deliveries_due_by_endpoint ON deliveries (endpoint_id, next_attempt, created) \
     WHERE status = 'pending';",
    // 10: CVCs leave the database: the instance that makes a token holds its CVC (`crate::cvcs`), and
    // the token says which one. The CVCs stored until now are erased (secure_delete; the log is truncated
    // after) and their epochs' keys destroyed: tokens made before the upgrade pay without their CVC.
    "DROP INDEX IF EXISTS tokens_with_cvc_by_expiry;
    UPDATE tokens SET cvc_ct = NULL WHERE cvc_ct IS NOT NULL;
    ALTER TABLE tokens DROP COLUMN cvc_ct;
    ALTER TABLE tokens DROP COLUMN cvc_epoch;
    ALTER TABLE tokens ADD COLUMN cvc_holder TEXT;
    DELETE FROM cvc_keys;
    DROP TABLE cvc_keys;",
];
