//! Prometheus metrics: the recorder and an HTTP middleware with bounded labels.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, tuned for a sub-50 ms hot path.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How often the recorder folds the samples its histograms kept since the last fold into their
/// buckets. A scrape folds them too; without this, a process nothing scrapes keeps every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs `upkeep` every `every` on a thread of its own, for the life of the process.
fn keep_up(
    every: Duration,
    upkeep: impl Fn() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                upkeep();
            }
        })
}

/// Installs the process's metrics recorder once, with its upkeep, and returns a handle that
/// renders it.
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    let upkept = handle.clone();
                    if let Err(err) = keep_up(UPKEEP_EVERY, move || upkept.run_upkeep()) {
                        tracing::warn!(error = %err, "metrics upkeep not started; histograms grow until scraped");
                    }
                    handle
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder already installed; metrics are local");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Request counters and timers by matched route, method and status. Each combination is
/// registered once and its handles kept, so a request neither allocates labels nor searches the
/// recorder's registry.
#[derive(Default)]
pub struct HttpMetrics {
    by_route: RwLock<HashMap<Box<str>, Vec<RouteHandles>>>,
}

struct RouteHandles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl RouteHandles {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

impl HttpMetrics {
    /// Counts one request and records how long it took.
    pub fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let is = |h: &&RouteHandles| h.method == method && h.status == status;
        if let Ok(by_route) = self.by_route.read()
            && let Some(handles) = by_route.get(route).and_then(|all| all.iter().find(is))
        {
            handles.record(seconds);
            return;
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let handles = RouteHandles {
            method,
            status,
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
        };
        handles.record(seconds);
        if let Ok(mut by_route) = self.by_route.write() {
            let all = by_route.entry(route.into()).or_default();
            if !all.iter().any(|h| is(&h)) {
                all.push(handles);
            }
        }
    }
}

/// The method as a label: the standard methods by name, any other as `other`, so a client cannot
/// grow the label set.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts requests and times them by method, matched route and status.
pub async fn track_http(
    State(http): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    http.record(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_through_kept_handles() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let rendered = recorder.handle();
        let http = HttpMetrics::default();
        metrics::with_local_recorder(&recorder, || {
            http.record("/a", "GET", 200, 0.001);
            http.record("/a", "GET", 200, 0.002);
            http.record("/a", "POST", 201, 0.003);
            http.record("unmatched", "other", 404, 0.004);
        });
        let text = rendered.render();
        for line in [
            r#"http_requests_total{method="GET",route="/a",status="200"} 2"#,
            r#"http_requests_total{method="POST",route="/a",status="201"} 1"#,
            r#"http_requests_total{method="other",route="unmatched",status="404"} 1"#,
            r#"http_request_duration_seconds_count{method="GET",route="/a",status="200"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        let kept = http.by_route.read().map(|m| m["/a"].len()).unwrap_or(0);
        assert_eq!(kept, 2, "one kept entry per method and status");
    }

    #[test]
    fn upkeep_folds_histogram_samples_every_interval_and_loses_none() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let timer =
            metrics::with_local_recorder(&recorder, || metrics::histogram!("upkeep_test_seconds"));
        for _ in 0..1000 {
            timer.record(0.002);
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let (counted, upkept) = (runs.clone(), handle.clone());
        keep_up(Duration::from_millis(10), move || {
            upkept.run_upkeep();
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "upkeep did not run three times");
            std::thread::sleep(Duration::from_millis(5));
        }
        let text = handle.render();
        for line in [
            "upkeep_test_seconds_count 1000",
            r#"upkeep_test_seconds_bucket{le="0.001"} 0"#,
            r#"upkeep_test_seconds_bucket{le="0.0025"} 1000"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
