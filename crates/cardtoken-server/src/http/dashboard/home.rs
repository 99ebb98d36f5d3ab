//! Home: today's monitoring page (charts and alerts of the selected mode), its data, and the
//! dashboard's static files (its script and style, uPlot from `node_modules`).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde_json::{json, Value};

use super::views::{page_with, Nav};
use super::{html as respond, query_param, Signed, M};
use crate::domain::monitoring;
use crate::http::AppState;

const SCRIPT: &str = include_str!("../../../../../js/dashboard/dashboard.js");
const STYLE: &str = include_str!("../../../../../js/dashboard/dashboard.css");

/// The dashboard's home page: monitoring charts and alerts (not signed in: to the sign-in page).
#[utoipa::path(get, path = "/dashboard", tag = "monitoring", operation_id = "dashboard",
    responses((status = 200, description = "The dashboard's home page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
pub async fn page(s: Signed) -> Response {
    let lang = s.lang;
    // The script's words, in the page's language.
    let labels = json!({
        "requests": lang.t(M::StatRequests), "success": lang.t(M::StatSuccess), "server_errors": lang.t(M::Stat5xx),
        "webhooks": lang.t(M::StatWebhooks), "open_alerts": lang.t(M::StatOpenAlerts),
        "no_alerts": lang.t(M::NoAlerts), "open": lang.t(M::AlertOpen), "cleared": lang.t(M::AlertCleared),
        "since": lang.t(M::Since), "updated": lang.t(M::Updated), "offline": lang.t(M::Offline),
        "success_rate": lang.t(M::SeriesSuccess), "delivered": lang.t(M::SeriesDelivered),
        "failed": lang.t(M::SeriesFailed), "declined": lang.t(M::SeriesDeclined),
    });
    let body = html! {
        div #board data-labels=(labels.to_string()) {
            fieldset.window {
                legend { (lang.t(M::Window)) }
                label { input type="radio" name="window" value="hour" checked; " " (lang.t(M::LastHour)) }
                label { input type="radio" name="window" value="day"; " " (lang.t(M::LastDay)) }
            }
            section aria-labelledby="summary-title" {
                h2 #summary-title { (lang.t(M::Summary)) }
                div #summary aria-live="polite" {}
            }
            section #alerts-section aria-labelledby="alerts-title" {
                h2 #alerts-title { (lang.t(M::Alerts)) }
                ul #alerts {}
            }
            section.charts {
                figure { figcaption #cap-success { (lang.t(M::ChartSuccess)) } div #chart-success .chart role="img" aria-labelledby="cap-success" {} }
                figure { figcaption #cap-latency { (lang.t(M::ChartLatency)) } div #chart-latency .chart role="img" aria-labelledby="cap-latency" {} }
                figure { figcaption #cap-errors { (lang.t(M::ChartErrors)) } div #chart-errors .chart role="img" aria-labelledby="cap-errors" {} }
                figure { figcaption #cap-webhooks { (lang.t(M::ChartWebhooks)) } div #chart-webhooks .chart role="img" aria-labelledby="cap-webhooks" {} }
            }
            p #updated .hint {}
        }
    };
    respond(StatusCode::OK, page_with(&s, Nav::Home, "/dashboard", lang.t(M::Home), None, true, body))
}

/// `GET /dashboard/monitoring.json?window=hour|day`: the selected mode's series and alerts.
pub async fn data(State(state): State<AppState>, s: Signed, request: axum::extract::Request) -> Response {
    let day = query_param(request.uri().query(), "window").as_deref() == Some("day");
    let scope = &s.caller.scope;
    let made = async {
        let mut body = monitoring::series(&state, scope, day).await?;
        body["alerts"] = serde_json::to_value(monitoring::alerts(&state, scope).await?).unwrap_or_default();
        body["now"] = json!(state.now());
        Ok::<Value, crate::domain::Error>(body)
    };
    match made.await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The dashboard's script and style, and uPlot.
pub async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let typed = |content_type: &'static str, body: Vec<u8>| {
        let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    };
    match file.as_str() {
        "dashboard.js" => typed("text/javascript; charset=utf-8", SCRIPT.as_bytes().to_vec()),
        "dashboard.css" => typed("text/css; charset=utf-8", STYLE.as_bytes().to_vec()),
        "uPlot.iife.min.js" | "uPlot.min.css" => {
            let content_type = if file.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else {
                "text/css; charset=utf-8"
            };
            match tokio::fs::read(state.config.dashboard_assets_dir.join(&file)).await {
                Ok(bytes) => typed(content_type, bytes),
                Err(_) => (StatusCode::NOT_FOUND, "uPlot is not installed: npm install").into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
