//! The storage conformance suite: one set of behaviours every backend must have, run on SQLite and (when
//! `CARDTOKEN_TEST_POSTGRES` names a cluster) on PostgreSQL, each test on a fresh database. The domain
//! relies on exactly these: scoping, compare-and-set, claims that never overlap, leases that end,
//! idempotency keys held by one transaction at a time, CVC keys that go, shared buckets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardtoken_server::config::Config;
use cardtoken_server::startup::open_store;
use cardtoken_server::store::{
    self, AccountRecord, ApiKeyRecord, EndpointRecord, IdempotencyRecord, KeyKind, NewEvent, NewJob,
    PaymentFilter, PaymentRecord, Scope, Store, StoredBucket, TokenRecord,
};
use cardtoken_types::wire::PaymentStatus;

/// The backends to run on: SQLite always, PostgreSQL when the tests have a cluster.
async fn backends() -> Vec<(&'static str, Arc<dyn Store>, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_tests(dir.path());
    out.push(("sqlite", open_store(&config).await.unwrap(), dir));
    if let Ok(base) = std::env::var("CARDTOKEN_TEST_POSTGRES") {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("store_{}", cardtoken_server::ids::random_alnum(12).unwrap().to_lowercase());
        let admin = base.clone();
        let db = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        })
        .await
        .unwrap();
        let mut config = Config::for_tests(dir.path());
        config.database_url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        out.push(("postgres", open_store(&config).await.unwrap(), dir));
    }
    out
}

fn scope(a: &str) -> Scope {
    Scope::new(a, false)
}

/// A webhook endpoint of account A, for every event.
fn endpoint(id: &str) -> EndpointRecord {
    EndpointRecord {
        id: id.into(),
        account_id: "acct_a".into(),
        livemode: false,
        url: "http://127.0.0.1:9/".into(),
        events: vec!["*".into()],
        enabled: true,
        secret: "whsec_x".into(),
        previous_secret: None,
        previous_until: None,
        created: 1,
    }
}

/// Event `i` of account A.
fn event(i: usize) -> NewEvent {
    NewEvent {
        id: format!("evt_{i}"),
        account_id: "acct_a".into(),
        livemode: false,
        kind: "payment.succeeded".into(),
        object_id: None,
        created: 10,
        body: "{}".into(),
    }
}

fn token(id: &str, account: &str, expires: i64) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        account_id: account.into(),
        livemode: false,
        key_id: "key_x".into(),
        created: 100,
        expires,
        used: false,
        brand: "visa".into(),
        last4: "4242".into(),
        bin: "424242".into(),
        exp_month: 12,
        exp_year: 2034,
        fingerprint: "fp".into(),
        master_version: 1,
        wrapped_key: Some(vec![1; 60]),
        card_ct: Some(vec![2; 60]),
        cvc_holder: Some("hold_a".into()),
    }
}

fn payment(id: &str, account: &str, token: &str, amount: u64) -> PaymentRecord {
    PaymentRecord {
        id: id.into(),
        account_id: account.into(),
        livemode: false,
        key_id: "key_s".into(),
        token_id: token.into(),
        amount,
        currency: "jpy".into(),
        status: PaymentStatus::Succeeded,
        amount_capturable: 0,
        amount_captured: amount,
        amount_refunded: 0,
        capture: true,
        client_secret: format!("{id}_secret"),
        brand: "visa".into(),
        last4: "4242".into(),
        exp_month: 12,
        exp_year: 2034,
        next_action_url: None,
        last_error_code: None,
        last_error_decline_code: None,
        last_error_message: None,
        description: None,
        metadata: "{}".into(),
        created: 100,
        version: 0,
    }
}

async fn seed_accounts(s: &Arc<dyn Store>) {
    store::write(s, |tx| {
        for a in ["acct_a", "acct_b"] {
            tx.insert_account(&AccountRecord {
                id: a.into(),
                name: a.into(),
                created: 1,
                require_encryption: false,
            })?;
        }
        // The keys the records below name (SQLite's schema holds payments to them).
        for (id, kind) in [("key_x", KeyKind::Publishable), ("key_s", KeyKind::Secret)] {
            tx.insert_key(&ApiKeyRecord {
                id: id.into(),
                account_id: "acct_a".into(),
                livemode: false,
                kind,
                publishable: (kind == KeyKind::Publishable).then(|| format!("pk_test_{id}")),
                secret_hash: (kind == KeyKind::Secret).then(|| vec![9; 32]),
                hint: id.into(),
                created: 1,
                revoked: None,
                expires: None,
                frame_ancestors: None,
            })?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn objects_are_seen_only_in_their_own_account_and_mode() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        store::write(&s, |tx| {
            tx.insert_token(&token("tok_a", "acct_a", 1000))?;
            tx.insert_payment(&payment("pay_a", "acct_a", "tok_a", 500))?;
            tx.insert_endpoint(&endpoint("we_a"))?;
            tx.insert_events(&[NewEvent {
                id: "evt_a".into(),
                account_id: "acct_a".into(),
                livemode: false,
                kind: "payment.succeeded".into(),
                object_id: Some("pay_a".into()),
                created: 1,
                body: "{}".into(),
            }])
        })
        .await
        .unwrap();
        let (a, b, live) = (scope("acct_a"), scope("acct_b"), Scope::new("acct_a", true));
        for other in [b, live] {
            let o = other.clone();
            let seen = store::read(&s, move |tx| {
                Ok((
                    tx.get_token(&o, "tok_a")?.is_some(),
                    tx.get_payment(&o, "pay_a")?.is_some(),
                    tx.list_payments(&o, &PaymentFilter::default(), 10, None)?.0.len(),
                    tx.get_event(&o, "evt_a")?.is_some(),
                    tx.list_events(&o, 10, None, None, None)?.0.len(),
                    tx.list_endpoints(&o)?.len(),
                    tx.get_endpoint(&o, "we_a")?.is_some(),
                ))
            })
            .await
            .unwrap();
            assert_eq!(seen, (false, false, 0, false, 0, 0, false), "{name}: {other:?} sees nothing of A's");
            let o = other.clone();
            let changed = store::write(&s, move |tx| {
                Ok((
                    tx.lock_payment(&o, "pay_a")?.is_some(),
                    tx.use_token(&o, "tok_a", 0)?,
                    tx.delete_endpoint(&o, "we_a", 5)?,
                    tx.redeliver_event(&o, "evt_a", None, 5)?,
                ))
            })
            .await
            .unwrap();
            assert_eq!(changed, (false, false, false, None), "{name}: {other:?} changes nothing of A's");
        }
        let deliveries = store::read(&s, move |tx| tx.deliveries_of_event(&a, "evt_a")).await.unwrap();
        assert_eq!(deliveries.len(), 1, "{name}: A's event was queued for A's endpoint");
    }
}

#[tokio::test]
async fn a_token_is_used_once_and_a_payment_changes_over_the_version_it_was_read_at() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        store::write(&s, |tx| {
            tx.insert_token(&token("tok_1", "acct_a", 1000))?;
            tx.insert_token(&token("tok_2", "acct_a", 50))?;
            tx.insert_payment(&payment("pay_1", "acct_a", "tok_1", 900))
        })
        .await
        .unwrap();
        let a = scope("acct_a");
        let uses = store::write(&s, move |tx| {
            Ok([
                tx.use_token(&a, "tok_1", 10)?,
                tx.use_token(&a, "tok_1", 10)?,
                tx.use_token(&a, "tok_2", 60)?,
            ])
        })
        .await
        .unwrap();
        assert_eq!(uses, [true, false, false], "{name}: once, and never once expired");
        let a = scope("acct_a");
        let t = store::read(&s, move |tx| tx.get_token(&a, "tok_1")).await.unwrap().unwrap();
        assert!(t.used && t.cvc_holder.as_deref() == Some("hold_a"), "{name}: used, its holder kept");

        let a = scope("acct_a");
        let versions = store::write(&s, move |tx| {
            let p = tx.lock_payment(&a, "pay_1")?.unwrap();
            let first = tx.update_payment(&PaymentRecord { amount_refunded: 100, ..p.clone() })?;
            let stale = tx.update_payment(&PaymentRecord { amount_refunded: 200, ..p })?;
            Ok((first, stale, tx.get_payment(&a, "pay_1")?.unwrap()))
        })
        .await
        .unwrap();
        assert_eq!((versions.0, versions.1), (true, false), "{name}: compare-and-set on the version");
        assert_eq!((versions.2.amount_refunded, versions.2.version), (100, 1));
        // The schema refuses to refund more than was captured, whatever the code does.
        let a = scope("acct_a");
        let over = store::write(&s, move |tx| {
            let p = tx.lock_payment(&a, "pay_1")?.unwrap();
            tx.update_payment(&PaymentRecord { amount_refunded: 901, ..p })
        })
        .await;
        assert!(over.is_err(), "{name}: the CHECK holds");
    }
}

#[tokio::test]
async fn payments_list_newest_first_with_filters_and_pages() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        store::write(&s, |tx| {
            for i in 0..5u64 {
                tx.insert_token(&token(&format!("tok_{i}"), "acct_a", 1000))?;
                let mut p = payment(&format!("pay_{i}"), "acct_a", &format!("tok_{i}"), 100 + i);
                p.created = 100 + i as i64;
                if i == 3 {
                    p.status = PaymentStatus::Failed;
                    p.last4 = "0002".into();
                }
                tx.insert_payment(&p)?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let a = scope("acct_a");
        let pages = store::read(&s, move |tx| {
            let first = tx.list_payments(&a, &PaymentFilter::default(), 2, None)?;
            let second = tx.list_payments(&a, &PaymentFilter::default(), 2, Some("pay_3"))?;
            let failed = tx.list_payments(
                &a,
                &PaymentFilter { status: Some(PaymentStatus::Failed), ..Default::default() },
                10,
                None,
            )?;
            let last4 = tx.list_payments(
                &a,
                &PaymentFilter { last4: Some("4242".into()), ..Default::default() },
                10,
                None,
            )?;
            let window = tx.list_payments(
                &a,
                &PaymentFilter { created_from: Some(101), created_until: Some(103), ..Default::default() },
                10,
                None,
            )?;
            let amount =
                tx.list_payments(&a, &PaymentFilter { amount: Some(104), ..Default::default() }, 10, None)?;
            Ok([first, second, failed, last4, window, amount])
        })
        .await
        .unwrap();
        let ids =
            |p: &(Vec<PaymentRecord>, bool)| (p.0.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), p.1);
        assert_eq!(ids(&pages[0]), (vec!["pay_4".into(), "pay_3".into()], true), "{name}");
        assert_eq!(ids(&pages[1]), (vec!["pay_2".into(), "pay_1".into()], true), "{name}");
        assert_eq!(ids(&pages[2]).0, vec!["pay_3".to_string()], "{name}");
        assert_eq!(ids(&pages[3]).0.len(), 4, "{name}");
        assert_eq!(ids(&pages[4]).0, vec!["pay_2".to_string(), "pay_1".into()], "{name}");
        assert_eq!(ids(&pages[5]).0, vec!["pay_4".to_string()], "{name}");
    }
}

async fn seed_deliveries(s: &Arc<dyn Store>, endpoints: usize, per_endpoint: usize) {
    store::write(s, move |tx| {
        for e in 0..endpoints {
            tx.insert_endpoint(&endpoint(&format!("we_{e}")))?;
        }
        tx.insert_events(&(0..per_endpoint).map(event).collect::<Vec<_>>())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrent_claims_never_overlap_leases_end_and_releases_give_back() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        seed_deliveries(&s, 4, 30).await; // 120 deliveries
        let mut tasks = Vec::new();
        for w in 0..6 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..10 {
                    let worker = format!("w{w}");
                    let got = store::write(&s, move |tx| tx.claim_deliveries(20, 80, 8, 100, &worker))
                        .await
                        .unwrap();
                    mine.extend(got.into_iter().map(|d| d.id));
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: BTreeSet<_> = all.iter().collect();
        assert_eq!((all.len(), unique.len()), (120, 120), "{name}: every delivery claimed once");
        // While the leases run, nothing is due; after them (80), everything is again.
        let later = store::write(&s, |tx| {
            Ok((
                tx.claim_deliveries(79, 200, 500, 500, "x")?.len(),
                tx.claim_deliveries(80, 300, 500, 500, "y")?.len(),
            ))
        })
        .await
        .unwrap();
        assert_eq!(later, (0, 120), "{name}: a claim lasts its lease, then another worker takes over");
        let released = store::write(&s, |tx| tx.release_deliveries("y", 90)).await.unwrap();
        assert_eq!(released, 120, "{name}: a stopping worker gives its claims back");
        // At most `per_endpoint` of one endpoint in flight.
        let limited = store::write(&s, |tx| tx.claim_deliveries(95, 200, 500, 2, "z")).await.unwrap();
        assert_eq!(limited.len(), 8, "{name}: 4 endpoints × 2");
    }
}

#[tokio::test]
async fn one_endpoints_backlog_does_not_keep_another_endpoints_delivery_out_of_the_claim() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        store::write(&s, |tx| {
            // 300 events for a slow endpoint, then one more once a second endpoint exists.
            tx.insert_endpoint(&endpoint("we_slow"))?;
            tx.insert_events(&(0..300).map(event).collect::<Vec<_>>())?;
            tx.insert_endpoint(&endpoint("we_other"))?;
            tx.insert_events(&[event(300)])
        })
        .await
        .unwrap();
        let claimed = store::write(&s, |tx| tx.claim_deliveries(20, 80, 8, 4, "w")).await.unwrap();
        let by: Vec<&str> = claimed.iter().map(|d| d.endpoint_id.as_str()).collect();
        assert_eq!(by.iter().filter(|e| **e == "we_slow").count(), 4, "{name}: {by:?}");
        assert_eq!(by.iter().filter(|e| **e == "we_other").count(), 1, "{name}: {by:?}");
        // The slow endpoint's four in flight: the next claim gives it none, and nothing else is due.
        let next = store::write(&s, |tx| tx.claim_deliveries(21, 80, 8, 4, "w")).await.unwrap();
        assert!(next.is_empty(), "{name}: {:?}", next.iter().map(|d| &d.endpoint_id).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn jobs_are_claimed_once_and_finished_once() {
    for (name, s, _dir) in backends().await {
        store::write(&s, |tx| {
            let jobs: Vec<NewJob> = (0..40)
                .map(|i| NewJob { kind: "dispute".into(), subject: format!("pay_{i}"), due: 10 })
                .collect();
            tx.insert_jobs(&jobs)
        })
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("w{w}");
                let mut mine = Vec::new();
                for _ in 0..5 {
                    let w = worker.clone();
                    mine.extend(store::write(&s, move |tx| tx.claim_jobs(20, 60, 5, &w)).await.unwrap());
                }
                mine
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.extend(t.await.unwrap().into_iter().map(|j| j.id));
        }
        let unique: BTreeSet<_> = ids.iter().copied().collect();
        assert_eq!((ids.len(), unique.len()), (40, 40), "{name}");
        let id = ids[0];
        let finished =
            store::write(&s, move |tx| Ok((tx.finish_job(id)?, tx.finish_job(id)?))).await.unwrap();
        assert_eq!(finished, (true, false), "{name}: finished once");
    }
}

#[tokio::test]
async fn an_idempotency_key_is_held_by_one_transaction_at_a_time() {
    for (name, s, _dir) in backends().await {
        // The first transaction takes the key and holds it a while; the second tries meanwhile.
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let s1 = s.clone();
        let first = tokio::spawn(async move {
            store::write(&s1, move |tx| {
                let got = tx.lock_idempotency_key("acct_a:test", "k")?;
                let _ = held_tx.send(());
                std::thread::sleep(Duration::from_millis(300));
                Ok((got, Instant::now()))
            })
            .await
            .unwrap()
        });
        // (On SQLite the writer is busy with the first: the second waits in line, never overlaps.)
        tokio::task::spawn_blocking(move || held_rx.recv().unwrap()).await.unwrap();
        let second =
            store::write(&s, |tx| Ok((tx.lock_idempotency_key("acct_a:test", "k")?, Instant::now())))
                .await
                .unwrap();
        let (got_first, first_done) = first.await.unwrap();
        assert!(got_first, "{name}");
        assert!(!second.0 || second.1 >= first_done, "{name}: never held by two transactions at once");
        // Records: put, replace, purge.
        let rec = |status: u16, created: i64| IdempotencyRecord {
            fingerprint: vec![7; 32],
            status,
            body: b"{}".to_vec(),
            created,
        };
        let found = store::write(&s, move |tx| {
            tx.put_idempotency("o", "k", &rec(200, 10))?;
            tx.put_idempotency("o", "k", &rec(402, 20))?;
            let got = tx.get_idempotency("o", "k")?;
            let purged = tx.purge_idempotency(21)?;
            Ok((got, purged, tx.get_idempotency("o", "k")?))
        })
        .await
        .unwrap();
        assert_eq!(found.0.map(|r| (r.status, r.created)), Some((402, 20)), "{name}");
        assert_eq!((found.1, found.2), (1, None), "{name}");
    }
}

#[tokio::test]
async fn rate_buckets_settings_and_monitoring_rows_are_shared_state() {
    for (name, s, _dir) in backends().await {
        let waits = store::write(&s, |tx| {
            let mut w = Vec::new();
            for _ in 0..4 {
                w.push(tx.take_tokens("k", 3.0, 0.5, 1.0, 100.0)?);
            }
            w.push(tx.take_tokens("k", 3.0, 0.5, 1.0, 102.0)?);
            Ok(w)
        })
        .await
        .unwrap();
        assert_eq!(waits, vec![0.0, 0.0, 0.0, 2.0, 0.0], "{name}: 3 at once, then one more after 2 s");
        let settings = store::write(&s, |tx| {
            tx.insert_setting("key-check:x", b"one")?;
            tx.insert_setting("key-check:x", b"two")?;
            tx.get_setting("key-check:x")
        })
        .await
        .unwrap();
        assert_eq!(settings.as_deref(), Some(&b"one"[..]), "{name}: the first value stays");
        let bucket = |instance: &str, data: &str| StoredBucket {
            instance: instance.into(),
            account_id: "acct_a".into(),
            livemode: false,
            width: 10,
            start: 100,
            data: data.into(),
        };
        let (b1, b2, b3) = (
            bucket("i1", "{\"requests\":1}"),
            bucket("i1", "{\"requests\":5}"),
            bucket("i2", "{\"requests\":2}"),
        );
        let rows = store::write(&s, move |tx| {
            tx.put_buckets(&[b1, b3])?;
            tx.put_buckets(&[b2])?;
            let claims = (tx.claim_evaluation(10)?, tx.claim_evaluation(10)?);
            Ok((tx.buckets(Some(&scope("acct_a")), 10, 0)?, claims))
        })
        .await
        .unwrap();
        let mut data: Vec<String> = rows.0.iter().map(|b| format!("{}:{}", b.instance, b.data)).collect();
        data.sort();
        assert_eq!(
            data,
            vec!["i1:{\"requests\":5}", "i2:{\"requests\":2}"],
            "{name}: one row per instance, replaced"
        );
        assert_eq!(rows.1, (true, false), "{name}: a time slot is evaluated once");
    }
}

#[tokio::test]
async fn keys_are_found_by_what_the_caller_holds() {
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        let key = ApiKeyRecord {
            id: "key_1".into(),
            account_id: "acct_a".into(),
            livemode: true,
            kind: KeyKind::Secret,
            publishable: None,
            secret_hash: Some(vec![4; 32]),
            hint: "sk_live_…abcd".into(),
            created: 1,
            revoked: None,
            expires: None,
            frame_ancestors: None,
        };
        let found = store::write(&s, move |tx| {
            tx.insert_key(&key)?;
            let by_hash = tx.find_secret_key(&[4; 32])?;
            let rolled = tx.expire_key("key_1", 50)?;
            let revoked = (tx.revoke_key("key_1", 60)?, tx.revoke_key("key_1", 61)?);
            Ok((by_hash, rolled, revoked, tx.get_key("key_1")?))
        })
        .await
        .unwrap();
        let k = found.0.unwrap();
        assert_eq!((k.account_id.as_str(), k.livemode, k.kind), ("acct_a", true, KeyKind::Secret), "{name}");
        assert!(found.1 && found.2 == (true, false), "{name}");
        let after = found.3.unwrap();
        assert_eq!((after.expires, after.revoked), (Some(50), Some(60)));
        assert!(!after.active(40) || after.revoked.is_some(), "{name}: revoked keys are never active");
        // An account's setting: set, read back, and false for an account that does not exist.
        let set = store::write(&s, |tx| {
            Ok((tx.set_require_encryption("acct_a", true)?, tx.set_require_encryption("acct_nope", true)?))
        })
        .await
        .unwrap();
        assert_eq!(set, (true, false), "{name}");
        let accounts = store::read(&s, |tx| tx.list_accounts()).await.unwrap();
        let flags: Vec<(&str, bool)> =
            accounts.iter().map(|a| (a.id.as_str(), a.require_encryption)).collect();
        assert_eq!(flags, vec![("acct_a", true), ("acct_b", false)], "{name}");
    }
}

#[tokio::test]
async fn dashboard_users_have_unique_emails_and_sessions_are_found_by_their_hash_until_removed() {
    use cardtoken_server::store::{SessionRecord, UserRecord};
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        let user = |id: &str, account: &str, email: &str| UserRecord {
            id: id.into(),
            account_id: account.into(),
            email: email.into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created: 1,
        };
        let session = |hash: u8, user: &str, expires: i64| SessionRecord {
            token_hash: vec![hash; 32],
            user_id: user.into(),
            csrf: format!("csrf{hash}"),
            livemode: false,
            created: 10,
            last_seen: 10,
            expires,
        };
        let (ann, bob, dup) = (
            user("user_a", "acct_a", "ann@shop.example"),
            user("user_b", "acct_b", "bob@shop.example"),
            user("user_c", "acct_b", "ann@shop.example"),
        );
        let (s1, s2, s3) = (session(1, "user_a", 100), session(2, "user_a", 50), session(3, "user_b", 100));
        let got = store::write(&s, move |tx| {
            let inserted = (tx.insert_user(&ann)?, tx.insert_user(&bob)?, tx.insert_user(&dup)?);
            for s in [&s1, &s2, &s3] {
                tx.insert_session(s)?;
            }
            let found = (
                tx.find_user_by_email("ann@shop.example")?.map(|u| u.id),
                tx.list_users(Some("acct_b"))?.len(),
                tx.list_users(None)?.len(),
            );
            let touched = (tx.touch_session(&[1; 32], 40, 200)?, tx.set_session_mode(&[1; 32], true)?);
            let purged = tx.delete_expired_sessions(60)?;
            let one = tx.get_session(&[1; 32])?;
            let gone = tx.get_session(&[2; 32])?;
            let signed_out = (tx.delete_session(&[3; 32])?, tx.delete_session(&[3; 32])?);
            Ok((inserted, found, touched, purged, one, gone, signed_out))
        })
        .await
        .unwrap();
        let (inserted, found, touched, purged, one, gone, signed_out) = got;
        assert_eq!(inserted, (true, true, false), "{name}: an email is taken once, across accounts");
        assert_eq!(found, (Some("user_a".to_string()), 1, 2), "{name}");
        assert_eq!(touched, (true, true), "{name}");
        assert_eq!(purged, 1, "{name}: the expired session went");
        let one = one.unwrap();
        assert_eq!(
            (one.last_seen, one.expires, one.livemode, one.csrf.as_str()),
            (40, 200, true, "csrf1"),
            "{name}"
        );
        assert!(gone.is_none(), "{name}");
        assert_eq!(signed_out, (true, false), "{name}");
        // Removing a user ends their sessions.
        let after = store::write(&s, |tx| {
            tx.insert_session(&SessionRecord {
                token_hash: vec![4; 32],
                user_id: "user_a".into(),
                csrf: "x".into(),
                livemode: false,
                created: 1,
                last_seen: 1,
                expires: 1000,
            })?;
            let removed = (tx.delete_user("user_a")?, tx.delete_user("user_a")?);
            Ok((removed, tx.get_session(&[1; 32])?, tx.get_session(&[4; 32])?, tx.get_user("user_a")?))
        })
        .await
        .unwrap();
        assert_eq!(after.0, (true, false), "{name}");
        assert!(
            after.1.is_none() && after.2.is_none() && after.3.is_none(),
            "{name}: no session outlives its user"
        );
    }
}

#[tokio::test]
async fn a_negative_cost_gives_tokens_back_to_a_bucket_never_beyond_its_capacity() {
    for (name, s, _dir) in backends().await {
        let waits = store::write(&s, |tx| {
            let mut w = Vec::new();
            // Reserve one, give it back: as if nothing was taken (sign-in attempts that succeed).
            for _ in 0..5 {
                w.push(tx.take_tokens("signin", 2.0, 0.0, 1.0, 100.0)?);
                tx.take_tokens("signin", 2.0, 0.0, -1.0, 100.0)?;
            }
            // Failures keep theirs: two fit, the third waits for ever (no refill).
            w.push(tx.take_tokens("signin", 2.0, 0.0, 1.0, 100.0)?);
            w.push(tx.take_tokens("signin", 2.0, 0.0, 1.0, 100.0)?);
            w.push(tx.take_tokens("signin", 2.0, 0.0, 1.0, 100.0)?);
            // A full bucket given one more still holds only its capacity.
            tx.take_tokens("full", 2.0, 0.0, -1.0, 100.0)?;
            let full = (
                tx.take_tokens("full", 2.0, 0.0, 1.0, 100.0)?,
                tx.take_tokens("full", 2.0, 0.0, 1.0, 100.0)?,
                tx.take_tokens("full", 2.0, 0.0, 1.0, 100.0)?,
            );
            Ok((w, full))
        })
        .await
        .unwrap();
        assert_eq!(&waits.0[..7], &[0.0; 7], "{name}");
        assert!(waits.0[7].is_infinite(), "{name}: {waits:?}");
        assert_eq!((waits.1 .0, waits.1 .1), (0.0, 0.0), "{name}");
        assert!(waits.1 .2.is_infinite(), "{name}: the capacity, not one more");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_commit_or_roll_back_each_alone() {
    // Lone writes and batches of queued ones (SQLite commits the first on the caller's thread, the others
    // together): whichever way a write goes, its outcome is its own.
    for (name, s, _dir) in backends().await {
        seed_accounts(&s).await;
        let writes: Vec<_> = (0..300)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    store::write(&s, move |tx| {
                        tx.insert_token(&token(&format!("tok_c{i}"), "acct_a", 1000))?;
                        if i % 3 == 0 {
                            // Half done, then failing: nothing of it may stay.
                            return Err(store::StoreError::Db(format!("write {i} fails")));
                        }
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        for (i, write) in writes.into_iter().enumerate() {
            match write.await.unwrap() {
                Ok(v) => assert!(i % 3 != 0 && v == i, "{name}: write {i} answered {v}"),
                Err(e) => {
                    assert!(i % 3 == 0 && e.to_string().contains(&format!("write {i} fails")), "{name}: {e}")
                }
            }
        }
        for i in 0..300 {
            let a = scope("acct_a");
            let found = store::read(&s, move |tx| tx.get_token(&a, &format!("tok_c{i}"))).await.unwrap();
            assert_eq!(found.is_some(), i % 3 != 0, "{name}: tok_c{i} kept exactly when its write succeeded");
        }
    }
}
