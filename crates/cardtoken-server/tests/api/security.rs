use reqwest::StatusCode;

use crate::helpers::{captured_logs, card, contains, spawn_app};
use cardtoken_server::routes::tokens::consume;
use cardtoken_server::startup::sweep;

/// Test cards. The scan looks for the numbers, and for the American Express cards' four-digit CVCs: a
/// three-digit string can turn up by chance in binary data, four digits hardly can in files this small.
const CARDS: &[(&str, &str)] = &[
    ("378282246310005", "7294"),
    ("371449635398431", "8361"),
    ("4242424242424242", "123"),
    ("5555555555554444", "591"),
    ("6011111111111117", "603"),
];

#[tokio::test]
async fn neither_the_database_nor_the_logs_hold_a_card_number_or_cvc_and_used_or_expired_cvcs_are_gone() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (number, cvc) in CARDS {
        let (status, token, text) = app.tokenize(&app.pk, card(number, cvc)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        ids.push(token["id"].as_str().unwrap().to_string());
        // bad data too: the refusals must not log the number either
        let last = number.as_bytes()[number.len() - 1] - b'0';
        let bad = format!("{}{}", &number[..number.len() - 1], (last + 1) % 10);
        let (status, _, _) = app.tokenize(&app.pk, card(&bad, cvc)).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
    let db = app.database_bytes();
    assert!(db.len() > 4096, "the database was read ({} bytes)", db.len());
    let logs = captured_logs();
    assert!(logs.contains("token created"), "the logs were captured");
    for (number, cvc) in CARDS {
        assert!(!contains(&db, number.as_bytes()), "{number} in the database");
        assert!(!logs.contains(number), "{number} in the logs");
        if cvc.len() == 4 {
            assert!(!contains(&db, cvc.as_bytes()), "CVC {cvc} in the database");
            assert!(!contains_word(&logs, cvc), "CVC {cvc} in the logs");
        }
    }

    // The CVC ciphertexts, before: there. After use (first token) or expiry (the rest): gone.
    let ciphertexts: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| app.state.store.get_token(id).unwrap().unwrap().cvc_ct.expect("a fresh token has its CVC"))
        .collect();
    for ct in &ciphertexts {
        assert!(contains(&app.database_bytes(), ct));
    }
    consume(&app.state, &ids[0]).await.unwrap();
    assert!(!contains(&app.database_bytes(), &ciphertexts[0]), "a used token's CVC is erased from the file");
    assert!(contains(&app.database_bytes(), &ciphertexts[1]), "unexpired tokens keep theirs");
    app.clock.advance(15 * 60);
    assert_eq!(sweep(&app.state).await.unwrap(), CARDS.len() - 1);
    let db = app.database_bytes();
    for (id, ct) in ids.iter().zip(&ciphertexts) {
        assert!(!contains(&db, ct), "{id}'s CVC ciphertext is still in the file");
        assert!(app.state.store.get_token(id).unwrap().unwrap().cvc_ct.is_none());
    }
}

/// `word` standing alone: random ids in the logs (`tok_…`, letters and digits) hold four-digit runs by
/// chance, a logged CVC would not be glued to other letters or digits.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
        let after = text[i + word.len()..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        !before && !after
    })
}

#[tokio::test]
async fn internal_errors_say_nothing_internal() {
    let err = cardtoken_server::error::ApiError::internal("rusqlite: disk I/O error at /secret/path");
    let resp = axum::response::IntoResponse::into_response(err);
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"type\":\"api_error\"") && !text.contains("rusqlite") && !text.contains("/secret"),
        "{text}"
    );
}
