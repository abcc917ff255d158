//! Structured JSON logs, and OpenTelemetry traces exported over OTLP when configured.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, LevelFilter, filter_fn},
    fmt::MakeWriter,
    layer::{Filter, SubscriberExt},
    util::SubscriberInitExt,
};

/// Log level directives used when `RUST_LOG` is unset or unreadable.
const DEFAULT_DIRECTIVES: &str = "info,sqlx::postgres::notice=warn";

/// The level filter `directives` describe, or [`DEFAULT_DIRECTIVES`] when they are absent or unreadable.
fn level_filter(directives: Option<&str>) -> EnvFilter {
    directives
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_DIRECTIVES))
}

/// What the log layer sees: the events `level` passes, and no spans. The events-only part hints
/// the widest level, so the pair's hint stays `level`'s and callsites above it stay skipped.
fn logs_filter<S>(level: EnvFilter) -> impl Filter<S> {
    level.and(filter_fn(|meta| meta.is_event()).with_max_level_hint(LevelFilter::TRACE))
}

/// Keeps the trace exporter alive; flushes it when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(Err(err)) = self.provider.take().map(|p| p.shutdown()) {
            eprintln!("trace exporter shutdown failed: {err}");
        }
    }
}

/// JSON log lines to `writer` at the levels `directives` allow, and spans for `traces` when it
/// is given.
///
/// Log lines carry no span fields, so the log layer sees events only. Without a trace provider
/// the subscriber has no other layer and no span is made at all; with one, spans are made (and
/// their fields recorded) for the exporter alone, at the levels `directives` allow.
fn dispatch<W>(
    directives: Option<&str>,
    traces: Option<(&SdkTracerProvider, &'static str)>,
    writer: W,
) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
        .with_filter(logs_filter(level_filter(directives)));
    let registry = tracing_subscriber::registry().with(logs);
    match traces {
        None => Dispatch::new(registry),
        Some((provider, service)) => Dispatch::new(
            registry.with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer(service))
                    .with_filter(level_filter(directives)),
            ),
        ),
    }
}

/// Installs JSON logs filtered by `RUST_LOG` (default `info`) and, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OTLP/HTTP trace exporter whose spans `RUST_LOG`
/// filters too.
pub fn init(service: &'static str) -> TelemetryGuard {
    let provider = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|_| {
            match opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
            {
                Ok(exporter) => Some(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(Resource::builder().with_service_name(service).build())
                        .build(),
                ),
                Err(err) => {
                    eprintln!("OTLP exporter not started: {err}");
                    None
                }
            }
        });
    let directives = std::env::var("RUST_LOG").ok();
    let _ = dispatch(
        directives.as_deref(),
        provider.as_ref().map(|p| (p, service)),
        std::io::stdout,
    )
    .try_init();
    TelemetryGuard { provider }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::*;

    /// Whether a callsite is enabled is decided once for every subscriber alive at the time, so
    /// each test makes its subscriber, uses it and drops it while no other test has one.
    static ONE_SUBSCRIBER_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// Log output kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Makes a subscriber and, under it, a request-shaped span with events inside; returns
    /// whether the request span was made.
    fn emit(subscriber: impl FnOnce() -> Dispatch) -> bool {
        let _turn = ONE_SUBSCRIBER_AT_A_TIME
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let dispatch = subscriber();
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::callsite::rebuild_interest_cache();
            let span = tracing::info_span!("http", method = "POST");
            let made = !span.is_disabled();
            span.in_scope(|| {
                tracing::info!("inside the request");
                tracing::debug!("too fine for info");
                tracing::debug_span!("hyper").in_scope(|| tracing::warn!("deeper"));
            });
            made
        })
    }

    #[test]
    fn without_an_exporter_logs_are_written_and_no_span_is_made() {
        let out = Captured::default();
        let writer = out.clone();
        let made = emit(|| dispatch(Some("info"), None, move || writer.clone()));
        assert!(!made, "a span was made although nothing shows it");
        let text = out.text();
        assert!(text.contains("inside the request"), "{text}");
        assert!(text.contains("deeper"), "{text}");
        assert!(!text.contains("too fine"), "{text}");
        assert!(
            !text.contains("\"span"),
            "log lines carry no span fields: {text}"
        );
    }

    #[test]
    fn with_an_exporter_spans_are_made_for_it_at_the_levels_allowed() {
        let provider = SdkTracerProvider::builder().build();
        let out = Captured::default();
        let writer = out.clone();
        let traced = || {
            dispatch(Some("info"), Some((&provider, "test")), move || {
                writer.clone()
            })
        };
        assert!(emit(traced));
        assert!(out.text().contains("inside the request"));
        let quiet = || dispatch(Some("warn"), Some((&provider, "test")), std::io::sink);
        assert!(!emit(quiet), "RUST_LOG=warn exports no info span");
    }

    #[test]
    fn a_level_filter_alone_would_make_the_spans_the_log_lines_never_show() {
        let out = Captured::default();
        let writer = out.clone();
        let level_filter_alone = || {
            let logs = tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(move || writer.clone())
                .with_filter(level_filter(Some("info")));
            Dispatch::new(tracing_subscriber::registry().with(logs))
        };
        assert!(emit(level_filter_alone));
        assert!(out.text().contains("inside the request"));
    }

    #[test]
    fn the_logs_filter_keeps_the_level_hint_of_rust_log() {
        use tracing_subscriber::Registry;
        for (directives, hint) in [("warn", LevelFilter::WARN), ("info", LevelFilter::INFO)] {
            let filter = logs_filter::<Registry>(level_filter(Some(directives)));
            assert_eq!(Filter::<Registry>::max_level_hint(&filter), Some(hint));
        }
        let unhinted = EnvFilter::new("warn").and(filter_fn(|meta| meta.is_event()));
        assert_eq!(
            Filter::<Registry>::max_level_hint(&unhinted),
            None,
            "without a hint of its own, the events-only filter would lift the global level to trace"
        );
    }

    #[test]
    fn unreadable_directives_fall_back_to_the_default() {
        use tracing_subscriber::Registry;
        let filter = level_filter(Some("booking=loud"));
        assert_eq!(
            Filter::<Registry>::max_level_hint(&filter),
            Some(LevelFilter::INFO)
        );
    }
}
