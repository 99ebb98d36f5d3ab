//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' annotations and the wire
//! types, so it cannot drift from the code. Served at `/openapi.json`; `openapi.json` at the repository
//! root is a copy that a test holds equal (`cardtoken-server openapi > openapi.json` rewrites it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{monitoring, payments, threeds, tokens, webhooks};

/// The `Idempotency-Key` header any POST may carry.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// At most 255 characters. The same key with the same request replays the stored response for 24 h.
    #[param(rename = "Idempotency-Key", max_length = 255)]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("pk_test_… (browser routes) or sk_test_… (server routes)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cardtoken", description = "Card tokenization and payments. See shared/contract.md.",
        license(name = "MIT OR Apache-2.0")),
    paths(tokens::create, tokens::get, payments::create, payments::get, payments::list, payments::capture,
        payments::cancel, payments::refund, threeds::show, threeds::complete, webhooks::create, webhooks::list,
        webhooks::delete, webhooks::rotate_secret, webhooks::list_events, webhooks::get_event, webhooks::redeliver,
        webhooks::deliveries, monitoring::metrics, monitoring::alerts, monitoring::series, monitoring::dashboard),
    modifiers(&BearerAuth),
    tags((name = "tokens"), (name = "payments"), (name = "refunds"), (name = "3-D Secure"), (name = "webhooks"),
        (name = "events"), (name = "monitoring"))
)]
pub struct ApiDoc;

/// The document as pretty JSON, the form kept in the repository.
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

pub async fn serve() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_openapi_json_is_the_generated_one() {
        let committed = include_str!("../../../openapi.json");
        assert!(
            committed.trim_end() == super::json().trim_end(),
            "openapi.json is stale: run `cargo run -p cardtoken-server -- openapi > openapi.json`"
        );
        let doc: serde_json::Value = serde_json::from_str(committed).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/v1/tokens",
            "/v1/tokens/{id}",
            "/v1/payments",
            "/v1/payments/{id}",
            "/v1/payments/{id}/capture",
            "/v1/payments/{id}/cancel",
            "/v1/refunds",
            "/3ds/{id}",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is documented");
        }
    }
}
