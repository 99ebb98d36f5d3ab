//! The card fields' frame, on the API's origin: `/elements/card?pk=…` (the document, with a strict
//! Content-Security-Policy), its script and style (built into the binary from `js/elements/`), and the
//! package it runs (`/elements/pkg/…`, from the built package). `frame-ancestors` is the publishable
//! key's setting (`cardtoken-server keys frame-ancestors`), `*` by default.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::accounts;
use crate::http::AppState;
use crate::store::KeyKind;

const CARD_HTML: &str = include_str!("../../../../../js/elements/card.html");
const CARD_JS: &str = include_str!("../../../../../js/elements/card.js");
const CARD_CSS: &str = include_str!("../../../../../js/elements/card.css");

/// The frame's policy: scripts only from this origin (and wasm), no inline anything, talks only to this
/// origin, embeddable by `ancestors`. Safari 15 has no `'wasm-unsafe-eval'` and compiles WebAssembly only
/// under `'unsafe-eval'`: for it alone (`unsafe_eval_for_wasm`) the policy adds that (the frame's own
/// scripts never eval).
pub fn content_security_policy(ancestors: &str, unsafe_eval_for_wasm: bool) -> String {
    let eval = if unsafe_eval_for_wasm { " 'unsafe-eval'" } else { "" };
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{eval}; style-src 'self'; connect-src 'self'; \
         img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )
}

/// Safari and iOS 15 (every iOS browser is WebKit), by User-Agent: the only supported browsers without
/// `'wasm-unsafe-eval'`. Anything else, or no User-Agent, gets the strict policy.
pub fn lacks_wasm_unsafe_eval(user_agent: &str) -> bool {
    let apple_webkit = user_agent.contains("AppleWebKit/")
        && !user_agent.contains("Chrome/")
        && !user_agent.contains("Chromium/");
    apple_webkit && (user_agent.contains("Version/15.") || user_agent.contains(" OS 15_"))
}

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[derive(Deserialize)]
pub struct FrameQuery {
    pk: Option<String>,
}

pub async fn card(
    State(state): State<AppState>,
    Query(q): Query<FrameQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(pk) = q.pk.filter(|k| k.starts_with("pk_") && k.len() <= 128) else {
        return (StatusCode::BAD_REQUEST, "a publishable key is needed").into_response();
    };
    let key = match accounts::lookup(&state, &pk).await {
        Ok(Some(k)) if k.kind == KeyKind::Publishable && k.active(state.now()) => k,
        _ => return (StatusCode::NOT_FOUND, "unknown publishable key").into_response(),
    };
    let ancestors = key.frame_ancestors.unwrap_or_else(|| "*".to_string());
    let mut r = asset("text/html; charset=utf-8", CARD_HTML);
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let policy = content_security_policy(&ancestors, lacks_wasm_unsafe_eval(user_agent));
    if let Ok(v) = HeaderValue::from_str(&policy) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("User-Agent"));
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r.headers_mut().insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    r
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", CARD_JS)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", CARD_CSS)
}

/// The built package's module and wasm, for the frame (and only those two files).
pub async fn package(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let content_type = match file.as_str() {
        "index.js" => "text/javascript; charset=utf-8",
        "cardtoken_wasm_bg.wasm" => "application/wasm",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match tokio::fs::read(state.config.pkg_dir.join(&file)).await {
        Ok(bytes) => asset(content_type, bytes),
        Err(_) => (StatusCode::NOT_FOUND, "the package is not built: npm run build").into_response(),
    }
}

/// Checks a `frame-ancestors` value: `*`, `'none'`, `'self'`, or http(s) origins (with `*.` hosts).
pub fn valid_ancestors(value: &str) -> bool {
    let ok = |s: &str| {
        matches!(s, "*" | "'none'" | "'self'")
            || ((s.starts_with("https://") || s.starts_with("http://"))
                && s.split("://").nth(1).is_some_and(|host| {
                    !host.is_empty()
                        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:*".contains(&b))
                }))
    };
    !value.trim().is_empty() && value.split_whitespace().all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_origins_and_keywords_are_accepted_as_frame_ancestors() {
        assert!(valid_ancestors("*"));
        assert!(valid_ancestors("https://shop.example https://*.shop.example http://localhost:4243"));
        assert!(valid_ancestors("'none'"));
        assert!(!valid_ancestors("https://shop.example; script-src *"));
        assert!(!valid_ancestors("javascript:alert(1)"));
        assert!(!valid_ancestors(""));
    }

    #[test]
    fn the_policy_allows_scripts_only_from_its_own_origin() {
        let csp = content_security_policy("https://shop.example", false);
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.ends_with("frame-ancestors https://shop.example"));
        let safari15 = content_security_policy("https://shop.example", true);
        assert!(safari15.contains("script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval';"));
        assert!(!safari15.contains("unsafe-inline"));
    }

    #[test]
    fn only_safari_and_ios_15_get_unsafe_eval_for_their_webassembly() {
        let check = |ua: &str, expected: bool| assert_eq!(lacks_wasm_unsafe_eval(ua), expected, "{ua}");
        check("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Safari/605.1.15", true);
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1", true);
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/108.0.5359.112 Mobile/15E148 Safari/604.1", true);
        check("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Safari/605.1.15", false);
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", false);
        check("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", false);
        check("Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0", false);
        check("", false);
    }
}
