//! The demo shop's own back end, on the demo origin: what a merchant's server does with a token. It
//! holds the shop's secret key (never sent to the page) and calls the cardtoken API over HTTP, exactly
//! as any merchant server would; the page talks only to these routes and to the tokenization endpoint.

use std::collections::VecDeque;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use cardtoken_types::webhook::{verify, Deduplicator};

use crate::clock::Clock;
use crate::domain::accounts;
use crate::ids::random_alnum;
use crate::store::Store;

/// The price of the demo's one product.
pub const PRICE_JPY: u64 = 1500;

/// The shop's key pair, as a merchant keeps it in its server's configuration.
#[derive(Clone)]
pub struct Merchant {
    pub publishable: String,
    pub secret: SecretString,
    http: reqwest::Client,
    /// What its webhook receiver got.
    pub inbox: Arc<Mutex<Inbox>>,
}

/// What the shop's routes share.
#[derive(Clone)]
pub struct ShopState {
    pub merchant: Option<Merchant>,
    /// The API's URL, as the shop's server calls it.
    pub api_base: String,
    /// The shop's own origin (`http://localhost:4243`): the only one that may drive it.
    pub origin: String,
    pub clock: Arc<dyn Clock>,
}

/// The shop's webhook receiver: its endpoint secret, the events it took, and the ids it has seen.
pub struct Inbox {
    secret: Option<String>,
    events: VecDeque<serde_json::Value>,
    seen: Deduplicator,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox { secret: None, events: VecDeque::new(), seen: Deduplicator::new(1000) }
    }
}

#[derive(Serialize, Deserialize)]
struct MerchantFile {
    #[serde(default)]
    account: Option<String>,
    publishable_key: String,
    secret_key: String,
}

impl Merchant {
    /// Reads `demo-merchant.json` from the data dir, or makes the shop's own account (its test key pair
    /// is what the shop keeps) and writes the file (mode 0600).
    pub async fn load_or_create(
        data_dir: &FsPath,
        store: &Arc<dyn Store>,
        now: i64,
    ) -> Result<Merchant, String> {
        let path = data_dir.join("demo-merchant.json");
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<MerchantFile>(&text).map_err(|e| e.to_string())?,
            Err(_) => {
                let made =
                    accounts::create_account(store, "Demo shop", now).await.map_err(|e| e.to_string())?;
                let file = MerchantFile {
                    account: Some(made.account.id.clone()),
                    publishable_key: accounts::reveal(&made.test.publishable).to_string(),
                    secret_key: accounts::reveal(&made.test.secret).to_string(),
                };
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                use std::io::Write;
                let mut f = options.open(&path).map_err(|e| e.to_string())?;
                f.write_all(serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?.as_bytes())
                    .map_err(|e| e.to_string())?;
                file
            }
        };
        Ok(Merchant {
            publishable: file.publishable_key,
            secret: file.secret_key.into(),
            http: reqwest::Client::new(),
            inbox: Arc::new(Mutex::new(Inbox::default())),
        })
    }

    /// Registers the shop's receiver at `url` (replacing an earlier registration of the same URL), as a
    /// merchant does when it deploys.
    pub async fn register_receiver(&self, api_base: &str, url: &str) -> Result<(), String> {
        let auth = format!("Bearer {}", self.secret.expose_secret());
        let list: serde_json::Value = self
            .http
            .get(format!("{api_base}/v1/webhook_endpoints"))
            .header("authorization", &auth)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        for old in list["data"].as_array().into_iter().flatten().filter(|e| e["url"] == url) {
            if let Some(id) = old["id"].as_str() {
                let _ = self
                    .http
                    .delete(format!("{api_base}/v1/webhook_endpoints/{id}"))
                    .header("authorization", &auth)
                    .send()
                    .await;
            }
        }
        let created: serde_json::Value = self
            .http
            .post(format!("{api_base}/v1/webhook_endpoints"))
            .header("authorization", &auth)
            .json(&json!({ "url": url }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let secret = created["secret"].as_str().ok_or_else(|| format!("registration refused: {created}"))?;
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).secret = Some(secret.to_string());
        Ok(())
    }
}

pub fn router(state: ShopState) -> Router {
    let page_calls = Router::new()
        .route("/shop/pay", post(pay))
        .route("/shop/payments/{id}", get(get_payment))
        .route("/shop/payments/{id}/{action}", post(act))
        .route("/shop/refunds", post(refund))
        .route("/shop/events", get(events))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), same_origin_json));
    Router::new().route("/shop/webhooks", post(receive)).merge(page_calls).with_state(state)
}

/// The shop's page calls carry its own `Origin` (browsers send it on every POST, and on cross-origin
/// GETs) and JSON bodies: another site cannot drive the shop's secret key with a form or a `text/plain`
/// request.
async fn same_origin_json(
    State(shop): State<ShopState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let post = request.method() == axum::http::Method::POST;
    let foreign = match origin {
        Some(o) => o != shop.origin,
        None => post,
    };
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if foreign {
        tracing::warn!("the demo shop refused a request from another origin");
        return (StatusCode::FORBIDDEN, "the shop answers its own page only").into_response();
    }
    if post && !json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send JSON").into_response();
    }
    next.run(request).await
}

/// The shop's webhook receiver: verifies the signature, ignores duplicates, keeps the last 50 events.
async fn receive(State(demo): State<ShopState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(merchant) = &demo.merchant else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let now = demo.clock.now();
    let mut inbox = merchant.inbox.lock().unwrap_or_else(|p| p.into_inner());
    let Some(secret) = inbox.secret.clone() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify(&secret, header, &body, now) {
        tracing::warn!(error = %e, "the demo shop refused a webhook");
        return (StatusCode::BAD_REQUEST, "signature check failed").into_response();
    }
    let id = header("webhook-id").unwrap_or_default().to_string();
    if inbox.seen.first_time(&id) {
        if let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) {
            inbox.events.push_front(event);
            inbox.events.truncate(50);
        }
    }
    StatusCode::OK.into_response()
}

/// What the receiver took, newest first, summarised for the page.
async fn events(State(demo): State<ShopState>) -> Response {
    let list: Vec<serde_json::Value> = demo
        .merchant
        .as_ref()
        .map(|m| {
            let inbox = m.inbox.lock().unwrap_or_else(|p| p.into_inner());
            inbox
                .events
                .iter()
                .map(|e| {
                    let o = &e["data"]["object"];
                    json!({"id": e["id"], "type": e["type"], "created": e["created"], "object": o["id"],
                        "status": o["status"], "amount": o["amount"]})
                })
                .collect()
        })
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], json!({ "data": list }).to_string()).into_response()
}

/// Relays the API's answer (status and JSON) to the page.
async fn call(
    demo: &ShopState,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    key: Option<&str>,
) -> Response {
    let Some(merchant) = &demo.merchant else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the demo shop has no keys").into_response();
    };
    let mut req = merchant
        .http
        .request(method, format!("{}{path}", demo.api_base))
        .bearer_auth(merchant.secret.expose_secret());
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    match req.send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "the demo shop could not reach the API");
            (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "application/json")],
                json!({"error": {"type": "api_error", "code": "unreachable", "message": "The shop could not reach the payment API."}}).to_string())
                .into_response()
        }
    }
}

fn plausible_id(id: &str, prefix: &str) -> bool {
    id.starts_with(prefix) && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"type": "invalid_request_error", "code": "bad_request", "message": message}})
            .to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct PayRequest {
    token: String,
    #[serde(default = "yes")]
    capture: bool,
}

fn yes() -> bool {
    true
}

/// An order key the page sends, so a retried "Pay" cannot charge twice.
fn order_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-order-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| k.len() <= 64)
        .map(|k| format!("demo-{k}"))
}

async fn pay(State(demo): State<ShopState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<PayRequest>(&body) else {
        return bad_request("Send {token, capture}.");
    };
    if !plausible_id(&req.token, "tok_") {
        return bad_request("That is not a token.");
    }
    let key = order_key(&headers).or_else(|| random_alnum(16).ok());
    let body = json!({
        "amount": PRICE_JPY, "currency": "jpy", "token": req.token, "capture": req.capture,
        "description": "1 × Ceramic mug", "metadata": {"order": key.clone().unwrap_or_default()},
    });
    call(&demo, reqwest::Method::POST, "/v1/payments", Some(body), key.as_deref()).await
}

async fn get_payment(State(demo): State<ShopState>, Path(id): Path<String>) -> Response {
    if !plausible_id(&id, "pay_") {
        return bad_request("That is not a payment.");
    }
    call(&demo, reqwest::Method::GET, &format!("/v1/payments/{id}"), None, None).await
}

async fn act(State(demo): State<ShopState>, Path((id, action)): Path<(String, String)>) -> Response {
    if !plausible_id(&id, "pay_") || !matches!(action.as_str(), "capture" | "cancel") {
        return bad_request("Capture or cancel a payment.");
    }
    call(&demo, reqwest::Method::POST, &format!("/v1/payments/{id}/{action}"), Some(json!({})), None).await
}

#[derive(Deserialize)]
struct RefundRequest {
    payment: String,
    amount: Option<u64>,
}

async fn refund(State(demo): State<ShopState>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<RefundRequest>(&body) else {
        return bad_request("Send {payment, amount?}.");
    };
    if !plausible_id(&req.payment, "pay_") {
        return bad_request("That is not a payment.");
    }
    let mut body = json!({"payment": req.payment});
    if let Some(a) = req.amount {
        body["amount"] = json!(a);
    }
    call(&demo, reqwest::Method::POST, "/v1/refunds", Some(body), None).await
}
