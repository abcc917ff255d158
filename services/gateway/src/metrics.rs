//! The gateway's own metrics: proxied requests by route and outcome, upstream time by route.

use metrics::{Counter, Histogram};

use crate::routing::ROUTES;

/// How a proxied request ended; its `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered.
    Ok,
    /// The upstream could not be reached.
    BadGateway,
    /// The upstream did not answer in time.
    Timeout,
    /// The token was refused at the gateway.
    InvalidToken,
    /// The caller was over its rate limit.
    RateLimited,
}

impl Outcome {
    /// Every outcome, in the order of their handles.
    const ALL: [Self; 5] = [
        Self::Ok,
        Self::BadGateway,
        Self::Timeout,
        Self::InvalidToken,
        Self::RateLimited,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadGateway => "bad_gateway",
            Self::Timeout => "timeout",
            Self::InvalidToken => "invalid_token",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// One route's handles.
struct RouteHandles {
    route: &'static str,
    requests: [Counter; Outcome::ALL.len()],
    upstream: Histogram,
}

/// `gateway_requests_total` and `gateway_upstream_seconds`, registered once per route when the
/// gateway starts: a request neither builds labels nor searches the recorder's registry, and every
/// series is scraped from the start, at zero until something happens.
pub struct ProxyMetrics {
    routes: Vec<RouteHandles>,
}

impl ProxyMetrics {
    /// Registers every route's handles with the installed recorder.
    pub fn register() -> Self {
        let routes = ROUTES
            .into_iter()
            .map(|route| RouteHandles {
                route,
                requests: Outcome::ALL.map(|outcome| {
                    metrics::counter!("gateway_requests_total", "route" => route, "outcome" => outcome.label())
                }),
                upstream: metrics::histogram!("gateway_upstream_seconds", "route" => route),
            })
            .collect();
        Self { routes }
    }

    fn of(&self, route: &str) -> Option<&RouteHandles> {
        self.routes.iter().find(|handles| handles.route == route)
    }

    /// Counts one request of `route` that ended as `outcome`.
    pub fn count(&self, route: &str, outcome: Outcome) {
        if let Some(handles) = self.of(route) {
            handles.requests[outcome as usize].increment(1);
        }
    }

    /// Counts one request of `route` that reached its upstream and ended as `outcome` after
    /// `seconds`, with one look-up of the route's handles.
    pub fn count_upstream(&self, route: &str, outcome: Outcome, seconds: f64) {
        if let Some(handles) = self.of(route) {
            handles.requests[outcome as usize].increment(1);
            handles.upstream.record(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn every_route_and_outcome_is_scraped_from_the_start_and_counted_through_its_handle() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let rendered = recorder.handle();
        let proxy = metrics::with_local_recorder(&recorder, ProxyMetrics::register);
        let before = rendered.render();
        for route in ROUTES {
            for outcome in Outcome::ALL {
                let series = format!(
                    r#"gateway_requests_total{{route="{route}",outcome="{}"}} 0"#,
                    outcome.label()
                );
                assert!(before.contains(&series), "{series} missing from:\n{before}");
            }
        }
        proxy.count("sale_booking", Outcome::Ok);
        proxy.count_upstream("sale_booking", Outcome::Ok, 0.002);
        proxy.count("auth", Outcome::RateLimited);
        proxy.count("no_such_route", Outcome::Ok);
        let after = rendered.render();
        for line in [
            r#"gateway_requests_total{route="sale_booking",outcome="ok"} 2"#,
            r#"gateway_requests_total{route="auth",outcome="rate_limited"} 1"#,
            r#"gateway_requests_total{route="sale_booking",outcome="timeout"} 0"#,
            r#"gateway_upstream_seconds_count{route="sale_booking"} 1"#,
        ] {
            assert!(after.contains(line), "{line} missing from:\n{after}");
        }
        assert!(!after.contains("no_such_route"));
    }
}
