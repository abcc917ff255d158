//! This machine's ceilings: a minimal HTTP server answering a fixed body, and redis-benchmark
//! calling booking's own reserve function.

use anyhow::{Context, bail};
use axum::{Router, http::header::CONTENT_TYPE};
use redis::ConnectionAddr;
use shared::keys::SaleKeys;
use tokio_util::sync::CancellationToken;

use crate::{
    report::{Kind, Report},
    run::Backends,
    sale::{self, MAX_ZONE_SEATS, PRICE_MINOR, SaleShape},
    stats::{Latency, RunStats, say},
};

/// What the fixed-body server answers: the size and shape of a reservation.
pub const FIXED_BODY: &str = r#"{"id":"0199c0de-0000-7000-8000-000000000000","sale":"ceiling","zone":"z1","quantity":1,"amountMinor":5000,"currency":"EUR","status":"held","createdAt":"2026-01-01T00:00:00Z","expiresAt":"2026-01-01T01:00:00Z"}"#;

/// Binds the fixed-body server as the services bind; `port` 0 picks a free one.
pub async fn bind_fixed(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    shared::server::listen(host, port).await
}

/// Serves [`FIXED_BODY`] with `200` on every path until `shutdown`.
pub async fn serve_fixed(
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router =
        Router::new().fallback(|| async { ([(CONTENT_TYPE, "application/json")], FIXED_BODY) });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Largest `-r` redis-benchmark draws `__rand_int__` from (it uses `random()`).
const RAND_RANGE: &str = "2147483647";

/// The figures of one redis-benchmark test.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkLine {
    /// Calls per second.
    pub rps: f64,
    /// Mean, ms.
    pub avg: f64,
    /// Median, ms.
    pub p50: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
}

/// Reads redis-benchmark's `--csv` output (Redis 7: test, rps, avg, min, p50, p95, p99, max).
pub fn parse_csv(output: &str) -> anyhow::Result<BenchmarkLine> {
    let line = output
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with("\"test\""))
        .context("redis-benchmark printed no result line")?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|f| f.trim().trim_matches('"').parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("unreadable redis-benchmark line {line:?}"))?;
    let [rps, avg, _min, p50, p95, p99, max] = fields[..] else {
        bail!("expected 7 figures in redis-benchmark line {line:?}");
    };
    Ok(BenchmarkLine {
        rps,
        avg,
        p50,
        p95,
        p99,
        max,
    })
}

fn tcp_address(url: &str) -> anyhow::Result<(String, u16)> {
    let info = redis::Client::open(url)
        .context("REDIS_URL")?
        .get_connection_info()
        .addr
        .clone();
    match info {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Ok((host, port))
        }
        ConnectionAddr::Unix(_) => {
            bail!("redis-benchmark needs Redis over TCP, REDIS_URL is a socket")
        }
    }
}

/// redis-benchmark settings.
#[derive(Debug, Clone)]
pub struct RedisCeiling {
    /// Script calls.
    pub requests: u32,
    /// Concurrent connections.
    pub clients: u32,
    /// Report name.
    pub name: String,
    /// The command line, for the report.
    pub command: String,
}

/// Runs redis-benchmark calling the reserve function on a fresh sale, with fresh idempotency and
/// hold keys on every call (`__rand_int__`), and checks the calls really reserved seats.
pub async fn redis(settings: &RedisCeiling, backends: &Backends) -> anyhow::Result<Report> {
    if settings.requests == 0 || settings.requests > 900_000 {
        bail!("requests must be 1 to 900000 (one zone of {MAX_ZONE_SEATS} seats must not run out)");
    }
    let shape = SaleShape {
        sale_id: sale::new_sale_id("redis")?,
        zones: 1,
        seats_per_zone: MAX_ZONE_SEATS,
        per_user_cap: MAX_ZONE_SEATS,
        hold_ttl_seconds: 3600,
        partitions: sale::DEFAULT_PARTITIONS,
        price_minor: PRICE_MINOR,
        queue: None,
        opens_in_seconds: 0,
    };
    let provisioner = sale::provisioner(&backends.redis, &backends.kafka).await?;
    provisioner
        .apply(&shape.spec()?)
        .await
        .context("provisioning the ceiling sale")?;
    let result = benchmark(settings, backends, &shape).await;
    if let Err(err) = sale::forget(&backends.redis, &shape.sale_id).await {
        say(&format!("could not delete sale {}: {err}", shape.sale_id));
    }
    result
}

async fn benchmark(
    settings: &RedisCeiling,
    backends: &Backends,
    shape: &SaleShape,
) -> anyhow::Result<Report> {
    let mut conn = backends
        .redis
        .connect()
        .await
        .context("connecting to Redis")?;
    // booking's library, exactly as the service loads it.
    let reserve = booking::library::library().function("reserve");
    booking::library::library()
        .load(&mut conn)
        .await
        .context("loading booking's Redis function library")?;
    let keys = SaleKeys::new(&shape.sale_id);
    let meta = keys.meta();
    let prefix = meta.trim_end_matches("meta");
    let zone = shape.zone_ids().remove(0);
    let user = "00000000-0000-7000-8000-00000000ce11";
    let zone_key = format!("{prefix}zone:{zone}");
    let (host, port) = tcp_address(&backends.redis.url)?;
    let args: Vec<String> = [
        "-h",
        &host,
        "-p",
        &port.to_string(),
        "-n",
        &settings.requests.to_string(),
        "-c",
        &settings.clients.to_string(),
        "-r",
        RAND_RANGE,
        "--csv",
        "FCALL",
        reserve.name(),
        "6",
        &meta,
        &zone_key,
        &format!("{prefix}idem:{user}:__rand_int__"),
        &keys.user_quantities(),
        &keys.expiries(),
        &format!("{prefix}hold:__rand_int__"),
        user,
        &zone,
        "1",
        &format!("{zone}:1"),
        "__rand_int__",
        "86400000",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    say(&format!(
        "{}: redis-benchmark, {} calls of the reserve function from {} connections",
        settings.name, settings.requests, settings.clients
    ));
    let started = std::time::Instant::now();
    let output = tokio::process::Command::new("redis-benchmark")
        .args(&args)
        .output()
        .await
        .context("running redis-benchmark (Debian package redis-tools)")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = parse_csv(&String::from_utf8_lossy(&output.stdout))?;
    let held: i64 = redis::cmd("HGET")
        .arg(&zone_key)
        .arg("held")
        .query_async(&mut conn)
        .await
        .context("reading the zone after the benchmark")?;
    let calls = i64::from(settings.requests);
    // Two of the calls' random keys can coincide (a replay, or an overwritten hold); anything
    // beyond that means the function was not reserving and the figure would be meaningless.
    if held < calls * 99 / 100 {
        bail!(
            "only {held} of {calls} calls reserved a seat; the function did not run as booking runs it"
        );
    }
    let stats = RunStats {
        scheduled: settings.requests.into(),
        sent: settings.requests.into(),
        answered: settings.requests.into(),
        ok: [("OK".to_owned(), held as u64)].into_iter().collect(),
        rejected: [("REPLAY".to_owned(), (calls - held).max(0) as u64)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect(),
        elapsed_seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        offered_rps: line.rps,
        achieved_rps: line.rps,
        latency: Latency {
            count: settings.requests.into(),
            mean: line.avg,
            p50: line.p50,
            p90: None,
            p99: line.p99,
            p999: None,
            max: line.max,
        },
        ..RunStats::default()
    };
    Ok(Report {
        name: settings.name.clone(),
        kind: Kind::RedisCeiling,
        target: format!("redis://{host}:{port} FCALL reserve"),
        command: format!("{} ; redis-benchmark {}", settings.command, args.join(" ")),
        started_at,
        load: format!(
            "{} calls from {} connections, closed loop",
            settings.requests, settings.clients
        ),
        plan: None,
        settings: None,
        stats,
        server: None,
        audit: None,
        queue: None,
        notes: vec![
            format!(
                "booking's reserve function (FCALL, booking's Redis function library) on a fresh sale, new idempotency and hold keys per call: {held} of {calls} calls held a seat; redis-benchmark reports p95 {} ms (p90 and p99.9 are not reported by it)",
                line.p95
            ),
            format!("redis-benchmark ran for {:.1} s", elapsed.as_secs_f64()),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_csv_is_read() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"FCALL x\",\"41152.26\",\"1.120\",\"0.240\",\"1.063\",\"1.663\",\"2.175\",\"7.519\"\n";
        let line = parse_csv(out).unwrap();
        assert_eq!(line.rps, 41152.26);
        assert_eq!(line.p99, 2.175);
        assert_eq!(line.max, 7.519);
        assert!(parse_csv("\"test\",\"rps\"\n").is_err());
    }
}
