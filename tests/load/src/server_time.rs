//! The server's own timing of a run: its request-duration histogram, read from its `/metrics`
//! before and after the load, and the buckets that hold the percentiles of the difference.

use std::fmt;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The histogram every service exports of the requests it answered, by method, route and status.
const HISTOGRAM_BUCKET: &str = "http_request_duration_seconds_bucket";

/// Cumulative counts of one route's requests of one method, all statuses together, by the upper
/// bound of each bucket in seconds (ascending, `+Inf` last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    cumulative: Vec<(f64, u64)>,
}

impl Buckets {
    /// Reads the buckets of `route` and `method` from a Prometheus text exposition.
    pub fn parse(text: &str, route: &str, method: &str) -> Self {
        let mut buckets = Self::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(HISTOGRAM_BUCKET) else {
                continue;
            };
            let Some((labels, value)) = rest.strip_prefix('{').and_then(split_labels) else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
            };
            if label("route") != Some(route) || label("method") != Some(method) {
                continue;
            }
            let (Some(bound), Ok(count)) =
                (label("le").and_then(parse_bound), value.parse::<f64>())
            else {
                continue;
            };
            buckets.add(bound, count as u64);
        }
        buckets
    }

    fn add(&mut self, bound: f64, count: u64) {
        match self.cumulative.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, n)) => *n += count,
            None => {
                self.cumulative.push((bound, count));
                self.cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        let before = |bound: f64| {
            earlier
                .cumulative
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, n)| *n)
        };
        Self {
            cumulative: self
                .cumulative
                .iter()
                .map(|&(bound, n)| (bound, n.saturating_sub(before(bound))))
                .collect(),
        }
    }

    /// Requests counted (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.cumulative.last().map_or(0, |(_, n)| *n)
    }

    /// The bucket holding the `q` quantile; `None` when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<Bucket> {
        let rank = ((q * self.count() as f64).ceil() as u64).max(1);
        let mut above = 0.0;
        for &(bound, n) in &self.cumulative {
            if n >= rank {
                return Some(Bucket {
                    above_ms: above * 1000.0,
                    at_most_ms: bound.is_finite().then_some(bound * 1000.0),
                });
            }
            above = bound;
        }
        None
    }
}

/// Splits `name="value",…}` rest into its labels (values unescaped) and the sample's value.
fn split_labels(text: &str) -> Option<(Vec<(&str, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            let value = after.split_whitespace().next()?;
            return Some((labels, value));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name, value));
        rest = &after[end + 1..];
    }
}

fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" => Some(f64::INFINITY),
        _ => le.parse().ok(),
    }
}

/// A histogram bucket, in milliseconds: the values above `above_ms` and at most `at_most_ms`
/// (no upper bound when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// Lower bound, exclusive.
    pub above_ms: f64,
    /// Upper bound, inclusive; `None` above the histogram's largest bound.
    pub at_most_ms: Option<f64>,
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at_most_ms {
            Some(at_most) if self.above_ms == 0.0 => write!(f, "≤ {at_most} ms"),
            Some(at_most) => write!(f, "{}–{at_most} ms", self.above_ms),
            None => write!(f, "> {} ms", self.above_ms),
        }
    }
}

/// A bucket for tables, or `–` when there is none.
pub fn bucket_or_dash(bucket: Option<Bucket>) -> String {
    bucket.map_or_else(|| "–".to_owned(), |b| b.to_string())
}

/// The server's own timing of the requests it answered during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTiming {
    /// Where the histogram was read.
    pub metrics: String,
    /// The `route` label read.
    pub route: String,
    /// The `method` label read.
    pub method: String,
    /// Requests the server timed during the run.
    pub requests: u64,
    /// The bucket holding the median.
    pub p50: Option<Bucket>,
    /// The bucket holding the 99th percentile.
    pub p99: Option<Bucket>,
    /// The bucket holding the 99.9th percentile.
    pub p999: Option<Bucket>,
}

impl ServerTiming {
    /// The timing of what `after` counted beyond `before`.
    pub fn between(probe: &Probe, before: &Buckets, after: &Buckets) -> Self {
        let run = after.since(before);
        Self {
            metrics: probe.url.clone(),
            route: probe.route.clone(),
            method: probe.method.to_owned(),
            requests: run.count(),
            p50: run.quantile(0.5),
            p99: run.quantile(0.99),
            p999: run.quantile(0.999),
        }
    }

    /// Whether the 99th percentile is at most `ms` milliseconds; `None` when the buckets cannot
    /// tell (the bound lies inside the bucket holding it) or nothing was timed.
    pub fn p99_at_most(&self, ms: f64) -> Option<bool> {
        let p99 = self.p99?;
        match p99.at_most_ms {
            Some(at_most) if at_most <= ms => Some(true),
            _ if p99.above_ms >= ms => Some(false),
            _ => None,
        }
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        format!(
            "{} {} requests of route `{}`: p50 {} · p99 {} · p99.9 {}",
            self.requests,
            self.method,
            self.route,
            bucket_or_dash(self.p50),
            bucket_or_dash(self.p99),
            bucket_or_dash(self.p999)
        )
    }
}

/// Where and what to read of a server's histogram.
#[derive(Debug, Clone)]
pub struct Probe {
    url: String,
    route: String,
    method: &'static str,
    http: reqwest::Client,
}

impl Probe {
    /// Reads the `method` requests of `route` at `<base>/metrics`.
    pub fn new(base: &str, route: &str, method: &'static str) -> Self {
        Self {
            url: format!("{}/metrics", base.trim_end_matches('/')),
            route: route.to_owned(),
            method,
            http: reqwest::Client::new(),
        }
    }

    /// The buckets as the server renders them now.
    pub async fn read(&self) -> anyhow::Result<Buckets> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("reading {}", self.url))?;
        let text = response
            .text()
            .await
            .with_context(|| format!("reading {}", self.url))?;
        Ok(Buckets::parse(&text, &self.route, self.method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="0.005"} 5
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="0.05"} 10
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="+Inf"} 10
http_request_duration_seconds_bucket{method="GET",route="/{*path}",status="200",le="0.005"} 7
http_request_duration_seconds_bucket{method="GET",route="/{*path}",status="200",le="0.05"} 7
http_request_duration_seconds_bucket{method="GET",route="/{*path}",status="200",le="+Inf"} 7
"#;

    const AFTER: &str = r#"# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="0.005"} 905
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="0.05"} 995
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="201",le="+Inf"} 1000
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="409",le="0.005"} 10
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="409",le="0.05"} 10
http_request_duration_seconds_bucket{method="POST",route="/{*path}",status="409",le="+Inf"} 10
http_request_duration_seconds_bucket{method="POST",route="/a \"quoted\", {odd} route",status="201",le="+Inf"} 99
http_request_duration_seconds_sum{method="POST",route="/{*path}",status="201"} 3.5
http_request_duration_seconds_bucket{method="GET",route="/{*path}",status="200",le="+Inf"} 9
"#;

    fn probe() -> Probe {
        Probe::new("http://127.0.0.1:1/", "/{*path}", "POST")
    }

    #[test]
    fn the_run_is_the_difference_summed_over_statuses_of_one_route_and_method() {
        let before = Buckets::parse(BEFORE, "/{*path}", "POST");
        let after = Buckets::parse(AFTER, "/{*path}", "POST");
        assert_eq!(before.count(), 10);
        assert_eq!(after.count(), 1010);
        let timing = ServerTiming::between(&probe(), &before, &after);
        assert_eq!(timing.requests, 1000);
        assert_eq!(timing.metrics, "http://127.0.0.1:1/metrics");
        // 910 of the 1,000 within 5 ms, 995 within 50 ms, 5 above.
        assert_eq!(timing.p50.unwrap().to_string(), "≤ 5 ms");
        assert_eq!(timing.p99.unwrap().to_string(), "5–50 ms");
        assert_eq!(timing.p999.unwrap().to_string(), "> 50 ms");
        assert_eq!(timing.p99_at_most(50.0), Some(true));
        assert_eq!(timing.p99_at_most(5.0), Some(false));
        assert_eq!(timing.p99_at_most(10.0), None, "10 ms lies inside 5–50 ms");
    }

    #[test]
    fn a_label_value_with_quotes_commas_and_braces_is_read_whole() {
        let odd = Buckets::parse(AFTER, r#"/a "quoted", {odd} route"#, "POST");
        assert_eq!(odd.count(), 99);
    }

    #[test]
    fn nothing_timed_has_no_percentiles_and_no_verdict() {
        let after = Buckets::parse(AFTER, "/{*path}", "POST");
        let timing = ServerTiming::between(&probe(), &after, &after);
        assert_eq!(timing.requests, 0);
        assert_eq!(timing.p99, None);
        assert_eq!(timing.p99_at_most(50.0), None);
        assert_eq!(
            Buckets::parse("garbage{le=\"1\"} x\n", "/", "GET").count(),
            0
        );
    }
}
