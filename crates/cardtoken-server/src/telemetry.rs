//! Logs: `tracing` to stderr, filtered by `RUST_LOG` (default `info`; libraries that would log what they
//! are handed stay at `info` whatever it says). Handlers are instrumented with
//! `skip_all`, and request spans carry the method and the path only, at every level: never the query
//! string (a client secret travels there) nor a body.

use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(guarded(filter)).with_writer(std::io::stderr).try_init();
}

/// `filter` with the limits no `RUST_LOG` lifts: libraries that log what they were handed. At debug,
/// `tokio_postgres` logs every statement's parameters (webhook secrets, key hashes, sealed card data).
/// A cap, not a level: where `RUST_LOG` asks for `info` or less everywhere, nothing is added (a directive
/// `postgres=info` would lift those libraries above a `warn` that asked for less).
pub fn guarded(filter: EnvFilter) -> EnvFilter {
    let quiet_enough = filter.max_level_hint().is_some_and(|max| max <= LevelFilter::INFO);
    if quiet_enough {
        return filter;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `RUST_LOG=directives` lets through of the four events below.
    fn logged(directives: &str) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(guarded(EnvFilter::new(directives)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "tokio_postgres::query", "statement parameters");
            tracing::info!(target: "postgres::config", "a notice");
            tracing::warn!(target: "postgres::config", "a warning");
            tracing::info!(target: "cardtoken_server::app", "our own info");
        });
        let bytes = out.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn trace_everywhere_still_stops_the_database_library_at_info() {
        let out = logged("trace");
        assert!(!out.contains("statement parameters"), "{out}");
        assert!(out.contains("a notice") && out.contains("our own info"), "{out}");
    }

    #[test]
    fn a_quieter_level_is_not_lifted_for_the_database_library() {
        let out = logged("warn");
        assert!(!out.contains("a notice") && !out.contains("our own info"), "{out}");
        assert!(out.contains("a warning"), "{out}");
    }

    #[test]
    fn a_library_asked_for_at_debug_is_capped_at_info() {
        let out = logged("warn,tokio_postgres=debug");
        assert!(!out.contains("statement parameters"), "{out}");
    }
}
