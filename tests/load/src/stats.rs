//! Counting a run: HDR latency histograms overall and per second, outcomes by kind, the live
//! progress line.

use std::{collections::BTreeMap, io::Write, time::Duration};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::workload::{Class, Verdict};

/// Highest latency the histograms hold, in microseconds (an hour); larger values are clamped.
const MAX_MICROS: u64 = 3_600_000_000;

/// A histogram of microseconds up to an hour.
pub fn histogram(significant_figures: u8) -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, MAX_MICROS, significant_figures)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: Option<f64>,
    /// Largest.
    pub max: f64,
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1000.0 * 1000.0).round() / 1000.0
}

impl Latency {
    /// Percentiles of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: Some(ms(h.value_at_quantile(0.9))),
            p99: ms(h.value_at_quantile(0.99)),
            p999: Some(ms(h.value_at_quantile(0.999))),
            max: ms(h.max()),
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Second {
    /// Seconds since the start.
    pub second: u32,
    /// Arrivals due in this second.
    pub offered: u64,
    /// Answers received in this second (achieved requests per second).
    pub answered: u64,
    /// Errors in this second (by completion; shed arrivals by due time).
    pub errors: u64,
    /// Median latency of this second's answers, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
    /// Seats held at the end of the second, when the sale was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats_held: Option<i64>,
    /// Seats sold at the end of the second, when the sale was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats_sold: Option<i64>,
}

/// Seat counts of a sale, summed over its zones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    /// Free.
    pub available: i64,
    /// On hold.
    pub held: i64,
    /// Sold.
    pub sold: i64,
}

/// The counts of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStats {
    /// Arrivals the schedule produced.
    pub scheduled: u64,
    /// Requests actually sent (scheduled minus shed).
    pub sent: u64,
    /// Requests that got an answer (any status).
    pub answered: u64,
    /// Arrivals not sent because the in-flight bound was reached.
    pub shed: u64,
    /// Successes by kind.
    pub ok: BTreeMap<String, u64>,
    /// Expected refusals by kind.
    pub rejected: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Errors over scheduled arrivals.
    pub error_rate: f64,
    /// Seconds from the first due arrival to the last answer.
    pub elapsed_seconds: f64,
    /// Arrivals per second the schedule offered.
    pub offered_rps: f64,
    /// Answers per second over the arrival window (the schedule's length, or the elapsed time
    /// when answers came later than the last arrival).
    pub achieved_rps: f64,
    /// Latency from the intended send time to the whole answer, of answered and timed-out
    /// requests (a timed-out request counts with the time it was given up at).
    pub latency: Latency,
    /// How late the load tool sent requests behind their intended time (its own lag; large
    /// values mean the tool, not the server, limited the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag: Option<Latency>,
    /// Per-second view.
    pub timeline: Vec<Second>,
}

impl RunStats {
    /// Total errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Total successes.
    pub fn ok_count(&self) -> u64 {
        self.ok.values().sum()
    }

    /// Total expected refusals.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// One finished arrival.
#[derive(Debug, Clone)]
pub struct Record {
    /// Intended send time.
    pub due: Instant,
    /// When the answer (or failure) was complete; `None` for a shed arrival.
    pub done: Option<Instant>,
    /// Whether the server answered.
    pub answered: bool,
    /// How it counts.
    pub verdict: Verdict,
}

struct Bucket {
    offered: u64,
    answered: u64,
    errors: u64,
    latency: Histogram<u64>,
    seats: Option<Seats>,
}

impl Bucket {
    fn new(latency: Histogram<u64>) -> Self {
        Self {
            offered: 0,
            answered: 0,
            errors: 0,
            latency,
            seats: None,
        }
    }
}

/// Accumulates records into the run's counts.
pub struct Tally {
    start: Instant,
    overall: Histogram<u64>,
    per_second: Histogram<u64>,
    buckets: Vec<Bucket>,
    stats: RunStats,
    last_done: Option<Instant>,
}

fn second_of(start: Instant, t: Instant) -> usize {
    t.saturating_duration_since(start).as_secs() as usize
}

impl Tally {
    /// A tally for a run whose first arrival is due at `start`.
    pub fn new(start: Instant) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            start,
            overall: histogram(3)?,
            per_second: histogram(2)?,
            buckets: Vec::new(),
            stats: RunStats::default(),
            last_done: None,
        })
    }

    fn bucket(&mut self, second: usize) -> &mut Bucket {
        while self.buckets.len() <= second {
            self.buckets.push(Bucket::new(self.per_second.clone()));
        }
        &mut self.buckets[second]
    }

    /// Counts one arrival.
    pub fn add(&mut self, record: Record) {
        let stats = &mut self.stats;
        stats.scheduled += 1;
        let due_second = second_of(self.start, record.due);
        self.bucket(due_second).offered += 1;
        let Some(done) = record.done else {
            self.stats.shed += 1;
            self.count_kind(&record.verdict);
            self.bucket(due_second).errors += 1;
            return;
        };
        self.stats.sent += 1;
        self.last_done = Some(self.last_done.map_or(done, |t| t.max(done)));
        let micros = done.saturating_duration_since(record.due).as_micros() as u64;
        let timed_out = record.verdict.kind == "timeout";
        let done_second = second_of(self.start, done);
        let bucket = self.bucket(done_second);
        if record.answered || timed_out {
            bucket.latency.saturating_record(micros.max(1));
        }
        if record.answered {
            bucket.answered += 1;
        }
        if record.verdict.class == Class::Error {
            bucket.errors += 1;
        }
        if record.answered || timed_out {
            self.overall.saturating_record(micros.max(1));
        }
        if record.answered {
            self.stats.answered += 1;
        }
        self.count_kind(&record.verdict);
    }

    fn count_kind(&mut self, verdict: &Verdict) {
        let map = match verdict.class {
            Class::Ok => &mut self.stats.ok,
            Class::Rejected => &mut self.stats.rejected,
            Class::Error => &mut self.stats.errors,
        };
        match map.get_mut(verdict.kind.as_ref()) {
            Some(n) => *n += 1,
            None => {
                map.insert(verdict.kind.to_string(), 1);
            }
        }
    }

    /// Notes the sale's seats at the end of `second`.
    pub fn seats(&mut self, second: usize, seats: Seats) {
        self.bucket(second).seats = Some(seats);
    }

    /// The progress line of `second` (already complete).
    pub fn progress_line(&self, label: &str, second: usize, target_rps: f64) -> String {
        let Some(b) = self.buckets.get(second) else {
            return format!("[{label} {:>4}s] no arrivals yet", second + 1);
        };
        let errors = if self.stats.errors.is_empty() {
            "errors 0".to_owned()
        } else {
            let kinds: Vec<String> = self
                .stats
                .errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            format!("errors {} ({})", self.stats.error_count(), kinds.join(", "))
        };
        let seats = b
            .seats
            .map(|s| {
                format!(
                    "  seats held {} sold {} left {}",
                    s.held, s.sold, s.available
                )
            })
            .unwrap_or_default();
        format!(
            "[{label} {:>4}s] {:>7} req/s (target {:.0})  p50 {:.1}ms p99 {:.1}ms  {errors}{seats}",
            second + 1,
            b.answered,
            target_rps,
            b.latency.value_at_quantile(0.5) as f64 / 1000.0,
            b.latency.value_at_quantile(0.99) as f64 / 1000.0,
        )
    }

    /// The final counts; `window` is the length of the arrival schedule.
    pub fn finish(mut self, window: Duration) -> RunStats {
        let elapsed = self
            .last_done
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(self.start));
        let span = window.max(elapsed).as_secs_f64().max(0.001);
        let stats = &mut self.stats;
        stats.elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        stats.offered_rps = if window.is_zero() {
            stats.scheduled as f64
        } else {
            (stats.scheduled as f64 / window.as_secs_f64()).round()
        };
        stats.achieved_rps = (stats.answered as f64 / span * 10.0).round() / 10.0;
        stats.error_rate = if stats.scheduled == 0 {
            0.0
        } else {
            stats.error_count() as f64 / stats.scheduled as f64
        };
        stats.latency = Latency::of(&self.overall);
        stats.timeline = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| Second {
                second: i as u32,
                offered: b.offered,
                answered: b.answered,
                errors: b.errors,
                p50: ms(b.latency.value_at_quantile(0.5)),
                p99: ms(b.latency.value_at_quantile(0.99)),
                max: ms(b.latency.max()),
                seats_held: b.seats.map(|s| s.held),
                seats_sold: b.seats.map(|s| s.sold),
            })
            .collect();
        self.stats
    }
}

/// Writes a progress line to stderr (the report goes to files; stdout stays for results).
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start: Instant, due_ms: u64, took_ms: Option<u64>, verdict: Verdict) -> Record {
        let due = start + Duration::from_millis(due_ms);
        Record {
            due,
            done: took_ms.map(|t| due + Duration::from_millis(t)),
            answered: took_ms.is_some() && verdict.kind != "timeout" && verdict.kind != "transport",
            verdict,
        }
    }

    #[test]
    fn latency_counts_from_the_intended_time_and_outcomes_by_class() {
        let start = Instant::now();
        let mut tally = Tally::new(start).unwrap();
        for i in 0..98 {
            tally.add(record(start, i * 10, Some(2), Verdict::ok("201")));
        }
        tally.add(record(start, 990, Some(400), Verdict::error("timeout")));
        tally.add(record(
            start,
            995,
            None,
            Verdict::error("shed_in_flight_limit"),
        ));
        let stats = tally.finish(Duration::from_secs(1));
        assert_eq!(stats.scheduled, 100);
        assert_eq!(stats.sent, 99);
        assert_eq!(stats.answered, 98);
        assert_eq!(stats.shed, 1);
        assert_eq!(stats.ok["201"], 98);
        assert_eq!(stats.errors["timeout"], 1);
        assert_eq!(stats.errors["shed_in_flight_limit"], 1);
        assert!((stats.error_rate - 0.02).abs() < 1e-9);
        assert_eq!(
            stats.latency.count, 99,
            "the timed-out request is measured too"
        );
        assert!(
            (stats.latency.p50 - 2.0).abs() < 0.01,
            "{:?}",
            stats.latency
        );
        assert!(stats.latency.max >= 399.0, "{:?}", stats.latency);
        assert_eq!(stats.timeline[0].offered, 100);
        assert_eq!(stats.timeline[1].answered, 0);
        assert_eq!(stats.timeline[1].errors, 1, "the timeout ended in second 1");
        assert!(
            (stats.achieved_rps - 98.0 / 1.39).abs() < 1.0,
            "{}",
            stats.achieved_rps
        );
    }
}
