//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' annotations and the wire
//! types, so it cannot drift from the code. Served at `/openapi.json`; `openapi.json` at the repository
//! root is a copy that a test holds equal (`cardtoken-server openapi > openapi.json` rewrites it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dashboard::home;
use super::routes::{health, monitoring, payments, threeds, tokens, webhooks};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "pk_test_…/pk_live_… (browser routes) or sk_test_…/sk_live_… (server routes)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cardtoken", description = "Card tokenization and payments. See shared/contract.md.",
        license(name = "MIT OR Apache-2.0")),
    paths(tokens::create, tokens::get, tokens::jwks, payments::create, payments::get, payments::list, payments::capture,
        payments::cancel, payments::refund, threeds::show, threeds::complete, webhooks::create, webhooks::list,
        webhooks::delete, webhooks::rotate_secret, webhooks::list_events, webhooks::get_event, webhooks::redeliver,
        webhooks::deliveries, monitoring::metrics, monitoring::alerts, monitoring::series, home::page,
        health::healthz, health::readyz),
    modifiers(&BearerAuth),
    tags((name = "tokens"), (name = "payments"), (name = "refunds"), (name = "3-D Secure"), (name = "webhooks"),
        (name = "events"), (name = "monitoring"), (name = "operations"))
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
        let committed = include_str!("../../../../openapi.json");
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
