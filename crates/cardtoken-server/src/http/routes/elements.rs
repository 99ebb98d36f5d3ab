//! The card fields' frame, on the API's origin.
//!
//! - `/elements/card?pk=…` is the document: short-lived (`no-cache`, with an ETag), with a strict
//!   Content-Security-Policy whose `frame-ancestors` is the publishable key's setting
//!   (`cardtoken-server keys frame-ancestors`, `*` by default). It loads its style, script and wasm from
//!   content-addressed URLs, each pinned with `integrity` (the wasm's URL and hash ride on the script's
//!   element, which fetches it with that hash). Where the browser takes a preload's response for that
//!   fetch (Chromium, Firefox), a preload link starts the wasm beside the script; WebKit would download
//!   it twice, so its documents have none.
//! - `/elements/v/{hash}/{file}` are those assets: `hash` is the first 16 hex digits of the file's SHA-384,
//!   any other hash is a 404, and the answer is immutable (cached for a year). Each is sent brotli- or
//!   gzip-compressed when the browser accepts it, from the `.br` and `.gz` files `npm run build` wrote
//!   beside it.
//!
//! The assets are `{pkg_dir}/frame/{card.js, card.css, cardtoken_wasm_bg.wasm}` (and their `.br`, `.gz`),
//! read once, on the first request that finds them; the hashes are computed here, from the bytes served.

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha384};
use tokio::sync::OnceCell;

use crate::domain::accounts;
use crate::http::AppState;
use crate::store::KeyKind;

/// The document's template: `{card.css}`, `{card.js}` and `{cardtoken_wasm_bg.wasm}` stand for each
/// asset's URL, `{… integrity}` for its `sha384-…`, and `{preload}` for the wasm's preload link (or nothing).
const CARD_HTML: &str = include_str!("../../../../../js/elements/card.html");

/// The frame's assets: file name and content type.
const ASSETS: [(&str, &str); 3] = [
    ("card.js", "text/javascript; charset=utf-8"),
    ("card.css", "text/css; charset=utf-8"),
    ("cardtoken_wasm_bg.wasm", "application/wasm"),
];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

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

/// Safari, every iOS browser, and WebKit's other ports, by User-Agent.
fn apple_webkit(user_agent: &str) -> bool {
    user_agent.contains("AppleWebKit/")
        && !user_agent.contains("Chrome/")
        && !user_agent.contains("Chromium/")
}

/// Safari and iOS 15 (every iOS browser is WebKit), by User-Agent: the only supported browsers without
/// `'wasm-unsafe-eval'`. Anything else, or no User-Agent, gets the strict policy.
pub fn lacks_wasm_unsafe_eval(user_agent: &str) -> bool {
    apple_webkit(user_agent) && (user_agent.contains("Version/15.") || user_agent.contains(" OS 15_"))
}

/// Whether the browser answers `fetch()` with a `<link rel=preload as=fetch>`'s response. WebKit does not
/// (it downloads the file again: measured in WebKitGTK 2.50 and WPE 2.38), so it gets no preload.
pub fn takes_fetch_preloads(user_agent: &str) -> bool {
    !apple_webkit(user_agent)
}

/// A content coding the assets are stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// What to send for an `Accept-Encoding` header, of the copies there are (`brotli`, `gzip`; the file as is
/// always): brotli if accepted, else gzip, else as is. A coding is accepted when it is listed (or `*` is)
/// with a q-value above 0.
pub fn negotiate(accept_encoding: &str, brotli: bool, gzip: bool) -> Encoding {
    let mut br_q = None;
    let mut gzip_q = None;
    let mut any_q = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let accepted = Some(q > 0.0);
        match coding.as_str() {
            "br" => br_q = accepted,
            "gzip" | "x-gzip" => gzip_q = accepted,
            "*" => any_q = accepted,
            _ => {}
        }
    }
    if brotli && br_q.or(any_q) == Some(true) {
        Encoding::Brotli
    } else if gzip && gzip_q.or(any_q) == Some(true) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// One asset, as read from the build and as compressed there.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    /// The first 16 hex digits of the SHA-384 of `identity`: the URL's hash.
    hash: String,
    /// `sha384-<base64>` of `identity`, for `integrity`.
    integrity: String,
    identity: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

impl Asset {
    fn url(&self) -> String {
        format!("/elements/v/{}/{}", self.hash, self.name)
    }
}

/// The frame's assets and its document, rendered with their URLs and hashes, with and without the wasm's
/// preload.
pub struct Frame {
    assets: Vec<Asset>,
    preloading: String,
    plain: String,
}

async fn read_optional(path: &Path) -> std::io::Result<Option<Bytes>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(Bytes::from(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Frame {
    /// Reads the assets from `{pkg_dir}/frame/`; fails when one is missing (the package is not built).
    pub async fn load(pkg_dir: &Path) -> std::io::Result<Frame> {
        let dir = pkg_dir.join("frame");
        let mut assets = Vec::with_capacity(ASSETS.len());
        for (name, content_type) in ASSETS {
            let identity = Bytes::from(tokio::fs::read(dir.join(name)).await?);
            let digest = Sha384::digest(&identity);
            assets.push(Asset {
                name,
                content_type,
                hash: digest.iter().take(8).map(|b| format!("{b:02x}")).collect(),
                integrity: format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest)),
                brotli: read_optional(&dir.join(format!("{name}.br"))).await?,
                gzip: read_optional(&dir.join(format!("{name}.gz"))).await?,
                identity,
            });
        }
        let preload =
            "<link rel=\"preload\" href=\"{cardtoken_wasm_bg.wasm}\" as=\"fetch\" type=\"application/wasm\" \
                       crossorigin=\"anonymous\" integrity=\"{cardtoken_wasm_bg.wasm integrity}\">";
        let fill = |template: &str| {
            assets.iter().fold(template.to_string(), |doc, asset| {
                doc.replace(&format!("{{{} integrity}}", asset.name), &asset.integrity)
                    .replace(&format!("{{{}}}", asset.name), &asset.url())
            })
        };
        let preloading = fill(&CARD_HTML.replace("{preload}", preload));
        let plain = fill(&CARD_HTML.replace("{preload}", ""));
        Ok(Frame { assets, preloading, plain })
    }

    /// The document, with each asset's URL and integrity in place, and the wasm preloaded or not.
    pub fn document(&self, preload: bool) -> &str {
        if preload {
            &self.preloading
        } else {
            &self.plain
        }
    }

    /// `(url, integrity)` of each asset.
    pub fn pins(&self) -> Vec<(String, String)> {
        self.assets.iter().map(|a| (a.url(), a.integrity.clone())).collect()
    }
}

/// The frame, loaded by the first request that finds the built package (a failed read is tried again).
#[derive(Default)]
pub struct FrameCache(OnceCell<Arc<Frame>>);

impl FrameCache {
    async fn get(&self, pkg_dir: &Path) -> Option<Arc<Frame>> {
        let loaded = self.0.get_or_try_init(|| async { Frame::load(pkg_dir).await.map(Arc::new) }).await;
        match loaded {
            Ok(frame) => Some(frame.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "the card fields' assets are not built (npm run build)");
                None
            }
        }
    }
}

fn not_built() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "the package is not built: npm run build").into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn nosniff(r: &mut Response) {
    r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
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
    let Some(frame) = state.frame().get(&state.config.pkg_dir).await else {
        return not_built();
    };
    let ancestors = key.frame_ancestors.unwrap_or_else(|| "*".to_string());
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let policy = content_security_policy(&ancestors, lacks_wasm_unsafe_eval(user_agent));
    let document = frame.document(takes_fetch_preloads(user_agent));
    // An account that takes cards only encrypted: the frame then never sends one in clear, whatever
    // answers its request for the keys.
    let required = match accounts::requires_encryption(&state, &key.account_id).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let document = if required {
        std::borrow::Cow::Owned(document.replacen(
            "<head>",
            "<head>\n  <meta name=\"cardtoken-encryption\" content=\"required\">",
            1,
        ))
    } else {
        std::borrow::Cow::Borrowed(document)
    };
    let document = document.as_ref();
    // The answer is the document and its policy: its ETag covers both.
    let etag = {
        let digest = Sha384::new().chain_update(document).chain_update([0]).chain_update(&policy).finalize();
        format!("\"{}\"", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>())
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], document.to_string()).into_response()
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Short-lived: checked again on every mount (a 304 when nothing changed), so a key's settings and a
    // new release apply at once; the assets it names are what browsers keep.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("User-Agent"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    nosniff(&mut r);
    r
}

/// `/elements/v/{hash}/{file}`: an asset of the frame at its content-addressed URL.
pub async fn asset(
    State(state): State<AppState>,
    UrlPath((hash, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(frame) = state.frame().get(&state.config.pkg_dir).await else {
        return not_built();
    };
    let Some(asset) = frame.assets.iter().find(|a| a.name == file && a.hash == hash) else {
        let mut r = (StatusCode::NOT_FOUND, "no such asset").into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return r;
    };
    let accepted = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (body, coding) = match negotiate(accepted, asset.brotli.is_some(), asset.gzip.is_some()) {
        Encoding::Brotli => (asset.brotli.clone(), Some("br")),
        Encoding::Gzip => (asset.gzip.clone(), Some("gzip")),
        Encoding::Identity => (None, None),
    };
    let mut r =
        ([(header::CONTENT_TYPE, asset.content_type)], body.unwrap_or_else(|| asset.identity.clone()))
            .into_response();
    let h = r.headers_mut();
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    nosniff(&mut r);
    r
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

    #[test]
    fn webkit_gets_no_preload_of_the_wasm() {
        let webkit = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15";
        let ios_chrome = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1";
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0";
        assert!(!takes_fetch_preloads(webkit));
        assert!(!takes_fetch_preloads(ios_chrome));
        assert!(takes_fetch_preloads(chrome));
        assert!(takes_fetch_preloads(firefox));
        assert!(takes_fetch_preloads(""));
    }

    #[test]
    fn brotli_is_sent_where_accepted_then_gzip_then_the_file_as_is() {
        let check = |header: &str, expected: Encoding| {
            assert_eq!(negotiate(header, true, true), expected, "{header:?}")
        };
        check("gzip, deflate, br, zstd", Encoding::Brotli);
        check("br;q=0.5, gzip;q=1", Encoding::Brotli);
        check("gzip, deflate", Encoding::Gzip);
        check("GZIP", Encoding::Gzip);
        check("x-gzip", Encoding::Gzip);
        check("br;q=0, gzip", Encoding::Gzip);
        check("br;q=0, gzip;q=0", Encoding::Identity);
        check("*", Encoding::Brotli);
        check("*;q=0", Encoding::Identity);
        check("br;q=0, *", Encoding::Gzip);
        check("identity", Encoding::Identity);
        check("deflate, zstd", Encoding::Identity);
        check("", Encoding::Identity);
        // Only the copies there are: never a coding the browser did not accept.
        assert_eq!(negotiate("br", false, true), Encoding::Identity);
        assert_eq!(negotiate("gzip, br", false, true), Encoding::Gzip);
        assert_eq!(negotiate("gzip, br", false, false), Encoding::Identity);
    }

    #[tokio::test]
    async fn the_document_pins_each_asset_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("frame")).unwrap();
        for (name, _) in ASSETS {
            std::fs::write(dir.path().join("frame").join(name), format!("contents of {name}")).unwrap();
        }
        let frame = Frame::load(dir.path()).await.unwrap();
        let js = frame.assets.iter().find(|a| a.name == "card.js").unwrap();
        let expected = Sha384::digest(b"contents of card.js");
        assert_eq!(js.hash.len(), 16);
        assert_eq!(js.hash, expected.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>());
        assert!(
            js.brotli.is_none() && js.gzip.is_none(),
            "no .br or .gz was written: the file is sent as is"
        );
        for preload in [true, false] {
            let doc = frame.document(preload);
            for (url, integrity) in frame.pins() {
                assert!(url.starts_with("/elements/v/"), "{url}");
                assert!(doc.contains(&format!("\"{url}\"")), "the document names {url}");
                assert!(doc.contains(&format!("integrity=\"{integrity}\"")), "and pins it: {integrity}");
            }
            assert!(!doc.contains('{'), "every placeholder is filled: {doc}");
            assert_eq!(doc.contains("rel=\"preload\""), preload);
        }
        std::fs::remove_file(dir.path().join("frame/card.css")).unwrap();
        assert!(
            Frame::load(dir.path()).await.is_err(),
            "a missing asset is an error, not a frame without it"
        );
    }
}
