//! The wasm exports, run by wasm-bindgen-test in each browser engine (`npm test` sets it up).
//! Tokenization runs against the real server behind a recording proxy (`tests/support/recording-proxy.mjs`),
//! whose URL and publishable key `npm test` passes in `CARDTOKEN_TEST_API` and `CARDTOKEN_TEST_PK`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code may stop at the first failure

use cardtoken::{
    brand_table, format_number, validate_cvc_packed, validate_expiry_packed, validate_number_packed, Client,
};
use cardtoken_types::{ExpiryCheck, NumberCheck};
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SET_UP: &str = "build with CARDTOKEN_TEST_API and CARDTOKEN_TEST_PK set: `npm test` (scripts/test.sh) \
                      starts the server and its recording proxy and sets them";

fn api_url() -> &'static str {
    match option_env!("CARDTOKEN_TEST_API") {
        Some(url) => url,
        None => panic!("{SET_UP}"),
    }
}

fn publishable_key() -> &'static str {
    match option_env!("CARDTOKEN_TEST_PK") {
        Some(key) => key,
        None => panic!("{SET_UP}"),
    }
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

fn card(number: &str, month: u32, year: u32, cvc: &str, name: Option<&str>) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"number".into(), &number.into()).unwrap();
    Reflect::set(&o, &"exp_month".into(), &month.into()).unwrap();
    Reflect::set(&o, &"exp_year".into(), &year.into()).unwrap();
    Reflect::set(&o, &"cvc".into(), &cvc.into()).unwrap();
    if let Some(n) = name {
        Reflect::set(&o, &"name".into(), &n.into()).unwrap();
    }
    o.into()
}

async fn proxied_request_count() -> u32 {
    let window = web_sys::window().unwrap();
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(&format!("{}/__requests", api_url())))
            .await
            .unwrap()
            .dyn_into()
            .unwrap();
    let json = JsFuture::from(response.json().unwrap()).await.unwrap();
    get(&json, "count").as_f64().unwrap() as u32
}

#[wasm_bindgen_test]
fn number_checks_cross_the_boundary_packed() {
    let visa = NumberCheck::unpack(validate_number_packed("4242 4242 4242 4242", false));
    assert!(visa.is_valid);
    assert_eq!(visa.brand.map(|b| b.name()), Some("visa"));
    let luhn = NumberCheck::unpack(validate_number_packed("4242424242424241", false));
    assert_eq!(luhn.error.map(|e| e.as_str()), Some("invalid_number"));
    let union_strict = NumberCheck::unpack(validate_number_packed("6200000000000001", true));
    assert!(!union_strict.is_valid);
    let weird = NumberCheck::unpack(validate_number_packed("💳\u{0}\u{ffff}", false));
    assert!(!weird.is_potentially_valid);
}

#[wasm_bindgen_test]
fn expiry_checks_take_today_from_the_caller() {
    let ok = ExpiryCheck::unpack(validate_expiry_packed("11/26", 2026, 11, 19));
    assert!(ok.is_valid);
    let expired = ExpiryCheck::unpack(validate_expiry_packed("11/26", 2026, 12, 19));
    assert_eq!(expired.error.map(|e| e.as_str()), Some("expired_card"));
    let far = ExpiryCheck::unpack(validate_expiry_packed("11/46", 2026, 12, 19));
    assert!(!far.is_valid);
}

#[wasm_bindgen_test]
fn cvc_checks_follow_the_brand_index() {
    let amex = 2; // index in the brand table
    assert_eq!(validate_cvc_packed("1234", amex) & 1, 1);
    assert_eq!(validate_cvc_packed("123", amex) & 1, 0);
    assert_eq!(validate_cvc_packed("123", 255) & 1, 1);
}

#[wasm_bindgen_test]
fn formatting_and_the_brand_table() {
    assert_eq!(format_number("378282246310005"), "3782 822463 10005");
    let table: Array = brand_table();
    assert_eq!(table.length(), 15);
    assert_eq!(get(&table.get(2), "name").as_string().as_deref(), Some("amex"));
    assert_eq!(get(&table.get(2), "cvcLength").as_f64(), Some(4.0));
}

#[wasm_bindgen_test]
fn a_secret_key_or_a_bad_api_base_is_refused_at_load() {
    let err = Client::new("sk_test_123", "http://127.0.0.1:1", 1000).err().unwrap();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("secret_key_in_browser"));
    let err = Client::new("pk_test_abc", "ftp://x", 1000).err().unwrap();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_api_base"));
    assert!(Client::new("pk_test_abc", "https://api.example.com/", 1000).is_ok());
}

#[wasm_bindgen_test]
async fn create_token_posts_to_the_endpoint_and_resolves_the_token() {
    let client = Client::new(publishable_key(), api_url(), 10_000).unwrap();
    let token =
        JsFuture::from(client.create_token(card("4242 4242 4242 4242", 12, 2034, "123", Some("Jane"))))
            .await
            .unwrap();
    assert!(get(&token, "id").as_string().unwrap().starts_with("tok_"));
    assert_eq!(get(&get(&token, "card"), "last4").as_string().as_deref(), Some("4242"));
    let text: String = JSON::stringify(&token).unwrap().into();
    assert!(!text.contains("4242424242424242"), "the token never carries the number: {text}");
}

#[wasm_bindgen_test]
async fn invalid_input_never_reaches_the_network() {
    let client = Client::new(publishable_key(), api_url(), 10_000).unwrap();
    let before = proxied_request_count().await;
    let cases = [
        (card("4242424242424241", 12, 2034, "123", None), "number", "invalid_number"),
        (card("4242424242424242", 13, 2034, "123", None), "exp_month", "invalid_expiry_month"),
        (card("4242424242424242", 1, 2020, "123", None), "exp_month", "expired_card"),
        (card("378282246310005", 12, 2034, "123", None), "cvc", "incomplete_cvc"),
        (JsValue::from_str("4242424242424242"), "card", "invalid_card"),
    ];
    for (input, param, code) in cases {
        let err = JsFuture::from(client.create_token(input)).await.unwrap_err();
        assert_eq!(get(&err, "type").as_string().as_deref(), Some("validation_error"));
        assert_eq!(get(&err, "param").as_string().as_deref(), Some(param));
        assert_eq!(get(&err, "code").as_string().as_deref(), Some(code));
        let message = get(&err, "message").as_string().unwrap();
        assert!(!message.contains("4242"), "{message}");
    }
    assert_eq!(proxied_request_count().await, before, "no request was sent");
}

#[wasm_bindgen_test]
async fn a_decline_test_card_tokenizes_because_declines_happen_at_payment() {
    let client = Client::new(publishable_key(), api_url(), 10_000).unwrap();
    let token =
        JsFuture::from(client.create_token(card("4000000000000002", 12, 2034, "123", None))).await.unwrap();
    assert_eq!(get(&get(&token, "card"), "last4").as_string().as_deref(), Some("0002"));
}

#[wasm_bindgen_test]
async fn api_errors_reject_with_the_error_object_and_status() {
    let wrong_key = Client::new("pk_test_other", api_url(), 10_000).unwrap();
    let err = JsFuture::from(wrong_key.create_token(card("4242424242424242", 12, 2034, "123", None)))
        .await
        .unwrap_err();
    assert_eq!(get(&err, "type").as_string().as_deref(), Some("authentication_error"));
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("invalid_api_key"));
    assert_eq!(get(&err, "status").as_f64(), Some(401.0));
    let gateway = Client::new(publishable_key(), api_url(), 10_000).unwrap();
    let err =
        JsFuture::from(gateway.create_token(card("4242424242424242", 12, 2034, "123", Some("bad gateway"))))
            .await
            .unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("unexpected_response"));
    assert_eq!(get(&err, "status").as_f64(), Some(502.0));
}
