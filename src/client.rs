//! The tokenization client: checks a card with the same rules as the server, then posts it to
//! `{apiBase}/v1/tokens` with the publishable key and answers the Token (never the number).

use cardtoken_types::wire::{CardData, CardFields};
use cardtoken_types::YearMonth;
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use zeroize::Zeroize;

use crate::errors::Failure;

// The request itself, in a few lines of JS: `fetch` with a timeout (an `AbortController` and a timer, as
// `AbortSignal.timeout` needs Safari 16), the answer read whole and turned into the Token or the error
// object `{type, code, message, param, status?}`. The body goes from here straight into `fetch`: no
// exported function hands it to the page. (Futures and web-sys's Request types cost the module ~9 KB.)
//
// With an encryptor (`load()` gives one: js/jwe.js), the card goes as `{"card_jwe": …}`, encrypted to the
// server's key with WebCrypto; a `card_jwe` refused (a key retired meanwhile) is encrypted again to a
// freshly fetched key, once. Without one, or when the server publishes no key, as `{"card": …}`.
#[wasm_bindgen(inline_js = r#"
const fail = (type, code, message, status) => ({ type, code, message, param: null, ...(status === undefined ? {} : { status }) });
export function postToken(url, key, card, ms, enc) {
  const send = (refresh) => (enc ? enc.encrypt(card, refresh) : Promise.resolve(null)).then((jwe) =>
    post(url, key, jwe ? `{"card_jwe":"${jwe}"}` : `{"card":${card}}`, ms).catch((e) => {
      if (jwe && !refresh && e?.status === 400 && e.param === 'card_jwe') return send(true);
      throw e;
    }));
  return send(false);
}
function post(url, key, body, ms) {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(), ms);
  const lost = (e) => {
    throw e?.name === 'AbortError' || e?.name === 'TimeoutError'
      ? fail('api_connection_error', 'timeout', 'The cardtoken API did not answer in time.')
      : fail('api_connection_error', 'network_error', 'Could not reach the cardtoken API.');
  };
  return fetch(url, { method: 'POST', mode: 'cors', credentials: 'omit', body, signal: c.signal,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` } })
    .then((r) => r.text().then((text) => {
      let p = null;
      try { p = JSON.parse(text); } catch { /* not JSON */ }
      if (r.ok && p !== null) return p;
      const e = r.ok ? null : p?.error;
      if (e && typeof e === 'object' && typeof e.type === 'string' && typeof e.message === 'string') {
        e.status = r.status;
        throw e;
      }
      throw fail('api_error', 'unexpected_response', 'The cardtoken API answered unexpectedly.', r.status);
    }, lost), lost)
    .finally(() => clearTimeout(timer));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = postToken)]
    fn post_token(url: &str, key: &str, card: &str, timeout_ms: u32, encryptor: &JsValue) -> Promise;
}

/// A client bound to a publishable key. JavaScript gets one from `load()`.
#[wasm_bindgen]
pub struct Client {
    key: String,
    tokens_url: String,
    timeout_ms: u32,
    /// `{encrypt(cardJson, refresh)}`, or undefined: the card then goes in clear (inside TLS).
    encryptor: JsValue,
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
            encryptor: JsValue::UNDEFINED,
        })
    }

    /// Encrypts cards with `encryptor` (`{encrypt(cardJson, refresh) -> Promise<string | null>}`) from now on.
    #[wasm_bindgen(js_name = useEncryptor)]
    pub fn use_encryptor(&mut self, encryptor: JsValue) {
        self.encryptor = encryptor;
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
                .map(|data| data.to_card_json())
                .map_err(|e| Failure::validation(e.code, e.message, e.param).into_js())
        });
        match body {
            Ok(mut body) => {
                let sent = post_token(&self.tokens_url, &self.key, &body, self.timeout_ms, &self.encryptor);
                body.zeroize();
                sent
            }
            Err(e) => Promise::reject(&e),
        }
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
