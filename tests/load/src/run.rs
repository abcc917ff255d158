//! One run from start to verdict: buyers, a fresh sale, the open-loop load, the report, the audit.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use booking::inventory::Inventory;
use hyper::Uri;
use shared::{ids::SaleId, kafka::KafkaConfig, postgres::PostgresConfig, redis::RedisConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    audit::{Auditor, Subject},
    buyers::{self, Buyer},
    engine::{self, EngineSettings, Outcome},
    http::LoadClient,
    queued::{self, QueuedRun},
    report::{Kind, Report, Settings},
    sale,
    scenario::{Knobs, Plan, Scenario},
    schedule::Profile,
    server_time::{Probe, ServerTiming},
    stats::{Seats, say},
    workload::{FixedGet, Reserve, ReserveSpec},
};

/// The backing services the tool reads (audit, seat counts) and provisions through.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Redis.
    pub redis: RedisConfig,
    /// PostgreSQL (booking's schema is read).
    pub postgres: PostgresConfig,
    /// Kafka (provisioning creates the sale's topics).
    pub kafka: KafkaConfig,
}

/// How the tool itself behaves.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Most requests in flight; `None` sizes it from the peak rate.
    pub max_in_flight: Option<usize>,
    /// Keep-alive connections opened before the measurement (at most the in-flight bound);
    /// `None`: what the peak rate needs at ~10 ms an answer.
    pub warm_connections: Option<usize>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Runtime worker threads (reported only; the caller builds the runtime).
    pub threads: usize,
    /// Print a progress line every second.
    pub progress: bool,
    /// Where the reports go.
    pub out_dir: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

impl Tool {
    fn max_in_flight(&self, profile: &Profile) -> usize {
        self.max_in_flight.unwrap_or_else(|| {
            // A quarter second of the peak rate may queue before arrivals are shed.
            ((profile.peak_rate() * 0.25).ceil() as usize).clamp(256, 4096)
        })
    }

    fn settings(&self, max_in_flight: usize, warm_connections: usize) -> Settings {
        Settings {
            max_in_flight,
            timeout_ms: self.timeout.as_millis() as u64,
            threads: self.threads,
            warm_connections,
        }
    }

    fn client(&self, profile: &Profile) -> (LoadClient, usize) {
        let max = self.max_in_flight(profile);
        (LoadClient::new(max, self.timeout), max)
    }
}

/// Connections opened before the measurement: as asked, else what the peak rate needs at ~10 ms
/// per answer (a burst's every arrival), never more than may be in flight.
fn warm_connections(asked: Option<usize>, profile: &Profile, max_in_flight: usize) -> usize {
    let wanted = asked.unwrap_or_else(|| match profile {
        Profile::Burst { count, .. } => *count as usize,
        _ => (profile.peak_rate() / 100.0).ceil() as usize + 8,
    });
    wanted.min(max_in_flight).max(1)
}

/// A scenario run.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The scenario.
    pub scenario: Scenario,
    /// Its overrides.
    pub knobs: Knobs,
    /// Base URL reservations are sent to (gateway or booking).
    pub target: String,
    /// Base URL of auth's API (auth itself or the gateway).
    pub auth: String,
    /// Buyers to reuse and keep.
    pub buyers_file: Option<PathBuf>,
    /// Buyers registered at once while making them.
    pub signup_concurrency: usize,
    /// Report name.
    pub name: String,
    /// How long the audit waits for the sale to settle.
    pub drain_timeout: Duration,
    /// Leave the sale's Redis keys and topics in place afterwards.
    pub keep_sale: bool,
    /// Seed of the mix's random choices.
    pub seed: u64,
    /// The sale's id; a fresh `lt-<scenario>-<random>` when `None`.
    pub sale_id: Option<SaleId>,
    /// The `route` label whose POST requests the target's own histogram times, read before and
    /// after the load; `None`: not read.
    pub server_route: Option<String>,
}

/// Watches the sale's seats in Redis once a second until `stop`.
fn watch_seats(
    inventory: Inventory,
    sale: SaleId,
    stop: CancellationToken,
) -> watch::Receiver<Option<Seats>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Ok(Some(zones)) = inventory.availability(&sale).await {
                let seats = zones.iter().fold(Seats::default(), |acc, z| Seats {
                    available: acc.available + z.available,
                    held: acc.held + z.held,
                    sold: acc.sold + z.sold,
                });
                let _ = tx.send(Some(seats));
            }
        }
    });
    rx
}

async fn wait_until_served(target: &str, sale: &SaleId) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{target}/api/v1/sales/{sale}/availability");
    let mut last = String::new();
    for _ in 0..100 {
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not answer 200 within 10 s (last: {last})")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How long a run waits for booking to record its newly provisioned sale: librdkafka finds a new
/// topic at its next metadata refresh (every 5 s here), then the group rebalances.
const RECORDER_ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a scenario and audits its sale; the report says PASS or FAIL.
pub async fn scenario(
    run: &ScenarioRun,
    tool: &Tool,
    backends: &Backends,
) -> anyhow::Result<Report> {
    let target = run.target.trim_end_matches('/').to_owned();
    let sale_id = match &run.sale_id {
        Some(id) => id.clone(),
        None => sale::new_sale_id(run.scenario.name())?,
    };
    let plan = run
        .scenario
        .plan(&run.knobs, sale_id.clone())
        .map_err(|e| anyhow::anyhow!("{}: {e}", run.scenario.name()))?;
    let valid_for = Duration::from_secs_f64(plan.profile.seconds())
        + run.drain_timeout
        + Duration::from_secs(600);
    let buyers = buyers::load_or_create(
        run.buyers_file.as_deref(),
        &run.auth,
        plan.buyers,
        valid_for,
        run.signup_concurrency,
    )
    .await?;
    let db = backends
        .postgres
        .pool(booking::startup::SCHEMA)
        .context("DATABASE_URL")?;
    let provisioner = sale::provisioner(&backends.redis, &backends.kafka).await?;
    // A sale that opens at a set time is provisioned to open only after the wait below could
    // end, then again to open `opens_in_seconds` after it, so its buyers still join before it
    // opens.
    let opens_in = Duration::from_secs(u64::from(plan.sale.opens_in_seconds));
    let first = if opens_in.is_zero() {
        plan.sale.spec()?
    } else {
        plan.sale
            .spec_opening_in(RECORDER_ATTACH_TIMEOUT + opens_in)?
    };
    let provisioned_at = time::OffsetDateTime::now_utc();
    provisioner
        .apply(&first)
        .await
        .with_context(|| format!("provisioning {}", plan.sale.sale_id))?;
    say(&format!("{}: {}", run.name, plan.sale.describe()));
    let waited = sale::wait_until_recorded(
        &db,
        &plan.sale.sale_id,
        provisioned_at,
        RECORDER_ATTACH_TIMEOUT,
    )
    .await?;
    if !opens_in.is_zero() {
        provisioner
            .apply(&plan.sale.spec()?)
            .await
            .with_context(|| format!("opening {} in {opens_in:?}", plan.sale.sale_id))?;
    }
    say(&format!(
        "{}: booking records the sale ({} ms after provisioning)",
        run.name,
        waited.as_millis()
    ));
    let result = measure_and_audit(run, tool, backends, db, &target, &plan, &buyers).await;
    if !run.keep_sale
        && let Err(err) = sale::forget(&backends.redis, &plan.sale.sale_id).await
    {
        say(&format!(
            "could not delete sale {}: {err}",
            plan.sale.sale_id
        ));
    }
    result
}

async fn measure_and_audit(
    run: &ScenarioRun,
    tool: &Tool,
    backends: &Backends,
    db: sqlx::PgPool,
    target: &str,
    plan: &Plan,
    buyers: &[Buyer],
) -> anyhow::Result<Report> {
    let sale = &plan.sale;
    wait_until_served(target, &sale.sale_id).await?;
    let zones = sale.zone_ids();
    let key_prefix = format!("{}-", sale.sale_id);
    let redis = backends
        .redis
        .connect()
        .await
        .context("connecting to Redis")?;
    let stop = CancellationToken::new();
    let seats = watch_seats(
        Inventory::new(redis.clone(), Duration::from_secs(1)),
        sale.sale_id.clone(),
        stop.clone(),
    );
    let (client, max_in_flight) = tool.client(&plan.profile);
    let warm = warm(&client, target, &plan.profile, tool, max_in_flight).await?;
    let started_at = now_rfc3339();
    say(&format!(
        "{}: {} against {target}",
        run.name,
        plan.profile.describe()
    ));
    let tokens: Vec<&str> = buyers.iter().map(|b| b.access_token.as_str()).collect();
    // The server's histogram as it stands before the load, to take the run's share of it after.
    let timed = match run.server_route.as_deref() {
        Some(route) => {
            let probe = Probe::new(target, route, "POST");
            let before = probe.read().await?;
            Some((probe, before))
        }
        None => None,
    };
    let (stats, ledger, queue) = match plan.queue {
        Some(queue_plan) => {
            let queued = QueuedRun {
                target,
                sale: &sale.sale_id,
                tokens,
                zone: zones.first().map_or("z1", String::as_str),
                quantity: plan.mix.min_quantity,
                key_prefix: key_prefix.clone(),
                plan: queue_plan,
                admission_per_second: sale.queue.map_or(1, |q| q.admission_per_second),
                progress: tool.progress,
                label: run.name.clone(),
            };
            let (stats, ledger, mut report) =
                queued::drive(queued, client, &plan.profile, Some(seats)).await?;
            queued::read_queue(&redis, &sale.sale_id, &mut report).await?;
            (stats, ledger, Some(report))
        }
        None => {
            let workload = Reserve::new(ReserveSpec {
                base: target,
                sale: sale.sale_id.as_str(),
                tokens,
                zones: zones.clone(),
                key_prefix: key_prefix.clone(),
                mix: plan.mix,
                expected: plan.expected_codes(),
                seed: run.seed,
            })?;
            let Outcome { stats, ledger } = engine::drive(
                Arc::new(workload),
                client,
                &plan.profile,
                &EngineSettings {
                    max_in_flight,
                    label: run.name.clone(),
                    progress: tool.progress,
                },
                Some(seats),
            )
            .await?;
            (stats, ledger, None)
        }
    };
    stop.cancel();
    let mut notes = Vec::new();
    let server = match &timed {
        Some((probe, before)) => match probe.read().await {
            Ok(after) => Some(ServerTiming::between(probe, before, &after)),
            Err(err) => {
                notes.push(format!(
                    "the server's own timing could not be read: {err:#}"
                ));
                None
            }
        },
        None => None,
    };
    if let Some(server) = &server {
        say(&format!(
            "{}: the server timed {}",
            run.name,
            server.describe()
        ));
    }
    say(&format!(
        "{}: {} answered at {} answers/s, p99 {} ms, {} errors; auditing",
        run.name,
        stats.answered,
        stats.achieved_rps,
        stats.latency.p99,
        stats.error_count()
    ));
    let user_ids: Vec<uuid::Uuid> = buyers.iter().map(|b| b.user_id).collect();
    // Payment's schema, created if no payment service ever ran here, so the sale's payments
    // (none when the run does not pay) reconcile with its bookings.
    let payments = backends
        .postgres
        .pool(payment::startup::SCHEMA)
        .context("DATABASE_URL")?;
    shared::postgres::migrate(
        &payments,
        payment::startup::SCHEMA,
        &payment::startup::MIGRATOR,
    )
    .await
    .context("preparing payment's schema")?;
    let mut audit = Auditor::new(redis, db, run.drain_timeout)
        .with_payments(payments)
        .audit(Subject {
            sale: &sale.sale_id,
            ledger: &ledger,
            key_prefix: &key_prefix,
            buyers: &user_ids,
            zones: &zones,
            expectations: &plan.expectations,
        })
        .await?;
    if let Some(queue) = &queue {
        audit.checks.extend(queue.checks());
        audit.passed = audit.checks.iter().all(|c| c.passed);
    }
    if let Some(lag) = &stats.send_lag
        && lag.p99 > 5.0
    {
        notes.push(format!(
            "the load tool itself fell behind its schedule (p99 {} ms late): the machine, not only the server, limited this run",
            lag.p99
        ));
    }
    let (kind, path) = if queue.is_some() {
        (Kind::Queued, "queue")
    } else {
        (Kind::Scenario, "reservations")
    };
    Ok(Report {
        name: run.name.clone(),
        kind,
        target: format!("{target}/api/v1/sales/{}/{path}", sale.sale_id),
        command: tool.command.clone(),
        started_at,
        load: plan.profile.describe(),
        plan: Some(plan.clone()),
        settings: Some(tool.settings(max_in_flight, warm)),
        stats,
        server,
        audit: Some(audit),
        queue,
        notes,
    })
}

async fn warm(
    client: &LoadClient,
    target: &str,
    profile: &Profile,
    tool: &Tool,
    max_in_flight: usize,
) -> anyhow::Result<usize> {
    let uri: Uri = format!("{target}/healthz")
        .parse()
        .with_context(|| format!("target {target} is not a URL"))?;
    let wanted = warm_connections(tool.warm_connections, profile, max_in_flight);
    let opened = client.warm_up(&uri, wanted).await;
    if opened == 0 {
        anyhow::bail!("{target}/healthz does not answer; is the service running?");
    }
    Ok(opened)
}

/// The HTTP ceiling: the same engine sending `GET /` to a fixed-body server.
pub async fn http_ceiling(
    target: &str,
    profile: Profile,
    name: &str,
    tool: &Tool,
) -> anyhow::Result<Report> {
    let target = target.trim_end_matches('/');
    let (client, max_in_flight) = tool.client(&profile);
    let warm = warm(&client, target, &profile, tool, max_in_flight).await?;
    let uri: Uri = format!("{target}/").parse().context("target URL")?;
    let started_at = now_rfc3339();
    say(&format!("{name}: {} against {target}", profile.describe()));
    let Outcome { stats, .. } = engine::drive(
        Arc::new(FixedGet::new(uri)),
        client,
        &profile,
        &EngineSettings {
            max_in_flight,
            label: name.to_owned(),
            progress: tool.progress,
        },
        None,
    )
    .await?;
    let mut notes = vec![
        "a fixed body from a minimal axum server (`loadgen serve`): the most this machine answers over HTTP/1.1 with this load tool sharing it".to_owned(),
    ];
    if stats.error_count() == 0 && stats.achieved_rps >= stats.offered_rps * 0.99 {
        notes.push(format!(
            "every request offered was answered in time: the ceiling lies above {} req/s and was not reached; offer more (BENCH_CEILING_RATE)",
            stats.offered_rps
        ));
    }
    Ok(Report {
        name: name.to_owned(),
        kind: Kind::HttpCeiling,
        target: format!("{target}/"),
        command: tool.command.clone(),
        started_at,
        load: profile.describe(),
        plan: None,
        settings: Some(tool.settings(max_in_flight, warm)),
        stats,
        server: None,
        audit: None,
        queue: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_connections_are_as_asked_or_sized_from_the_rate_and_never_beyond_the_in_flight_bound() {
        let steady = Profile::Constant {
            rate: 10_000.0,
            seconds: 60.0,
        };
        assert_eq!(warm_connections(None, &steady, 2500), 108);
        assert_eq!(warm_connections(Some(1000), &steady, 2500), 1000);
        assert_eq!(warm_connections(Some(5000), &steady, 2500), 2500);
        assert_eq!(warm_connections(Some(0), &steady, 2500), 1);
        assert_eq!(warm_connections(Some(10), &steady, 0), 1, "no panic");
        let herd = Profile::Burst {
            count: 40,
            spread_seconds: 0.0,
        };
        assert_eq!(warm_connections(None, &herd, 256), 40);
    }
}
