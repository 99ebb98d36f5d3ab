//! Logs: `tracing` to stderr, filtered by `RUST_LOG` (default `info`; libraries that would log what they
//! are handed stay at `info` whatever it says). Handlers are instrumented with
//! `skip_all`, and request spans carry the method and the path only, at every level: never the query
//! string (a client secret travels there) nor a body.

use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(guarded(filter)).with_writer(std::io::stderr).try_init();
}

/// `filter` with the limits no `RUST_LOG` lifts: libraries that log what they were handed. At debug,
/// `tokio_postgres` logs every statement's parameters (webhook secrets, key hashes, sealed card data).
pub fn guarded(filter: EnvFilter) -> EnvFilter {
    let mut filter = filter;
    for directive in ["tokio_postgres=info", "postgres=info"] {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// A request's span: method and path, nothing else.
#[derive(Clone, Copy, Debug, Default)]
pub struct PathOnly;

impl<B> MakeSpan<B> for PathOnly {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
    }
}

/// The request-logging layer of both servers.
pub fn request_span_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, PathOnly> {
    TraceLayer::new_for_http().make_span_with(PathOnly)
}
