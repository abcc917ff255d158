//! The open-loop engine: sends each arrival at its intended time whatever the server is doing,
//! bounds the requests in flight, and tallies every outcome.

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, mpsc, watch},
    time::Instant,
};

use crate::{
    audit::Ledger,
    http::LoadClient,
    schedule::Profile,
    stats::{Latency, Record, RunStats, Seats, Tally, histogram, say},
    workload::{Verdict, Workload},
};

/// Outcome kind of an arrival not sent because the in-flight bound was reached.
pub const SHED: &str = "shed_in_flight_limit";

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Most requests in flight at once; arrivals beyond it are shed and counted as errors.
    pub max_in_flight: usize,
    /// Name shown on the progress line.
    pub label: String,
    /// Print a progress line every second.
    pub progress: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Counts and latencies.
    pub stats: RunStats,
    /// Every Idempotency-Key a 201 acknowledged, and the reservation it named.
    pub ledger: Ledger,
}

/// Why the engine could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The profile makes no sense.
    #[error("invalid load profile: {0}")]
    Profile(String),
    /// The histograms could not be made.
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    /// The in-flight bound is zero or beyond what a semaphore holds.
    #[error("max in flight must be between 1 and {}", Semaphore::MAX_PERMITS)]
    InFlight,
    /// The tally task died.
    #[error("the tally task failed: {0}")]
    Tally(#[from] tokio::task::JoinError),
}

/// Runs `profile` against the server through `client`; `seats` (if given) is shown and recorded
/// each second.
pub async fn drive<W: Workload>(
    workload: Arc<W>,
    client: LoadClient,
    profile: &Profile,
    settings: &EngineSettings,
    seats: Option<watch::Receiver<Option<Seats>>>,
) -> Result<Outcome, EngineError> {
    profile.validate().map_err(EngineError::Profile)?;
    if settings.max_in_flight == 0 || settings.max_in_flight > Semaphore::MAX_PERMITS {
        return Err(EngineError::InFlight);
    }
    // A slot for every arrival's acknowledgement, written before the clock starts (see `Ledger`).
    let ledger = Ledger::with_capacity(profile.arrivals().count());
    let start = Instant::now() + Duration::from_millis(20);
    let tally = Tally::new(start)?;
    let (records, inbox) = mpsc::unbounded_channel::<Record>();
    let collector = tokio::spawn(collect(
        inbox,
        tally,
        ledger,
        start,
        settings.clone(),
        profile.clone(),
        seats,
    ));
    let permits = Arc::new(Semaphore::new(settings.max_in_flight));
    let mut lag = histogram(2)?;
    for (seq, offset) in profile.arrivals().enumerate() {
        let due = start + offset;
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let late = Instant::now().saturating_duration_since(due).as_micros() as u64;
        lag.saturating_record(late.max(1));
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let _ = records.send(Record {
                due,
                done: None,
                answered: false,
                verdict: Verdict::error(SHED),
            });
            continue;
        };
        let (request, meta) = match workload.job(seq as u64) {
            Ok(job) => job,
            Err(_) => {
                let _ = records.send(Record {
                    due,
                    done: Some(Instant::now()),
                    answered: false,
                    verdict: Verdict::error("request_invalid"),
                });
                continue;
            }
        };
        let workload = workload.clone();
        let client = client.clone();
        let records = records.clone();
        tokio::spawn(async move {
            let result = client.send(request).await;
            let done = Instant::now();
            let (answered, verdict) = match result {
                Ok(answer) => (true, workload.judge(&meta, &answer)),
                Err(failure) => (false, Verdict::error(failure.kind())),
            };
            drop(permit);
            let _ = records.send(Record {
                due,
                done: Some(done),
                answered,
                verdict,
            });
        });
    }
    // Every request ends within its timeout; once all permits are back nothing is in flight.
    let all = u32::try_from(settings.max_in_flight).map_err(|_| EngineError::InFlight)?;
    let _ = tokio::time::timeout(
        client.timeout() + Duration::from_secs(5),
        permits.acquire_many(all),
    )
    .await;
    drop(records);
    let (stats, ledger) = collector.await?;
    let window = Duration::from_secs_f64(profile.seconds());
    let mut stats = stats.finish(window);
    stats.send_lag = Some(Latency::of(&lag));
    Ok(Outcome { stats, ledger })
}

async fn collect(
    inbox: mpsc::UnboundedReceiver<Record>,
    tally: Tally,
    ledger: Ledger,
    start: Instant,
    settings: EngineSettings,
    profile: Profile,
    seats: Option<watch::Receiver<Option<Seats>>>,
) -> (Tally, Ledger) {
    tally_records(inbox, tally, ledger, start, seats, |tally, second| {
        if settings.progress {
            let target = match profile {
                Profile::Burst { .. } => profile.peak_rate(),
                _ => profile.rate_at(second as f64 + 0.5),
            };
            say(&tally.progress_line(&settings.label, second, target));
        }
    })
    .await
}

/// Tallies records until every sender is gone, noting acknowledged reservations in `ledger`;
/// at the end of each second it records the sale's seats (when watched) and calls `each_second`.
pub async fn tally_records(
    mut inbox: mpsc::UnboundedReceiver<Record>,
    mut tally: Tally,
    mut ledger: Ledger,
    start: Instant,
    mut seats: Option<watch::Receiver<Option<Seats>>>,
    mut each_second: impl FnMut(&Tally, usize),
) -> (Tally, Ledger) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut second = 0usize;
    loop {
        tokio::select! {
            record = inbox.recv() => {
                let Some(record) = record else { break };
                if let Some(ack) = record.verdict.ack {
                    ledger.acknowledge(ack);
                }
                tally.add(record);
            }
            _ = tick.tick() => {
                if let Some(current) = seats.as_mut().and_then(|s| *s.borrow_and_update()) {
                    tally.seats(second, current);
                }
                each_second(&tally, second);
                second += 1;
            }
        }
    }
    if let Some(current) = seats.as_mut().and_then(|s| *s.borrow_and_update()) {
        tally.seats(second, current);
    }
    (tally, ledger)
}
