//! The HTTP face of the domain (axum): the router, extractors, the error mapping, the routes and the
//! OpenAPI document. Handlers parse and check the request, call one domain operation, and render its
//! answer; they hold no business rules.

pub mod auth;
pub mod client;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod params;
pub mod routes;

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderName, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};

use crate::domain::{Error, Services};
use auth::CallerSlot;
use routes::{elements, health, monitoring, payments, threeds, tokens, webhooks};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What handlers share: the domain's services, and whether the server is stopping.
#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    stopping: Arc<AtomicBool>,
    frame: Arc<elements::FrameCache>,
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Runs an operation that asks the processor on a task of its own and waits for it: a client that hangs
/// up (which drops the handler's future) does not stop it half-way, between the processor's answer and
/// the transaction that records it. It finishes and stores its answer, which the client's retry replays.
pub async fn detached<T: Send + 'static>(
    op: impl std::future::Future<Output = T> + Send + 'static,
    gone: impl FnOnce() -> T,
) -> T {
    use tracing::Instrument;
    match tokio::spawn(op.instrument(tracing::Span::current())).await {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "an operation's task failed");
            gone()
        }
    }
}

impl AppState {
    pub fn new(services: Arc<Services>) -> AppState {
        AppState { services, stopping: Arc::new(AtomicBool::new(false)), frame: Arc::default() }
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Whether a graceful stop has begun (`/readyz` then answers 503 so balancers drain).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// The card fields' frame (its assets, read once from the built package).
    pub fn frame(&self) -> &elements::FrameCache {
        &self.frame
    }
}

async fn not_found() -> Error {
    Error::NotFound { message: "Unrecognized request URL or method.".to_string() }
}

/// A method as a label value: the ones the API knows, anything else folded into one value.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records every API request: method, route template (never the path, which may hold ids; written
/// `/v1/payments/:id`, braces being awkward in label values), status, latency, and, once authentication
/// has named it, the account and mode whose windows count it.
async fn track(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().replace('{', ":").replace('}', ""));
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    state.monitor.record_request(slot.0.get(), state.now(), method, &route, response.status().as_u16(), ms);
    response
}

/// The JWKS: readable from any origin, its `Date` too (the package dates its JWEs by the server's clock,
/// so a shopper's wrong clock does not make them stale).
fn jwks_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .expose_headers([header::DATE])
        .max_age(Duration::from_secs(600))
}

pub fn api_router(state: AppState) -> Router {
    // Browsers call these from any merchant origin: tokenization, and reading a payment with its client
    // secret (3-D Secure). An OPTIONS route gives the layer a preflight to answer (it replies first).
    let cors = |method: Method| {
        CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([method])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .max_age(Duration::from_secs(600))
    };
    let preflight = || async { axum::http::StatusCode::NO_CONTENT };
    let api = Router::new()
        .route("/v1/tokens", post(tokens::create).options(preflight).layer(cors(Method::POST)))
        .route("/v1/payments/{id}", get(payments::get).options(preflight).layer(cors(Method::GET)))
        .route("/v1/tokens/{id}", get(tokens::get))
        .route("/.well-known/jwks.json", get(tokens::jwks).layer(jwks_cors()))
        .route("/v1/payments", post(payments::create).get(payments::list))
        .route("/v1/payments/{id}/capture", post(payments::capture))
        .route("/v1/payments/{id}/cancel", post(payments::cancel))
        .route("/v1/refunds", post(payments::refund))
        .route("/v1/webhook_endpoints", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhook_endpoints/{id}", axum::routing::delete(webhooks::delete))
        .route("/v1/webhook_endpoints/{id}/rotate_secret", post(webhooks::rotate_secret))
        .route("/v1/events", get(webhooks::list_events))
        .route("/v1/events/{id}", get(webhooks::get_event))
        .route("/v1/events/{id}/redeliver", post(webhooks::redeliver))
        .route("/v1/events/{id}/deliveries", get(webhooks::deliveries))
        .route("/v1/alerts", get(monitoring::alerts))
        .route("/v1/monitoring", get(monitoring::series))
        .route("/3ds/{id}", get(threeds::show).post(threeds::complete))
        .route("/elements/card", get(elements::card))
        .route("/elements/v/{hash}/{file}", get(elements::asset))
        .route("/metrics", get(monitoring::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .merge(dashboard::router());
    api.fallback(not_found)
        .method_not_allowed_fallback(not_found)
        // `layer`, not `route_layer`: requests no route or method matches are counted too, under one
        // label value each (`route="unmatched"`, `method="other"`).
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(crate::telemetry::request_span_layer())
        .with_state(state)
}
