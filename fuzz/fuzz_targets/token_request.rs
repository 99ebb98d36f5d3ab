//! The tokenization request: `serde_json::from_slice::<TokenRequest>` then `CardData::parse` on any
//! bytes, as the server reads `POST /v1/tokens`. Today is fixed at November 2026 (the seeds' cards
//! expire after it).
#![no_main]

use cardtoken_fuzz::{ascii_digit_count, longest_digit_run};
use cardtoken_types::wire::{CardData, CardInput, SecretText, TokenRequest};
use cardtoken_types::{check_cvc, CardNumber, Expiry, YearMonth, DEFAULT_MAX_YEARS_AHEAD};
use libfuzzer_sys::fuzz_target;

const TODAY: YearMonth = YearMonth { year: 2026, month: 11 };

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<TokenRequest>(data) else { return };
    let Some(card) = &request.card else { return };

    // Debug never depends on the number or the CVC.
    let blank = TokenRequest {
        card: Some(CardInput {
            number: SecretText::new(String::new()),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            cvc: SecretText::new(String::new()),
            name: card.name.clone(),
        }),
        card_jwe: request.card_jwe.as_ref().map(|_| SecretText::new(String::new())),
    };
    assert!(format!("{request:?}") == format!("{blank:?}"), "a request's Debug shows its number or CVC");

    // Written out and read back, it is the same request, and writing is canonical.
    let json = to_json(&request);
    let Ok(back) = serde_json::from_str::<TokenRequest>(&json) else {
        panic!("a serialized request of {} bytes does not read back", json.len());
    };
    let Some(back_card) = &back.card else { panic!("a request lost its card through JSON") };
    assert!(same_input(card, back_card), "a request changes through JSON");
    assert!(to_json(&back) == json, "serializing a request is not canonical");

    match CardData::parse(card.fields(), TODAY) {
        Ok(parsed) => accepted(card, &parsed),
        Err(e) => {
            assert!(
                ["number", "exp_month", "exp_year", "cvc", "name"].contains(&e.param),
                "the error names no field of the request"
            );
            let text = format!("{e} {e:?}");
            assert!(longest_digit_run(&text) < 4, "an error's text holds a run of digits");
            // The field at fault is refused by its own check too.
            match e.param {
                "number" => assert_eq!(
                    CardNumber::parse(card.number.expose()).err().map(|n| n.as_str()),
                    Some(e.code),
                    "CardData and CardNumber disagree on the number"
                ),
                "exp_month" | "exp_year" => {
                    let expiry = Expiry::new(card.exp_month, card.exp_year);
                    assert!(
                        expiry.map_or(true, |x| x.check(TODAY, DEFAULT_MAX_YEARS_AHEAD).is_err()),
                        "the expiry was refused but Expiry accepts it"
                    );
                }
                "cvc" => {
                    let brand = CardNumber::parse(card.number.expose()).ok().map(|n| n.brand());
                    assert!(brand.is_some(), "the CVC was judged before the number was accepted");
                    assert_eq!(
                        check_cvc(card.cvc.expose(), brand).error.map(|c| c.as_str()),
                        Some(e.code),
                        "CardData and check_cvc disagree on the CVC"
                    );
                }
                _ => {}
            }
        }
    }
});

fn to_json(request: &TokenRequest) -> String {
    match serde_json::to_string(request) {
        Ok(json) => json,
        Err(_) => panic!("a request does not serialize"),
    }
}

fn same_input(a: &CardInput, b: &CardInput) -> bool {
    a.number.expose() == b.number.expose()
        && a.cvc.expose() == b.cvc.expose()
        && (a.exp_month, a.exp_year) == (b.exp_month, b.exp_year)
        && a.name == b.name
}

/// An accepted card agrees with the separate checks, survives the browser's hand-written body and
/// the server's reading of it unchanged, and prints at most the first six and last four digits.
fn accepted(card: &CardInput, parsed: &CardData) {
    let Ok(number) = CardNumber::parse(card.number.expose()) else {
        panic!("CardData accepted a number that CardNumber refuses");
    };
    assert!(number.expose_digits() == parsed.number.expose_digits(), "CardData holds other digits");
    assert!((1..=12).contains(&parsed.exp_month), "month {} accepted", parsed.exp_month);
    let Ok(expiry) = Expiry::new(parsed.exp_month.into(), parsed.exp_year.into()) else {
        panic!("CardData accepted an expiry Expiry refuses");
    };
    assert!(expiry.check(TODAY, DEFAULT_MAX_YEARS_AHEAD).is_ok(), "an expired or far expiry accepted");
    let cvc = parsed.cvc.expose();
    let cvc_len = usize::from(parsed.number.brand().info().cvc_length);
    assert!(cvc.len() == cvc_len && cvc.bytes().all(|b| b.is_ascii_digit()), "a CVC of the wrong shape");
    if let Some(name) = &parsed.name {
        assert!(!name.is_empty() && name.trim() == name, "the name is not trimmed");
        assert!(name.chars().count() <= 200 && !name.chars().any(char::is_control), "a bad name accepted");
    }

    // The browser's body, read by the server, is the same card; and it is what serde_json writes.
    let body = parsed.to_request_json();
    let Ok(request) = serde_json::from_str::<TokenRequest>(&body) else {
        panic!("the hand-written body of {} bytes is not a TokenRequest", body.len());
    };
    assert!(to_json(&request) == body, "the hand-written body differs from serde_json's");
    let Some(sent) = &request.card else { panic!("the hand-written body has no card") };
    let Ok(again) = CardData::parse(sent.fields(), TODAY) else {
        panic!("the hand-written body does not parse again");
    };
    assert!(
        again.number.expose_digits() == parsed.number.expose_digits()
            && (again.exp_month, again.exp_year) == (parsed.exp_month, parsed.exp_year)
            && again.cvc.expose() == parsed.cvc.expose()
            && again.name == parsed.name,
        "the card changes through the hand-written body"
    );

    // Debug: the masked number, no CVC.
    let shown = format!("{:?} {:?}", parsed.number, parsed.cvc);
    let n = parsed.number.expose_digits().len();
    let allowed = if n >= 16 { 10 } else { n / 2 };
    assert_eq!(ascii_digit_count(&shown), allowed, "Debug shows more than the display rule allows");
    assert!(format!("{:?}", parsed.cvc) == "Cvc(***)", "the CVC's Debug shows it");
    let whole = format!("{parsed:?}");
    let expected = format!(
        "CardData {{ number: {:?}, exp_month: {}, exp_year: {}, cvc: Cvc(***), name: {:?} }}",
        parsed.number, parsed.exp_month, parsed.exp_year, parsed.name
    );
    assert!(whole == expected, "CardData's Debug holds more than its masked fields");
}
