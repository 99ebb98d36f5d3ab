//! The demo merchant checkout (`www/`), on its own origin: the page, the built package under `/pkg/`,
//! and `/config.json` (the publishable key and the API's URL), as a merchant's site would serve them.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub mod shop;

use shop::ShopState;

/// The demo origin: the shop's files and back end.
#[derive(Clone)]
pub struct DemoState {
    pub shop: ShopState,
    pub www_dir: PathBuf,
    pub pkg_dir: PathBuf,
}

pub fn router(state: DemoState) -> Router {
    let shop = shop::router(state.shop.clone());
    Router::new()
        .route("/config.json", get(config))
        .fallback(get(file))
        .with_state(state)
        .merge(shop)
        .layer(crate::telemetry::request_span_layer())
}

/// What the page needs: the shop's publishable key and where the API is. Never the secret key.
async fn config(State(demo): State<DemoState>) -> Response {
    match &demo.shop.merchant {
        Some(m) => Json(json!({
            "publishableKey": m.publishable, "apiBase": demo.shop.api_base, "priceJpy": shop::PRICE_JPY,
        }))
        .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the demo shop has no keys").into_response(),
    }
}

/// `/pkg/…` from the built package, everything else from `www/`; no `..`, no hidden files.
fn resolve(config_www: &Path, config_pkg: &Path, uri_path: &str) -> Option<PathBuf> {
    let (base, rest) = match uri_path.strip_prefix("/pkg/") {
        Some(rest) => (config_pkg, rest),
        None => (config_www, uri_path.trim_start_matches('/')),
    };
    let rest = if rest.is_empty() { "index.html" } else { rest };
    let mut path = base.to_path_buf();
    for segment in rest.split('/') {
        if segment.is_empty() || segment.starts_with('.') || segment.contains('\\') {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

async fn file(State(demo): State<DemoState>, uri: Uri) -> Response {
    let Some(path) = resolve(&demo.www_dir, &demo.pkg_dir, uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.essence_str().to_string()),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use std::path::Path;

    #[test]
    fn paths_stay_inside_their_folders() {
        let (w, p) = (Path::new("/w"), Path::new("/p"));
        assert_eq!(resolve(w, p, "/").unwrap(), Path::new("/w/index.html"));
        assert_eq!(resolve(w, p, "/pkg/index.js").unwrap(), Path::new("/p/index.js"));
        assert_eq!(resolve(w, p, "/checkout.js").unwrap(), Path::new("/w/checkout.js"));
        assert!(resolve(w, p, "/../etc/passwd").is_none());
        assert!(resolve(w, p, "/pkg/../x").is_none());
        assert!(resolve(w, p, "/.git/config").is_none());
    }
}
