//! The tokenization client: checks a card with the same rules as the server, then posts it to
//! `{apiBase}/v1/tokens` with the publishable key and answers the Token (never the number).

use cardtoken_types::wire::{CardData, CardFields, ErrorType};
use cardtoken_types::YearMonth;
use js_sys::{Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{AbortSignal, Headers, Request, RequestCredentials, RequestInit, RequestMode, Response};
use zeroize::Zeroize;

use crate::errors::Failure;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, in windows and workers alike.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with_request(input: &Request) -> Promise;
}

// `AbortSignal.timeout` needs Safari 16: a controller aborted by a timer instead, the timer cleared once the
// answer is read (so Node does not wait for it).
#[wasm_bindgen(
    inline_js = "export function abortAfter(ms){const c=new AbortController;c.signal.t=setTimeout(()=>c.abort(),ms);return c.signal}export function settled(s){clearTimeout(s.t)}"
)]
extern "C" {
    #[wasm_bindgen(js_name = abortAfter)]
    fn abort_after(ms: u32) -> AbortSignal;
    fn settled(signal: &AbortSignal);
}

/// A client bound to a publishable key. JavaScript gets one from `load()`.
#[wasm_bindgen]
pub struct Client {
    key: String,
    tokens_url: String,
    timeout_ms: u32,
}

#[wasm_bindgen]
impl Client {
    /// Checks the key and the API base. A secret key is refused outright: it must never reach a page.
    #[wasm_bindgen(constructor)]
    pub fn new(publishable_key: &str, api_base: &str, timeout_ms: u32) -> Result<Client, JsValue> {
        if publishable_key.starts_with("sk_") {
            return Err(Failure::validation(
                "secret_key_in_browser",
                "A secret key (sk_…) must never reach a browser: use your publishable key (pk_…).",
                "publishable_key",
            )
            .into_js());
        }
        let valid_key = ["pk_test_", "pk_live_"].iter().any(|p| {
            publishable_key.strip_prefix(p).is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
        });
        if !valid_key {
            return Err(Failure::validation(
                "invalid_publishable_key",
                "The publishable key must look like pk_test_… or pk_live_….",
                "publishable_key",
            )
            .into_js());
        }
        let base = api_base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains(['?', '#']) {
            return Err(Failure::validation(
                "invalid_api_base",
                "apiBase must be an http(s) URL without query or fragment.",
                "apiBase",
            )
            .into_js());
        }
        Ok(Client {
            key: publishable_key.to_string(),
            tokens_url: [base, "/v1/tokens"].concat(),
            timeout_ms: timeout_ms.max(1),
        })
    }

    /// Checks `card` (`{number, exp_month, exp_year, cvc, name?}`) and, when it is valid, tokenizes it.
    /// Resolves the Token; rejects with an error object, before any request when the card is invalid.
    #[wasm_bindgen(js_name = createToken)]
    pub fn create_token(&self, card: JsValue) -> Promise {
        let today = {
            // The clock is read here, at the edge, and nowhere deeper.
            let now = js_sys::Date::new_0();
            YearMonth::new(now.get_full_year() as u16, now.get_month() as u8 + 1)
        };
        let body = read_card(&card).and_then(|mut raw| {
            let parsed = CardData::parse(raw.fields(), today);
            raw.number.zeroize();
            raw.cvc.zeroize();
            parsed
                .map(|data| data.to_request_json())
                .map_err(|e| Failure::validation(e.code, e.message, e.param).into_js())
        });
        let key = self.key.clone();
        let url = self.tokens_url.clone();
        let timeout_ms = self.timeout_ms;
        future_to_promise(async move {
            let mut body = body?;
            let result = post_json(&url, &key, &body, timeout_ms).await;
            body.zeroize();
            result
        })
    }
}

/// The card fields as JavaScript gave them.
struct RawCard {
    number: String,
    exp_month: u32,
    exp_year: u32,
    cvc: String,
    name: Option<String>,
}

impl RawCard {
    fn fields(&self) -> CardFields<'_> {
        CardFields {
            number: &self.number,
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            cvc: &self.cvc,
            name: self.name.as_deref(),
        }
    }
}

fn get(card: &JsValue, key: &str) -> JsValue {
    Reflect::get(card, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A whole number from a JS number or a numeric string; `u32::MAX` (always refused) otherwise.
fn whole_number(v: &JsValue) -> u32 {
    if let Some(f) = v.as_f64() {
        if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) {
            return f as u32;
        }
    } else if let Some(s) = v.as_string() {
        if let Ok(n) = s.trim().parse::<u32>() {
            return n;
        }
    }
    u32::MAX
}

fn read_card(card: &JsValue) -> Result<RawCard, JsValue> {
    if !card.is_object() {
        return Err(Failure::validation(
            "invalid_card",
            "createToken takes an object: {number, exp_month, exp_year, cvc, name?}.",
            "card",
        )
        .into_js());
    }
    Ok(RawCard {
        number: get(card, "number").as_string().unwrap_or_default(),
        exp_month: whole_number(&get(card, "exp_month")),
        exp_year: whole_number(&get(card, "exp_year")),
        cvc: get(card, "cvc").as_string().unwrap_or_default(),
        name: get(card, "name").as_string(),
    })
}

fn connection_failure(error: &JsValue) -> JsValue {
    let name = Reflect::get(error, &JsValue::from_str("name")).ok().and_then(|n| n.as_string());
    let (code, message) = match name.as_deref() {
        Some("TimeoutError") | Some("AbortError") => ("timeout", "The cardtoken API did not answer in time."),
        _ => ("network_error", "Could not reach the cardtoken API."),
    };
    Failure { kind: ErrorType::ApiConnectionError, code, message, param: None }.into_js()
}

/// Sends the request and reads the whole answer: its status, whether it is a 2xx, and its text.
async fn read(request: &Request) -> Result<(u16, bool, JsValue), JsValue> {
    let response: Response =
        JsFuture::from(fetch_with_request(request)).await.map_err(|e| connection_failure(&e))?.dyn_into()?;
    let text = JsFuture::from(response.text()?).await.map_err(|e| connection_failure(&e))?;
    Ok((response.status(), response.ok(), text))
}

/// POSTs `body` and answers the parsed JSON, or rejects with the API's error object plus `status`.
async fn post_json(url: &str, key: &str, body: &str, timeout_ms: u32) -> Result<JsValue, JsValue> {
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Authorization", &["Bearer ", key].concat())?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    let signal = abort_after(timeout_ms);
    init.set_signal(Some(&signal));
    let request = Request::new_with_str_and_init(url, &init)?;
    let answer = read(&request).await;
    settled(&signal);
    let (status, ok, text) = answer?;
    let parsed = text.as_string().and_then(|t| JSON::parse(&t).ok());
    if ok {
        return parsed.ok_or_else(|| unexpected(status));
    }
    let error = parsed
        .map(|p| get(&p, "error"))
        .filter(|e| e.is_object() && get(e, "type").is_string() && get(e, "message").is_string());
    match error {
        Some(e) => {
            let _ = Reflect::set(&e, &JsValue::from_str("status"), &JsValue::from(status));
            Err(e)
        }
        None => Err(unexpected(status)),
    }
}

fn unexpected(status: u16) -> JsValue {
    let e = Failure {
        kind: ErrorType::ApiError,
        code: "unexpected_response",
        message: "The cardtoken API answered unexpectedly.",
        param: None,
    }
    .into_js();
    let _ = Reflect::set(&e, &JsValue::from_str("status"), &JsValue::from(status));
    e
}
