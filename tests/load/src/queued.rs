//! The queued flash sale: buyers join the sale's queue on the arrival schedule (before opening
//! they enter the pre-queue, shuffled at opening), wait until the queue admits them — by its
//! server-sent events or by polling its status — and reserve with the pass it hands them; a buyer
//! told the sale sold out leaves the queue. Every request counts in the run's statistics from its
//! intended time: a join from its scheduled arrival, a reserve or a leave from the moment the
//! queue said so. How long each buyer waited is a distribution of its own, and the queue's
//! promises (nobody admitted twice, no reservation without a pass, the admission rate held, every
//! buyer admitted or told the sale sold out) become lines of the audit.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http_body_util::BodyExt;
use hyper::{
    Method, Request, StatusCode,
    body::Bytes,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use shared::{ids::SaleId, keys::SaleKeys};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};
use uuid::Uuid;

use std::fmt::Write as _;

use crate::{
    audit::{Check, Ledger, check},
    engine::tally_records,
    http::{Answer, Body, LoadClient},
    report::{ms, ms_or_dash},
    scenario::{QueuePlan, WaitMode},
    schedule::Profile,
    stats::{Latency, Record, RunStats, Seats, Tally, histogram, say},
    workload::{Ack, Verdict},
};

/// What the queue did in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReport {
    /// How buyers waited.
    pub wait: WaitMode,
    /// Buyers that arrived.
    pub buyers: u64,
    /// Buyers whose join was answered.
    pub joined: u64,
    /// Of them, joined before opening (the pre-queue).
    pub pre_queue: u64,
    /// Buyers who heard they were admitted.
    pub admitted: u64,
    /// Buyers whose reservation with the pass was made.
    pub reserved: u64,
    /// Buyers told the sale sold out while waiting.
    pub told_sold_out: u64,
    /// Buyers who left after that.
    pub left: u64,
    /// Reserves sent without a pass (all must be refused).
    pub probes: u64,
    /// Of them, refused with `queue_pass_required`.
    pub probes_refused: u64,
    /// Position updates received (events, or status polls).
    pub position_updates: u64,
    /// Admissions the queue counted (Redis).
    pub admitted_by_queue: u64,
    /// Admissions per second the sale was configured for.
    pub admission_per_second: u32,
    /// Buyers the queue admitted at once in its first batch (up to a second's worth).
    #[serde(default)]
    pub first_batch: u64,
    /// Admissions per second the queue made after its first batch, until its last admission
    /// (the sale sold out or the line emptied), by its own clock; it may draw on what the first
    /// batch left of the bucket.
    pub measured_admission_rate: Option<f64>,
    /// Admissions after the first batch, and the seconds from the first admission to the last.
    pub admission_span: Option<(u64, f64)>,
    /// From a join's answer to the admission, milliseconds.
    pub waited: Latency,
}

/// A queued run's fixed parts.
pub struct QueuedRun<'a> {
    /// Base URL (gateway or booking).
    pub target: &'a str,
    /// The sale.
    pub sale: &'a SaleId,
    /// Access tokens of the buyers.
    pub tokens: Vec<&'a str>,
    /// The zone reserved in.
    pub zone: &'a str,
    /// Seats per reservation.
    pub quantity: u8,
    /// Prefix of every Idempotency-Key.
    pub key_prefix: String,
    /// The queue part of the plan.
    pub plan: QueuePlan,
    /// Admissions per second configured.
    pub admission_per_second: u32,
    /// Print a progress line each second.
    pub progress: bool,
    /// Report label.
    pub label: String,
}

#[derive(Default)]
struct Counters {
    joined: AtomicU64,
    waiting: AtomicU64,
    admitted: AtomicU64,
    reserved: AtomicU64,
    sold_out: AtomicU64,
}

struct Ctx {
    client: LoadClient,
    queue: String,
    events: String,
    reserve: String,
    authorizations: Vec<HeaderValue>,
    body: Bytes,
    quantity: u8,
    key_prefix: String,
    buyers: u64,
    plan: QueuePlan,
    wait_timeout: Duration,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Session {
    joined: bool,
    pre_queue: bool,
    waited: Option<Duration>,
    told_sold_out: bool,
    left: bool,
    reserved: bool,
    probed: bool,
    probe_refused: bool,
    positions: u64,
}

enum Heard {
    Admitted(String),
    SoldOut,
    Failed(&'static str),
}

#[derive(Deserialize)]
struct View {
    state: String,
    #[serde(default, rename = "soldOut")]
    sold_out: bool,
    #[serde(default)]
    pass: Option<String>,
}

fn view(answer: &Answer) -> Option<View> {
    serde_json::from_slice(&answer.body).ok()
}

fn record(records: &mpsc::UnboundedSender<Record>, due: Instant, result: (bool, Verdict)) {
    let _ = records.send(Record {
        due,
        done: Some(Instant::now()),
        answered: result.0,
        verdict: result.1,
    });
}

impl Ctx {
    fn authorization(&self, buyer: usize) -> HeaderValue {
        self.authorizations
            .get(buyer)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(""))
    }

    async fn call(
        &self,
        request: Result<Request<Body>, hyper::http::Error>,
    ) -> Result<Answer, &'static str> {
        let request = request.map_err(|_| "request_invalid")?;
        self.client.send(request).await.map_err(|f| f.kind())
    }

    /// One buyer from arrival to reservation (or to being told the sale sold out).
    async fn session(
        &self,
        buyer: usize,
        due: Instant,
        records: mpsc::UnboundedSender<Record>,
    ) -> Session {
        let mut session = Session::default();
        let auth = self.authorization(buyer);
        let joined = self
            .call(
                Request::post(&self.queue)
                    .header(AUTHORIZATION, auth.clone())
                    .body(Body::default()),
            )
            .await;
        let joined_at = Instant::now();
        let first = match joined {
            Ok(answer) if matches!(answer.status, StatusCode::CREATED | StatusCode::OK) => {
                record(&records, due, (true, Verdict::ok("joined")));
                view(&answer)
            }
            Ok(answer) => {
                record(&records, due, (true, Verdict::refusal(&answer, &[])));
                return session;
            }
            Err(kind) => {
                record(&records, due, (false, Verdict::error(kind)));
                return session;
            }
        };
        session.joined = true;
        session.pre_queue = first.as_ref().is_some_and(|v| v.state == "pre_queue");
        self.counters.joined.fetch_add(1, Ordering::Relaxed);
        self.counters.waiting.fetch_add(1, Ordering::Relaxed);
        let heard = match first {
            Some(View {
                state,
                pass: Some(pass),
                ..
            }) if state == "admitted" => Heard::Admitted(pass),
            _ => match self.plan.wait {
                WaitMode::Sse => self.wait_for_events(&auth, &mut session).await,
                WaitMode::Poll => self.poll(&auth, &mut session).await,
            },
        };
        self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        let now = Instant::now();
        match heard {
            Heard::Admitted(pass) => {
                session.waited = Some(now.saturating_duration_since(joined_at));
                let nth = self.counters.admitted.fetch_add(1, Ordering::Relaxed);
                let probe = self.plan.probe_every > 0
                    && (nth as usize).is_multiple_of(self.plan.probe_every);
                if probe {
                    session.probed = true;
                    let key = self.buyers + buyer as u64;
                    let result = self.reserve(buyer, key, None, &auth).await;
                    session.probe_refused =
                        result.1.kind == "queue_pass_required" && result.1.ack.is_none();
                    record(&records, now, result);
                }
                let sent = Instant::now();
                let result = self.reserve(buyer, buyer as u64, Some(&pass), &auth).await;
                session.reserved = result.1.ack.is_some();
                if session.reserved {
                    self.counters.reserved.fetch_add(1, Ordering::Relaxed);
                }
                record(&records, sent, result);
            }
            Heard::SoldOut => {
                session.told_sold_out = true;
                self.counters.sold_out.fetch_add(1, Ordering::Relaxed);
                let left = self
                    .call(
                        Request::builder()
                            .method(Method::DELETE)
                            .uri(&self.queue)
                            .header(AUTHORIZATION, auth)
                            .body(Body::default()),
                    )
                    .await;
                let result = match left {
                    Ok(answer) if answer.status == StatusCode::NO_CONTENT => {
                        session.left = true;
                        (true, Verdict::ok("left"))
                    }
                    Ok(answer) => (true, Verdict::refusal(&answer, &[])),
                    Err(kind) => (false, Verdict::error(kind)),
                };
                record(&records, now, result);
            }
            Heard::Failed(kind) => record(&records, now, (false, Verdict::error(kind))),
        }
        session
    }

    /// A reservation of the buyer (with or without the pass); a 201 carries its acknowledgement.
    async fn reserve(
        &self,
        buyer: usize,
        key: u64,
        pass: Option<&str>,
        auth: &HeaderValue,
    ) -> (bool, Verdict) {
        let mut request = Request::post(&self.reserve)
            .header(AUTHORIZATION, auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("idempotency-key", format!("{}{key}", self.key_prefix));
        if let Some(pass) = pass {
            request = request.header("queue-pass", pass);
        }
        match self.call(request.body(Body::new(self.body.clone()))).await {
            Ok(answer) if answer.status == StatusCode::CREATED => {
                #[derive(Deserialize)]
                struct Created {
                    id: Uuid,
                }
                let Ok(created) = serde_json::from_slice::<Created>(&answer.body) else {
                    return (true, Verdict::error("created_without_id"));
                };
                let mut verdict = if pass.is_some() {
                    Verdict::ok("201")
                } else {
                    Verdict::error("reserved_without_pass")
                };
                verdict.ack = Some(Ack {
                    key,
                    buyer: buyer as u32,
                    zone: 0,
                    quantity: self.quantity,
                    reservation: created.id,
                });
                (true, verdict)
            }
            Ok(answer) => {
                let expected: &[&str] = if pass.is_some() {
                    &["sold_out"]
                } else {
                    &["queue_pass_required"]
                };
                (true, Verdict::refusal(&answer, expected))
            }
            Err(kind) => (false, Verdict::error(kind)),
        }
    }

    /// Follows the queue's event stream until admission or the sold-out signal.
    async fn wait_for_events(&self, auth: &HeaderValue, session: &mut Session) -> Heard {
        let request = Request::get(&self.events)
            .header(AUTHORIZATION, auth.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .body(Body::default());
        let Ok(request) = request else {
            return Heard::Failed("request_invalid");
        };
        let response = match self.client.open(request).await {
            Ok(response) if response.status() == StatusCode::OK => response,
            Ok(_) => return Heard::Failed("events_refused"),
            Err(failure) => return Heard::Failed(failure.kind()),
        };
        let mut body = response.into_body();
        let mut buffer = String::new();
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            while let Some((name, data)) = next_event(&mut buffer) {
                match name.as_str() {
                    "position" => session.positions += 1,
                    "sold_out" => return Heard::SoldOut,
                    "admitted" => {
                        return match serde_json::from_str::<View>(&data)
                            .ok()
                            .and_then(|v| v.pass)
                        {
                            Some(pass) => Heard::Admitted(pass),
                            None => Heard::Failed("admitted_without_pass"),
                        };
                    }
                    "ended" | "queue_off" => return Heard::Failed("queue_ended"),
                    _ => {}
                }
            }
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Heard::Failed("wait_timeout"),
                Ok(None) => return Heard::Failed("stream_ended"),
                Ok(Some(Err(_))) => return Heard::Failed("transport"),
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        buffer.push_str(&String::from_utf8_lossy(data));
                    }
                }
            }
        }
    }

    /// Polls the queue status until admission or the sold-out signal.
    async fn poll(&self, auth: &HeaderValue, session: &mut Session) -> Heard {
        let deadline = Instant::now() + self.wait_timeout;
        while Instant::now() < deadline {
            let answer = self
                .call(
                    Request::get(&self.queue)
                        .header(AUTHORIZATION, auth.clone())
                        .body(Body::default()),
                )
                .await;
            match answer.map(|a| (a.status, view(&a))) {
                Ok((StatusCode::OK, Some(v))) => {
                    session.positions += 1;
                    match v.state.as_str() {
                        "admitted" => {
                            return v
                                .pass
                                .map_or(Heard::Failed("admitted_without_pass"), Heard::Admitted);
                        }
                        "waiting" | "pre_queue" if v.sold_out => return Heard::SoldOut,
                        "waiting" | "pre_queue" => {}
                        _ => return Heard::Failed("queue_ended"),
                    }
                }
                Ok(_) => return Heard::Failed("status_refused"),
                Err(kind) => return Heard::Failed(kind),
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Heard::Failed("wait_timeout")
    }
}

/// How often a polling buyer asks.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Takes the next complete server-sent event (`event` name and `data`) off the buffer.
pub fn next_event(buffer: &mut String) -> Option<(String, String)> {
    loop {
        let end = buffer.find("\n\n")?;
        let block: String = buffer.drain(..end + 2).collect();
        let mut name = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
        // Comments (keep-alives) carry no data.
        if !data.is_empty() {
            return Some((name, data));
        }
    }
}

/// Runs the buyers' sessions on `profile`'s schedule and tallies them; `seats` is shown and
/// recorded each second.
pub async fn drive(
    run: QueuedRun<'_>,
    client: LoadClient,
    profile: &Profile,
    seats: Option<watch::Receiver<Option<Seats>>>,
) -> anyhow::Result<(RunStats, Ledger, QueueReport)> {
    profile
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid load profile: {e}"))?;
    let base = run.target.trim_end_matches('/');
    let queue = format!("{base}/api/v1/sales/{}/queue", run.sale);
    let authorizations = run
        .tokens
        .iter()
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("a buyer's token is not a valid header value"))?;
    let arrivals: Vec<Duration> = profile.arrivals().collect();
    // Time to let every buyer through at the configured rate, and then some.
    let wait_timeout = Duration::from_secs(60)
        + Duration::from_secs_f64(
            arrivals.len() as f64 / f64::from(run.admission_per_second.max(1)) * 2.0,
        );
    let ctx = Arc::new(Ctx {
        client,
        events: format!("{queue}/events"),
        reserve: format!("{base}/api/v1/sales/{}/reservations", run.sale),
        queue,
        authorizations,
        body: Bytes::from(format!(
            r#"{{"zone":"{}","quantity":{}}}"#,
            run.zone, run.quantity
        )),
        quantity: run.quantity,
        key_prefix: run.key_prefix.clone(),
        buyers: arrivals.len() as u64,
        plan: run.plan,
        wait_timeout,
        counters: Counters::default(),
    });
    let start = Instant::now() + Duration::from_millis(20);
    let (records, inbox) = mpsc::unbounded_channel::<Record>();
    let collector = tokio::spawn(collect(
        inbox,
        Tally::new(start)?,
        start,
        Arc::clone(&ctx),
        run.label.clone(),
        run.progress,
        seats,
    ));
    let mut sessions = tokio::task::JoinSet::new();
    for (buyer, offset) in arrivals.iter().enumerate() {
        let due = start + *offset;
        tokio::time::sleep_until(due).await;
        let (ctx, records) = (Arc::clone(&ctx), records.clone());
        let buyer = buyer % ctx.authorizations.len().max(1);
        sessions.spawn(async move { ctx.session(buyer, due, records).await });
    }
    drop(records);
    let mut waited = histogram(3)?;
    let mut report = QueueReport {
        wait: run.plan.wait,
        buyers: arrivals.len() as u64,
        joined: 0,
        pre_queue: 0,
        admitted: 0,
        reserved: 0,
        told_sold_out: 0,
        left: 0,
        probes: 0,
        probes_refused: 0,
        position_updates: 0,
        admitted_by_queue: 0,
        admission_per_second: run.admission_per_second,
        first_batch: 0,
        measured_admission_rate: None,
        admission_span: None,
        waited: Latency::default(),
    };
    while let Some(session) = sessions.join_next().await {
        let s = session?;
        report.joined += u64::from(s.joined);
        report.pre_queue += u64::from(s.pre_queue);
        report.told_sold_out += u64::from(s.told_sold_out);
        report.left += u64::from(s.left);
        report.reserved += u64::from(s.reserved);
        report.probes += u64::from(s.probed);
        report.probes_refused += u64::from(s.probe_refused);
        report.position_updates += s.positions;
        if let Some(w) = s.waited {
            report.admitted += 1;
            waited.saturating_record((w.as_micros() as u64).max(1));
        }
    }
    report.waited = Latency::of(&waited);
    let (tally, ledger) = collector.await?;
    let window = arrivals.last().copied().unwrap_or_default();
    Ok((tally.finish(window), ledger, report))
}

/// Tallies the sessions' records, printing the queue's progress each second when asked.
async fn collect(
    inbox: mpsc::UnboundedReceiver<Record>,
    tally: Tally,
    start: Instant,
    ctx: Arc<Ctx>,
    label: String,
    progress: bool,
    seats: Option<watch::Receiver<Option<Seats>>>,
) -> (Tally, Ledger) {
    tally_records(inbox, tally, Ledger::default(), start, seats, |_, second| {
        if progress {
            let c = &ctx.counters;
            say(&format!(
                "[{label} {:>4}s] joined {}  waiting {}  admitted {}  reserved {}  told sold out {}",
                second + 1,
                c.joined.load(Ordering::Relaxed),
                c.waiting.load(Ordering::Relaxed),
                c.admitted.load(Ordering::Relaxed),
                c.reserved.load(Ordering::Relaxed),
                c.sold_out.load(Ordering::Relaxed),
            ));
        }
    })
    .await
}

/// Reads the queue's own counts into the report: admissions counted, and the admission rate
/// from the times of its first and last admissions (`q:state`).
pub async fn read_queue(
    redis: &ConnectionManager,
    sale: &SaleId,
    report: &mut QueueReport,
) -> anyhow::Result<()> {
    let mut conn = redis.clone();
    let (admitted, first_ms, first_batch, last_ms): (
        Option<u64>,
        Option<i64>,
        Option<u64>,
        Option<i64>,
    ) = redis::cmd("HMGET")
        .arg(SaleKeys::new(sale).queue("state"))
        .arg(&[
            "admitted",
            "first_admitted_ms",
            "first_batch",
            "last_admitted_ms",
        ])
        .query_async(&mut conn)
        .await?;
    report.admitted_by_queue = admitted.unwrap_or_default();
    report.first_batch = first_batch.unwrap_or_default();
    report.admission_span = admission_span(
        report.admitted_by_queue,
        first_batch.unwrap_or_default(),
        first_ms.zip(last_ms),
    );
    report.measured_admission_rate = report
        .admission_span
        .map(|(n, seconds)| (n as f64 / seconds * 10.0).round() / 10.0);
    Ok(())
}

/// Admissions after the first batch, and the seconds from the first admission to the last:
/// the bucket may hand out a second's worth at once before the first, and then no more than
/// the rate.
pub fn admission_span(
    admitted: u64,
    first_batch: u64,
    first_and_last_ms: Option<(i64, i64)>,
) -> Option<(u64, f64)> {
    let (first, last) = first_and_last_ms?;
    (last > first).then(|| {
        (
            admitted.saturating_sub(first_batch),
            (last - first) as f64 / 1000.0,
        )
    })
}

impl QueueReport {
    /// The queue's figures as rows of a report's table.
    pub fn markdown(&self) -> String {
        let w = &self.waited;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "| queue | {} buyers, {} joined ({} before opening), waiting by {} |",
            self.buyers,
            self.joined,
            self.pre_queue,
            self.wait.name()
        );
        let _ = writeln!(
            md,
            "| admitted | {} ({} counted by the queue), {} reserved with their pass, {} told the sale sold out ({} left) |",
            self.admitted, self.admitted_by_queue, self.reserved, self.told_sold_out, self.left
        );
        let _ = writeln!(
            md,
            "| admission | {}/s configured, up to a second's worth at once; {} admitted: {} in the first batch{} |",
            self.admission_per_second,
            self.admitted_by_queue,
            self.first_batch,
            self.admission_span
                .map_or_else(String::new, |(n, seconds)| format!(
                    ", then {n} in {seconds:.1} s"
                ))
        );
        let _ = writeln!(
            md,
            "| wait for admission | p50 {} · p90 {} · p99 {} · max {} |",
            ms(w.p50),
            ms_or_dash(w.p90),
            ms(w.p99),
            ms(w.max)
        );
        let _ = writeln!(
            md,
            "| position updates | {} received |",
            self.position_updates
        );
        md
    }

    /// The queue's promises as audit lines.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut twice = Vec::new();
        if self.admitted_by_queue > self.joined {
            twice.push(format!(
                "the queue counted {} admissions for {} buyers who joined once each",
                self.admitted_by_queue, self.joined
            ));
        }
        if self.admitted > self.admitted_by_queue {
            twice.push(format!(
                "{} buyers heard they were admitted, the queue admitted {}",
                self.admitted, self.admitted_by_queue
            ));
        }
        checks.push(check(
            "the queue admitted nobody twice",
            twice,
            format!(
                "{} admissions for {} buyers, {} of them heard",
                self.admitted_by_queue, self.joined, self.admitted
            ),
        ));
        let mut passless = Vec::new();
        if self.probes_refused != self.probes {
            passless.push(format!(
                "{} of {} reserves without a pass were not refused with queue_pass_required",
                self.probes - self.probes_refused,
                self.probes
            ));
        }
        if self.reserved > self.admitted {
            passless.push(format!(
                "{} reservations for {} admitted buyers",
                self.reserved, self.admitted
            ));
        }
        checks.push(check(
            "no reservation without a queue pass",
            passless,
            format!(
                "{} reservations by {} admitted buyers; {} reserves without a pass refused",
                self.reserved, self.admitted, self.probes
            ),
        ));
        let rate = f64::from(self.admission_per_second);
        let rate_problems = match self.admission_span {
            // The bucket holds up to a second of admissions: what the first batch left may
            // follow it at once.
            Some((n, seconds)) if n as f64 > rate * (seconds + 1.0) + 1.0 => vec![format!(
                "{n} admissions in {seconds:.1} s at a configured {rate}/s"
            )],
            _ => vec![],
        };
        checks.push(check(
            "admission held its configured rate",
            rate_problems,
            match self.admission_span {
                Some((n, seconds)) => format!(
                    "{} at once, then {n} in {seconds:.1} s ({}/s, drawing on what the first batch left of the bucket); at most {rate} × ({seconds:.1} + 1) allowed",
                    self.first_batch,
                    self.measured_admission_rate.unwrap_or_default()
                ),
                None => format!("every admission came in one batch; configured {rate}/s"),
            },
        ));
        let unanswered = self
            .joined
            .saturating_sub(self.admitted + self.told_sold_out);
        checks.push(check(
            "every buyer was admitted or told the sale sold out",
            if unanswered == 0 {
                vec![]
            } else {
                vec![format!(
                    "{unanswered} of {} buyers who joined heard neither",
                    self.joined
                )]
            },
            format!(
                "{} admitted, {} told it sold out ({} left the queue)",
                self.admitted, self.told_sold_out, self.left
            ),
        ));
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_whole_and_keep_alives_skipped() {
        let mut buffer = String::from(
            ":\n\nevent: position\ndata: {\"position\":3}\n\nevent: admitted\ndata: {\"pass\"",
        );
        assert_eq!(
            next_event(&mut buffer),
            Some(("position".into(), "{\"position\":3}".into()))
        );
        assert_eq!(
            next_event(&mut buffer),
            None,
            "the admission is not complete yet"
        );
        buffer.push_str(":\"p\"}\n\n");
        assert_eq!(
            next_event(&mut buffer),
            Some(("admitted".into(), "{\"pass\":\"p\"}".into()))
        );
    }

    #[test]
    fn the_admission_span_runs_from_the_first_admission_to_the_last() {
        assert_eq!(admission_span(25, 5, Some((1_000, 3_000))), Some((20, 2.0)));
        assert_eq!(
            admission_span(5, 5, Some((1_000, 1_000))),
            None,
            "one batch"
        );
        assert_eq!(admission_span(0, 0, None), None);
    }

    #[test]
    fn a_queue_that_admitted_too_fast_or_twice_fails_its_checks() {
        let mut report = QueueReport {
            wait: WaitMode::Sse,
            buyers: 10,
            joined: 10,
            pre_queue: 10,
            admitted: 5,
            reserved: 5,
            told_sold_out: 5,
            left: 5,
            probes: 1,
            probes_refused: 1,
            position_updates: 20,
            admitted_by_queue: 5,
            admission_per_second: 10,
            first_batch: 1,
            measured_admission_rate: Some(5.0),
            admission_span: Some((5, 1.0)),
            waited: Latency::default(),
        };
        assert!(report.checks().iter().all(|c| c.passed));
        report.admitted_by_queue = 12;
        report.admission_span = Some((60, 2.0));
        let failed: Vec<String> = report
            .checks()
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            [
                "the queue admitted nobody twice",
                "admission held its configured rate"
            ]
        );
    }
}
