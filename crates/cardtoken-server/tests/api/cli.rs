//! The command line (`shared/contract.md` §6) as an operator runs it: accounts, keys, roll, revoke,
//! migrate, against a data dir that a server then opens.

use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::{binary_env, spawn_configured, test_config};
use cardtoken_server::domain::payments::processor::TestCards;

fn run(env: &[(&'static str, String)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cardtoken-server"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn key_on(line_start: &str, text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(line_start))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `{line_start}` line in:\n{text}"))
        .to_string()
}

#[tokio::test]
async fn accounts_and_keys_are_made_listed_rolled_and_revoked_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let env = binary_env(dir).await;
    let dir = &env;
    assert!(run(dir, &["migrate"]).contains("migrated"));
    let made = run(dir, &["accounts", "create", "--name", "Corner shop"]);
    let account = made.split_whitespace().find(|w| w.starts_with("acct_")).unwrap().to_string();
    let test_pk = key_on("test publishable key:", &made);
    let test_sk = key_on("test secret key:", &made);
    let live_pk = key_on("live publishable key:", &made);
    let live_sk = key_on("live secret key:", &made);
    assert!(test_pk.starts_with("pk_test_") && test_sk.starts_with("sk_test_"), "{made}");
    assert!(live_pk.starts_with("pk_live_") && live_sk.starts_with("sk_live_"), "{made}");
    assert!(run(dir, &["accounts", "list"]).contains(&account));

    let more = run(dir, &["keys", "create", "--account", &account, "--mode", "live"]);
    let second_live_sk = key_on("live secret key:", &more);
    assert!(second_live_sk.starts_with("sk_live_"));
    let listed = run(dir, &["keys", "list", "--account", &account]);
    assert_eq!(listed.lines().count(), 6, "{listed}");
    for sk in [&test_sk, &live_sk, &second_live_sk] {
        assert!(!listed.contains(sk.as_str()), "listings never show a secret key");
        assert!(listed.contains(&sk[sk.len() - 4..]), "but its last four");
    }
    let key_id = |listing: &str, hint_end: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(hint_end))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    // Roll the test secret key with no grace, revoke the second live secret key.
    let test_sk_id = key_id(&listed, &test_sk[test_sk.len() - 4..]);
    let rolled = run(dir, &["keys", "roll", &test_sk_id, "--grace", "0"]);
    let new_sk = key_on("secret key:", &rolled);
    assert!(new_sk.starts_with("sk_test_") && new_sk != test_sk, "{rolled}");
    let revoked_id = key_id(&listed, &second_live_sk[second_live_sk.len() - 4..]);
    run(dir, &["keys", "revoke", &revoked_id]);

    // The command line used the real clock: so does this server.
    let keys = Some((test_pk.clone(), new_sk.clone()));
    let app =
        spawn_configured(test_config(tmp.path()).await, keys, true, std::sync::Arc::new(TestCards)).await;
    let status = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/v1/payments", app.base))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(new_sk.clone()).await, StatusCode::OK);
    assert_eq!(status(test_sk.clone()).await, StatusCode::UNAUTHORIZED, "rolled with no grace: refused");
    assert_eq!(status(second_live_sk.clone()).await, StatusCode::UNAUTHORIZED, "revoked");
    assert_eq!(status(live_sk.clone()).await, StatusCode::OK);
    // A roll with a grace period: both work until it ends.
    let rolled =
        run(dir, &["keys", "roll", &key_id(&listed, &live_sk[live_sk.len() - 4..]), "--grace", "1h"]);
    let newer = key_on("secret key:", &rolled);
    assert_eq!((status(live_sk.clone()).await, status(newer).await), (StatusCode::OK, StatusCode::OK));
}
