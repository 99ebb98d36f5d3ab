//! Wire types of the HTTP API (`shared/contract.md` §2), shared by the browser package and the server.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::brand::Brand;
use crate::cvc::Cvc;
use crate::expiry::{Expiry, ExpiryError, ExpiryField, YearMonth, DEFAULT_MAX_YEARS_AHEAD};
use crate::number::CardNumber;

/// The card a token stands for, as the API shows it: never the number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCard {
    pub brand: Brand,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
    /// HMAC of the number under the server's fingerprint key: the same card gives the same value.
    pub fingerprint: String,
}

/// `POST /v1/tokens`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    /// `tok_…`
    pub id: String,
    /// Always `"token"`.
    pub object: String,
    pub card: TokenCard,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    pub used: bool,
}

/// The `type` of an API error (`shared/contract.md` §2), plus the two the browser package adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    CardError,
    PermissionError,
    IdempotencyError,
    RateLimitError,
    ApiError,
    /// The browser package rejected the input before sending anything.
    ValidationError,
    /// The browser package could not reach the API.
    ApiConnectionError,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequestError => "invalid_request_error",
            ErrorType::AuthenticationError => "authentication_error",
            ErrorType::CardError => "card_error",
            ErrorType::PermissionError => "permission_error",
            ErrorType::IdempotencyError => "idempotency_error",
            ErrorType::RateLimitError => "rate_limit_error",
            ErrorType::ApiError => "api_error",
            ErrorType::ValidationError => "validation_error",
            ErrorType::ApiConnectionError => "api_connection_error",
        }
    }
}

/// The error object: `{type, code, message, param?, decline_code?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// The payment the error concerns (a decline, an illegal transition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Box<Payment>>,
}

/// An error response body: `{"error": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ApiError,
}

/// A payment's status. `requires_action` → `requires_capture` → `succeeded`; `failed`; `canceled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PaymentStatus {
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Failed,
    Canceled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::RequiresAction,
            PaymentStatus::RequiresCapture,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::Canceled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// `automatic` (captured at once) or `manual` (authorized, captured later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

/// The card a payment was made with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentCard {
    pub brand: Brand,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// What the customer must do next: for now, a 3-D Secure challenge at `url`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextAction {
    /// `"three_d_secure"`
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// Why the last attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastError {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    pub message: String,
}

/// A payment (`shared/contract.md` §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// `pay_…`
    pub id: String,
    /// Always `"payment"`.
    pub object: String,
    pub amount: u64,
    pub currency: String,
    pub status: PaymentStatus,
    pub amount_capturable: u64,
    pub amount_captured: u64,
    pub amount_refunded: u64,
    pub capture_method: CaptureMethod,
    /// Lets the browser read this payment with the publishable key and complete its next action.
    pub client_secret: String,
    pub card: PaymentCard,
    pub next_action: Option<NextAction>,
    pub last_error: Option<LastError>,
    #[serde(default)]
    pub description: Option<String>,
    pub created: i64,
    /// Made with a live key (`false`: test mode).
    #[serde(default)]
    pub livemode: bool,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// `succeeded`, or `failed` (a refund that later failed at the bank).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RefundStatus {
    Succeeded,
    Failed,
}

/// A refund of all or part of what a payment captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    /// `re_…`
    pub id: String,
    /// Always `"refund"`.
    pub object: String,
    pub payment: String,
    pub amount: u64,
    pub currency: String,
    pub status: RefundStatus,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

/// A webhook endpoint. `secret` appears only when it is made or rotated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// `we_…`
    pub id: String,
    /// Always `"webhook_endpoint"`.
    pub object: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// `enabled`, or `disabled` (after a 410).
    pub status: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A page of a list, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct List<T> {
    /// Always `"list"`.
    pub object: String,
    pub data: Vec<T>,
    pub has_more: bool,
    pub url: String,
}

/// The longest cardholder name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// A card as the tokenization request carries it, checked: the number parses, the expiry is current,
/// the CVC fits the brand. Both the browser (before sending) and the server (never trusting the browser)
/// build it with [`CardData::parse`].
#[derive(Debug, Serialize)]
pub struct CardData {
    pub number: CardNumber,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: Cvc,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The raw fields of a card, before checking.
#[derive(Clone, Copy)]
pub struct CardFields<'a> {
    pub number: &'a str,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: &'a str,
    pub name: Option<&'a str>,
}

/// Never the number or the CVC: their lengths only.
impl std::fmt::Debug for CardFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardFields")
            .field("number", &format_args!("<{} characters>", self.number.chars().count()))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &format_args!("<{} characters>", self.cvc.chars().count()))
            .field("name", &self.name.map(|_| "<name>"))
            .finish()
    }
}

/// Card data as a request carries it, before checking: a number or a CVC. Erased from memory when
/// dropped; `Debug` prints `***`; no `Display`. Deserializing anything but a string fails with an error
/// that names the kind of value, never the value (serde's own message would quote a JSON number).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: String) -> SecretText {
        SecretText(text)
    }

    /// The text itself: for [`CardInput::fields`], which hands it to [`CardData::parse`].
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Serialize for SecretText {
    /// The text itself: only the tokenization request (browser → vault) carries it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `any`, not `string`: serde_json answers a non-string to `deserialize_string` itself, quoting it.
        d.deserialize_any(SecretTextVisitor)
    }
}

struct SecretTextVisitor;

impl SecretTextVisitor {
    fn not_a_string<E: serde::de::Error>(&self, kind: &'static str) -> E {
        E::invalid_type(serde::de::Unexpected::Other(kind), self)
    }
}

impl serde::de::Visitor<'_> for SecretTextVisitor {
    type Value = SecretText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretText, E> {
        Ok(SecretText(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SecretText, E> {
        Ok(SecretText(v))
    }

    // The defaults of these would put the value in the error message.
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretText, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretText, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<SecretText, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<SecretText, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretText, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<SecretText, E> {
        Err(self.not_a_string("bytes"))
    }
}

/// The `POST /v1/tokens` body, unchecked: the card in clear, `{"card": {number, exp_month, exp_year, cvc,
/// name?}}`, or encrypted to one of the server's keys, `{"card_jwe": "<compact JWE>"}` (its plaintext the
/// same `card` object; README, "Encrypted card data"). Exactly one of them. The server checks the card
/// with [`CardData::parse`]. `Debug` never shows the number, the CVC or the JWE.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_jwe: Option<SecretText>,
}

/// The card to tokenize, as sent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardInput {
    pub number: SecretText,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: SecretText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl CardInput {
    /// The fields for [`CardData::parse`].
    pub fn fields(&self) -> CardFields<'_> {
        CardFields {
            number: self.number.expose(),
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            cvc: self.cvc.expose(),
            name: self.name.as_deref(),
        }
    }
}

/// Why card data was refused: which field, the code, and a message that never quotes the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardDataError {
    pub param: &'static str,
    pub code: &'static str,
    pub message: &'static str,
}

impl std::fmt::Display for CardDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.param)
    }
}

impl std::error::Error for CardDataError {}

impl CardData {
    pub fn parse(fields: CardFields<'_>, today: YearMonth) -> Result<CardData, CardDataError> {
        let number = CardNumber::parse(fields.number).map_err(|e| CardDataError {
            param: "number",
            code: e.as_str(),
            message: e.message(),
        })?;
        let expiry = Expiry::new(fields.exp_month, fields.exp_year).map_err(|field| match field {
            ExpiryField::Month => CardDataError {
                param: "exp_month",
                code: "invalid_expiry_month",
                message: "The expiry month must be a number from 1 to 12.",
            },
            ExpiryField::Year => CardDataError {
                param: "exp_year",
                code: "invalid_expiry_year",
                message: "The expiry year must have four digits.",
            },
        })?;
        expiry.check(today, DEFAULT_MAX_YEARS_AHEAD).map_err(|e| match e {
            ExpiryError::Expired => {
                CardDataError { param: "exp_month", code: "expired_card", message: e.message() }
            }
            _ => CardDataError {
                param: "exp_year",
                code: "invalid_expiry_year",
                message: "The expiry year is too far in the future.",
            },
        })?;
        let cvc = Cvc::parse(fields.cvc, Some(number.brand())).map_err(|e| CardDataError {
            param: "cvc",
            code: e.as_str(),
            message: e.message(),
        })?;
        let name = match fields.name.map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) => {
                return Err(CardDataError {
                    param: "name",
                    code: "invalid_name",
                    message:
                        "The cardholder name must be at most 200 characters, with no control characters.",
                })
            }
            Some(n) => Some(n.to_string()),
        };
        Ok(CardData { number, exp_month: expiry.month(), exp_year: expiry.year(), cvc, name })
    }

    /// The `POST /v1/tokens` body, `{"card":{…}}`, written without serde_json so the browser package
    /// need not ship it. A unit test holds it equal to serde_json's output.
    pub fn to_request_json(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("{\"card\":");
        self.push_card_json(&mut out);
        out.push('}');
        out
    }

    /// The `card` object alone, `{"number":…}`: the plaintext of a `card_jwe`.
    pub fn to_card_json(&self) -> String {
        let mut out = String::with_capacity(128);
        self.push_card_json(&mut out);
        out
    }

    fn push_card_json(&self, out: &mut String) {
        out.push_str("{\"number\":\"");
        out.push_str(self.number.expose_digits());
        out.push_str("\",\"exp_month\":");
        push_uint(out, self.exp_month.into());
        out.push_str(",\"exp_year\":");
        push_uint(out, self.exp_year.into());
        out.push_str(",\"cvc\":\"");
        out.push_str(self.cvc.expose());
        out.push('"');
        if let Some(name) = &self.name {
            out.push_str(",\"name\":");
            push_json_string(out, name);
        }
        out.push('}');
    }
}

/// Appends a number in decimal (no `core::fmt`: it would grow the wasm).
fn push_uint(out: &mut String, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(char::from(d));
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[(c as usize >> 4) & 0xf]));
                out.push(char::from(HEX[c as usize & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(number: &'a str, cvc: &'a str, name: Option<&'a str>) -> CardFields<'a> {
        CardFields { number, exp_month: 12, exp_year: 2030, cvc, name }
    }

    const TODAY: YearMonth = YearMonth { year: 2026, month: 11 };

    #[test]
    fn raw_card_fields_never_print_the_number_or_the_cvc() {
        let f = fields("4242 4242 4242 4242", "7294", Some("Jane Doe"));
        let printed = format!("{f:?} {f:#?}");
        for secret in ["4242", "7294", "Jane"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("<19 characters>") && printed.contains("exp_year: 2030"), "{printed}");
    }

    #[test]
    fn the_hand_written_request_body_equals_serde_json() {
        for name in [None, Some("Jane \"J\" Doe\\ 山田"), Some("Zoë O'Brien 🎉")] {
            let card = CardData::parse(fields("4242 4242 4242 4242", "123", name), TODAY).unwrap();
            #[derive(Serialize)]
            struct Body<'a> {
                card: &'a CardData,
            }
            assert_eq!(card.to_request_json(), serde_json::to_string(&Body { card: &card }).unwrap());
        }
    }

    #[test]
    fn card_data_errors_name_the_field_and_never_the_input() {
        let cases: &[(CardFields, &str, &str)] = &[
            (fields("4242424242424241", "123", None), "number", "invalid_number"),
            (fields("4242", "123", None), "number", "incomplete_number"),
            (
                CardFields { exp_month: 13, ..fields("4242424242424242", "123", None) },
                "exp_month",
                "invalid_expiry_month",
            ),
            (
                CardFields { exp_year: 123, ..fields("4242424242424242", "123", None) },
                "exp_year",
                "invalid_expiry_year",
            ),
            (
                CardFields { exp_month: 10, exp_year: 2026, ..fields("4242424242424242", "123", None) },
                "exp_month",
                "expired_card",
            ),
            (
                CardFields { exp_year: 2046, ..fields("4242424242424242", "123", None) },
                "exp_year",
                "invalid_expiry_year",
            ),
            (fields("378282246310005", "123", None), "cvc", "incomplete_cvc"),
            (fields("4242424242424242", "1234", None), "cvc", "invalid_cvc"),
            (fields("4242424242424242", "123", Some("a\u{7}b")), "name", "invalid_name"),
        ];
        for (f, param, code) in cases {
            let err = CardData::parse(*f, TODAY).unwrap_err();
            assert_eq!((err.param, err.code), (*param, *code), "{f:?}");
            assert!(!err.to_string().contains(f.number) && !err.to_string().contains("4242"), "{err}");
        }
    }

    #[test]
    fn two_digit_years_mean_this_century_and_amex_takes_four_digit_codes() {
        let card = CardData::parse(
            CardFields { exp_year: 30, ..fields("3782 822463 10005", "1234", Some("  ")) },
            TODAY,
        )
        .unwrap();
        assert_eq!((card.exp_year, card.number.brand(), card.name.as_deref()), (2030, Brand::Amex, None));
    }

    const BODY: &str = r#"{"card":{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2030,"cvc":"123","name":"Jane Doe"}}"#;

    #[test]
    fn the_token_request_reads_the_contract_body_and_its_fields_parse_as_card_data() {
        let request: TokenRequest = serde_json::from_str(BODY).unwrap();
        let card = CardData::parse(request.card.as_ref().unwrap().fields(), TODAY).unwrap();
        assert_eq!((card.number.last4(), card.exp_month, card.exp_year), ("4242", 12, 2030));
        assert_eq!((card.cvc.expose(), card.name.as_deref()), ("123", Some("Jane Doe")));
        let no_name: TokenRequest = serde_json::from_str(
            r#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}"#,
        )
        .unwrap();
        assert_eq!(no_name.card.unwrap().name, None);
        let encrypted: TokenRequest = serde_json::from_str(r#"{"card_jwe":"a.b.c.d.e"}"#).unwrap();
        assert_eq!(
            (encrypted.card.is_none(), encrypted.card_jwe.as_ref().map(SecretText::expose)),
            (true, Some("a.b.c.d.e"))
        );
        assert_eq!(format!("{encrypted:?}"), "TokenRequest { card: None, card_jwe: Some(***) }");
    }

    #[test]
    fn the_hand_written_request_body_reads_back_as_a_token_request_and_writes_out_the_same() {
        for name in [None, Some("Zoë \"O'Brien\" \\ 山田")] {
            let card = CardData::parse(fields("3782 822463 10005", "1234", name), TODAY).unwrap();
            let body = card.to_request_json();
            let request: TokenRequest = serde_json::from_str(&body).unwrap();
            let sent = request.card.as_ref().unwrap();
            assert_eq!(sent.number.expose(), "378282246310005");
            assert_eq!(sent.name.as_deref(), name);
            assert_eq!(serde_json::to_string(&request).unwrap(), body);
            // The card object alone (a JWE's plaintext) is the same card, and the body wraps exactly it.
            let alone = card.to_card_json();
            assert_eq!(body, format!("{{\"card\":{alone}}}"));
            let input: CardInput = serde_json::from_str(&alone).unwrap();
            assert_eq!(input.number.expose(), "378282246310005");
        }
    }

    #[test]
    fn unknown_and_missing_fields_are_refused() {
        let unknown = [
            r#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","cvv":"1"}}"#,
            r#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"},"x":1}"#,
        ];
        for body in unknown {
            let err = serde_json::from_str::<TokenRequest>(body).unwrap_err().to_string();
            assert!(err.starts_with("unknown field"), "{err}");
        }
        let err = serde_json::from_str::<TokenRequest>(r#"{"card":{"number":"4242424242424242"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("missing field `exp_month`"), "{err}");
        assert!(serde_json::from_str::<TokenRequest>(
            r#"{"card":{"number":"4242424242424242","exp_month":-1,"exp_year":2030,"cvc":"123"}}"#
        )
        .is_err());
    }

    #[test]
    fn a_token_request_never_prints_the_number_or_the_cvc() {
        let request: TokenRequest = serde_json::from_str(BODY).unwrap();
        let shown = format!("{request:?}");
        assert_eq!(
            shown,
            r#"TokenRequest { card: Some(CardInput { number: ***, exp_month: 12, exp_year: 2030, cvc: ***, name: Some("Jane Doe") }), card_jwe: None }"#
        );
        // A number or CVC sent as a JSON number: serde's own message would quote it.
        for body in [
            r#"{"card":{"number":4242424242424242,"exp_month":12,"exp_year":2030,"cvc":"123"}}"#,
            r#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":987}}"#,
            r#"{"card":{"number":-4242424242424242,"exp_month":12,"exp_year":2030,"cvc":"123"}}"#,
            r#"{"card":{"number":4242424242424242.5,"exp_month":12,"exp_year":2030,"cvc":"123"}}"#,
        ] {
            let err = serde_json::from_str::<TokenRequest>(body).unwrap_err().to_string();
            assert!(err.starts_with("invalid type: a number, expected a string"), "{err}");
            assert!(!err.contains("4242") && !err.contains("987"), "{err}");
        }
    }

    #[test]
    fn errors_and_tokens_have_the_contract_shape() {
        let body = ErrorBody {
            error: ApiError {
                kind: ErrorType::CardError,
                code: "card_declined".into(),
                message: "Your card was declined.".into(),
                param: None,
                decline_code: Some("insufficient_funds".into()),
                payment: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined.","decline_code":"insufficient_funds"}}"#
        );
        let token: Token = serde_json::from_str(
            r#"{"id":"tok_1","object":"token","card":{"brand":"visa","last4":"4242","exp_month":12,
                "exp_year":2030,"fingerprint":"fp"},"created":1,"livemode":false,"used":false}"#,
        )
        .unwrap();
        assert_eq!(token.card.brand, Brand::Visa);
    }

    #[test]
    fn card_fields_debug_shows_the_lengths_of_the_number_and_cvc_never_their_digits() {
        let fields = CardFields {
            number: "4242 4242 4242 4242",
            exp_month: 12,
            exp_year: 2034,
            cvc: "7294",
            name: Some("Jane Doe"),
        };
        let shown = format!("{fields:?} {fields:#?}");
        for secret in ["4242", "7294", "Jane"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("<19 characters>") && shown.contains("<4 characters>") && shown.contains("2034")
        );
    }
}
