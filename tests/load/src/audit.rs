//! The audit after a run: the sale's books must balance in Redis, in PostgreSQL and against what
//! the clients were told. Read-only; each check is a named line of the report, so new checks (a
//! payment reconciliation) are added as further [`Check`]s.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    time::{Duration, Instant},
};

use booking::{
    inventory::{Inventory, ZoneAvailability},
    store::{self, ZoneTotals},
};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use shared::{ids::SaleId, keys::SaleKeys};
use sqlx::PgPool;
use uuid::Uuid;

use crate::workload::Ack;

/// Every Idempotency-Key a 201 acknowledged, and any key that was acknowledged with two
/// different reservations. A run's keys are its arrivals' numbers, so the ledger is a table indexed
/// by them, made and written for every arrival before the clock starts; keys beyond it (none in
/// the engine's runs) go to a map.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    made: Vec<Option<Ack>>,
    beyond: HashMap<u64, Option<Ack>>,
    acknowledged: usize,
    conflicts: Vec<(u64, Uuid, Uuid)>,
}

impl Ledger {
    /// A ledger for keys `0..keys`, every slot written now: growing a table, or the first touch
    /// of its fresh pages, mid-run would stop the load tool for tens of milliseconds.
    pub fn with_capacity(keys: usize) -> Self {
        let mut made = Vec::with_capacity(keys);
        made.resize(keys, None);
        Self {
            made,
            ..Self::default()
        }
    }

    /// Notes a 201.
    pub fn acknowledge(&mut self, ack: Ack) {
        let slot = match usize::try_from(ack.key)
            .ok()
            .and_then(|i| self.made.get_mut(i))
        {
            Some(slot) => slot,
            None => self.beyond.entry(ack.key).or_insert(None),
        };
        match slot {
            None => {
                *slot = Some(ack);
                self.acknowledged += 1;
            }
            Some(first) if first.reservation != ack.reservation => {
                self.conflicts
                    .push((ack.key, first.reservation, ack.reservation));
            }
            Some(_) => {}
        }
    }

    /// Keys acknowledged.
    pub fn len(&self) -> usize {
        self.acknowledged
    }

    /// Whether nothing was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.acknowledged == 0
    }

    /// The acknowledged reservations.
    pub fn acks(&self) -> impl Iterator<Item = &Ack> {
        self.made.iter().chain(self.beyond.values()).flatten()
    }

    /// Keys acknowledged with two different reservations: `(key, first, other)`.
    pub fn conflicts(&self) -> &[(u64, Uuid, Uuid)] {
        &self.conflicts
    }
}

/// One line of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

/// The audit's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// Whether every check held.
    pub passed: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl AuditReport {
    /// `PASS` or `FAIL`.
    pub fn verdict(&self) -> &'static str {
        if self.passed { "PASS" } else { "FAIL" }
    }

    /// The report as lines of text.
    pub fn render(&self) -> String {
        let mut out = format!("audit: {}\n", self.verdict());
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {}", check.name, check.detail);
        }
        out
    }
}

/// A property a scenario promises on top of the invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Expectation {
    /// Exactly this many seats end up taken (held + sold) across the sale.
    SeatsTaken(i64),
    /// Every hold has ended (all abandoned holds expired) once the sale settles.
    NothingHeld,
    /// No hold ended during the run, so the seats acknowledged to a buyer in a zone never
    /// exceed the zone's per-user cap.
    AcknowledgedWithinCaps,
}

/// What to audit.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The sale.
    pub sale: &'a SaleId,
    /// What the clients were told.
    pub ledger: &'a Ledger,
    /// Prefix of the run's Idempotency-Keys.
    pub key_prefix: &'a str,
    /// User id of each buyer index.
    pub buyers: &'a [Uuid],
    /// Zone id of each zone index.
    pub zones: &'a [String],
    /// Extra promises.
    pub expectations: &'a [Expectation],
}

/// Reads Redis and booking's PostgreSQL schema.
#[derive(Clone)]
pub struct Auditor {
    redis: ConnectionManager,
    db: PgPool,
    payments: Option<PgPool>,
    drain_timeout: Duration,
}

/// Sale state read at one moment.
struct Snapshot {
    live: Vec<ZoneAvailability>,
    recorded: Vec<ZoneTotals>,
    outbox: u64,
    overdue: u64,
}

impl Snapshot {
    fn settled(&self, nothing_held: bool) -> Vec<String> {
        let mut pending = Vec::new();
        if self.outbox > 0 {
            pending.push(format!(
                "{} events not yet relayed from the outbox",
                self.outbox
            ));
        }
        if self.overdue > 0 {
            pending.push(format!("{} holds past their expiry", self.overdue));
        }
        if self.live.len() != self.recorded.len() {
            pending.push(format!(
                "{} zones in Redis, {} configured in PostgreSQL",
                self.live.len(),
                self.recorded.len()
            ));
        }
        for (l, r) in self.live.iter().zip(&self.recorded) {
            let same = l.zone == r.zone_id
                && l.capacity == i64::from(r.capacity)
                && l.held == i64::from(r.held)
                && l.sold == i64::from(r.sold)
                && r.held_rows == i64::from(r.held)
                && r.sold_rows == i64::from(r.sold);
            if !same {
                pending.push(format!(
                    "zone {}: Redis capacity {} held {} sold {}; PostgreSQL capacity {} held {} (rows {}) sold {} (rows {})",
                    l.zone, l.capacity, l.held, l.sold, r.capacity, r.held, r.held_rows, r.sold, r.sold_rows
                ));
            }
        }
        if nothing_held {
            let held: i64 = self.live.iter().map(|z| z.held).sum();
            if held > 0 {
                pending.push(format!("{held} seats still held"));
            }
        }
        pending
    }
}

/// An audit line: passed with `ok_detail` when there are no problems, else failed listing the
/// first few.
pub fn check(name: &str, problems: Vec<String>, ok_detail: String) -> Check {
    const SHOWN: usize = 5;
    if problems.is_empty() {
        return Check {
            name: name.to_owned(),
            passed: true,
            detail: ok_detail,
        };
    }
    let mut detail = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        let _ = write!(detail, "; and {} more", problems.len() - SHOWN);
    }
    Check {
        name: name.to_owned(),
        passed: false,
        detail,
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Grace past a hold's expiry before it counts as overdue (a sweep period and then some).
const OVERDUE_GRACE_MS: i64 = 2_000;

impl Auditor {
    /// Audits through these connections; waits up to `drain_timeout` for the sale to settle.
    pub fn new(redis: ConnectionManager, db: PgPool, drain_timeout: Duration) -> Self {
        Self {
            redis,
            db,
            payments: None,
            drain_timeout,
        }
    }

    /// Also reconciles the sale's payments (payment's schema) with its bookings and seats.
    pub fn with_payments(mut self, payments: PgPool) -> Self {
        self.payments = Some(payments);
        self
    }

    async fn reconciled(
        &self,
        sale: &SaleId,
        payments: &PgPool,
        wait: Duration,
    ) -> anyhow::Result<Check> {
        let sources = reconcile::Sources {
            booking: self.db.clone(),
            payment: payments.clone(),
            inventory: Inventory::new(self.redis.clone(), Duration::from_secs(1)),
        };
        let report = reconcile::settled(&sources, sale, wait).await?;
        let t = &report.totals;
        Ok(check(
            "payments reconcile with bookings and seats",
            report
                .discrepancies
                .iter()
                .map(ToString::to_string)
                .collect(),
            format!(
                "{} payments: {} captured and confirmed, {} refunded, {} declined; 0 discrepancies",
                t.payments, t.captured, t.refunded, t.failed
            ),
        ))
    }

    async fn snapshot(&self, sale: &SaleId) -> anyhow::Result<Snapshot> {
        let inventory = Inventory::new(self.redis.clone(), Duration::from_secs(1));
        let live = inventory.availability(sale).await?.unwrap_or_default();
        let recorded = store::zone_totals(&self.db, sale).await?;
        let keys = SaleKeys::new(sale);
        let mut conn = self.redis.clone();
        let (outbox, overdue): (u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(keys.outbox())
            .cmd("ZCOUNT")
            .arg(keys.expiries())
            .arg("-inf")
            .arg(now_ms() - OVERDUE_GRACE_MS)
            .query_async(&mut conn)
            .await?;
        Ok(Snapshot {
            live,
            recorded,
            outbox,
            overdue,
        })
    }

    /// Waits for the sale to settle, then runs every check. Errors only when Redis or
    /// PostgreSQL cannot be read.
    pub async fn audit(&self, subject: Subject<'_>) -> anyhow::Result<AuditReport> {
        let nothing_held = subject.expectations.contains(&Expectation::NothingHeld);
        let started = Instant::now();
        let mut snapshot = self.snapshot(subject.sale).await?;
        let mut pending = snapshot.settled(nothing_held);
        while !pending.is_empty() && started.elapsed() < self.drain_timeout {
            tokio::time::sleep(Duration::from_millis(250)).await;
            snapshot = self.snapshot(subject.sale).await?;
            pending = snapshot.settled(nothing_held);
        }
        let waited = started.elapsed().as_secs_f64();
        let mut checks = vec![check(
            "PostgreSQL equals Redis after the recorder drained",
            pending,
            format!(
                "outbox empty, no hold past its expiry, counters and reservation rows agree in {} zones (settled after {waited:.1} s)",
                snapshot.live.len()
            ),
        )];
        checks.push(balanced(&snapshot));
        checks.push(not_negative(&snapshot));
        checks.push(self.caps(subject, &snapshot).await?);
        checks.push(self.one_outcome_per_key(subject).await?);
        checks.push(self.acknowledged_recorded(subject, started).await?);
        checks.push(self.no_refused_events(subject.sale).await?);
        if let Some(payments) = &self.payments {
            let left = self.drain_timeout.saturating_sub(started.elapsed());
            checks.push(self.reconciled(subject.sale, payments, left).await?);
        }
        for expectation in subject.expectations {
            match *expectation {
                Expectation::SeatsTaken(seats) => {
                    let taken: i64 = snapshot.live.iter().map(|z| z.held + z.sold).sum();
                    let problems = if taken == seats {
                        vec![]
                    } else {
                        vec![format!("{taken} seats taken, expected exactly {seats}")]
                    };
                    checks.push(check(
                        "exactly the expected seats were taken",
                        problems,
                        format!("{taken} seats taken"),
                    ));
                }
                Expectation::NothingHeld => {
                    let held: i64 = snapshot.live.iter().map(|z| z.held).sum();
                    let problems = if held == 0 {
                        vec![]
                    } else {
                        vec![format!("{held} seats still held")]
                    };
                    checks.push(check(
                        "every abandoned hold expired",
                        problems,
                        "no seat held once the holds' time was up".into(),
                    ));
                }
                Expectation::AcknowledgedWithinCaps => {
                    checks.push(acknowledged_within_caps(subject, &snapshot));
                }
            }
        }
        Ok(AuditReport {
            passed: checks.iter().all(|c| c.passed),
            checks,
        })
    }

    async fn caps(&self, subject: Subject<'_>, snapshot: &Snapshot) -> anyhow::Result<Check> {
        let caps: HashMap<&str, i64> = snapshot
            .live
            .iter()
            .map(|z| (z.zone.as_str(), z.per_user_cap))
            .collect();
        let mut problems = Vec::new();
        let mut conn = self.redis.clone();
        let held: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(SaleKeys::new(subject.sale).user_quantities())
            .query_async(&mut conn)
            .await?;
        for (field, seats) in &held {
            let zone = field.split(':').next().unwrap_or_default();
            match caps.get(zone) {
                Some(cap) if seats > cap => problems.push(format!(
                    "Redis: {field} holds or owns {seats} seats, cap {cap}"
                )),
                Some(_) => {}
                None => problems.push(format!("Redis: {field} counts seats in an unknown zone")),
            }
        }
        let over: Vec<(String, Uuid, i64, i32)> = sqlx::query_as(
            "SELECT r.zone_id, r.user_id, SUM(r.quantity)::BIGINT, z.per_user_cap
             FROM reservations r JOIN zones z ON z.sale_id = r.sale_id AND z.zone_id = r.zone_id
             WHERE r.sale_id = $1 AND r.status IN ('held', 'confirmed')
             GROUP BY r.zone_id, r.user_id, z.per_user_cap
             HAVING SUM(r.quantity) > z.per_user_cap
             LIMIT 10",
        )
        .bind(subject.sale.as_str())
        .fetch_all(&self.db)
        .await?;
        for (zone, user, seats, cap) in over {
            problems.push(format!(
                "PostgreSQL: user {user} holds or owns {seats} seats in {zone}, cap {cap}"
            ));
        }
        Ok(check(
            "per-user caps held",
            problems,
            format!(
                "{} buyer-zone totals in Redis and every live reservation in PostgreSQL within their caps",
                held.len()
            ),
        ))
    }

    async fn one_outcome_per_key(&self, subject: Subject<'_>) -> anyhow::Result<Check> {
        let mut problems: Vec<String> = subject
            .ledger
            .conflicts()
            .iter()
            .map(|(key, a, b)| {
                format!(
                    "key {}{key} was answered 201 with {a} and with {b}",
                    subject.key_prefix
                )
            })
            .collect();
        let keys = SaleKeys::new(subject.sale);
        let acks: Vec<&Ack> = subject.ledger.acks().collect();
        let mut conn = self.redis.clone();
        for chunk in acks.chunks(1000) {
            let mut pipe = redis::pipe();
            for ack in chunk {
                let user = subject
                    .buyers
                    .get(ack.buyer as usize)
                    .copied()
                    .unwrap_or_default();
                let header = format!("{}{}", subject.key_prefix, ack.key);
                pipe.cmd("GET").arg(keys.idempotency(&user, &header));
            }
            let stored: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
            for (ack, stored) in chunk.iter().zip(stored) {
                let named = stored
                    .as_deref()
                    .and_then(|v| v.split('|').next())
                    .and_then(|id| id.parse::<Uuid>().ok());
                if named != Some(ack.reservation) {
                    problems.push(format!(
                        "key {}{} was answered with {} but Redis maps it to {}",
                        subject.key_prefix,
                        ack.key,
                        ack.reservation,
                        stored.as_deref().unwrap_or("nothing")
                    ));
                }
            }
        }
        Ok(check(
            "each Idempotency-Key maps to exactly one reservation",
            problems,
            format!(
                "{} acknowledged keys, each answered with one reservation, which Redis maps it to",
                acks.len()
            ),
        ))
    }

    /// Every acknowledged reservation has its row. Counters can agree while the recorder still
    /// lags on holds that came and went (created then cancelled or expired: no net change), so
    /// this waits for the rows themselves, up to the drain timeout counted from `started`.
    async fn acknowledged_recorded(
        &self,
        subject: Subject<'_>,
        started: Instant,
    ) -> anyhow::Result<Check> {
        loop {
            let check = self.acknowledged_recorded_now(subject).await?;
            if check.passed || started.elapsed() >= self.drain_timeout {
                return Ok(check);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn acknowledged_recorded_now(&self, subject: Subject<'_>) -> anyhow::Result<Check> {
        let rows: Vec<(Uuid, Uuid, String, i32)> = sqlx::query_as(
            "SELECT reservation_id, user_id, zone_id, quantity FROM reservations WHERE sale_id = $1",
        )
        .bind(subject.sale.as_str())
        .fetch_all(&self.db)
        .await?;
        let recorded: HashMap<Uuid, (Uuid, String, i32)> = rows
            .into_iter()
            .map(|(id, user, zone, quantity)| (id, (user, zone, quantity)))
            .collect();
        let mut problems = Vec::new();
        let mut distinct = HashSet::new();
        for ack in subject.ledger.acks() {
            distinct.insert(ack.reservation);
            let user = subject
                .buyers
                .get(ack.buyer as usize)
                .copied()
                .unwrap_or_default();
            let zone = subject
                .zones
                .get(usize::from(ack.zone))
                .map(String::as_str)
                .unwrap_or_default();
            match recorded.get(&ack.reservation) {
                None => problems.push(format!("reservation {} was acknowledged but never recorded", ack.reservation)),
                Some((u, z, q)) if *u != user || z != zone || *q != i32::from(ack.quantity) => problems.push(format!(
                    "reservation {} was acknowledged to {user} for {} seats in {zone}, recorded for {u}, {q} seats in {z}",
                    ack.reservation, ack.quantity
                )),
                Some(_) => {}
            }
        }
        Ok(check(
            "every acknowledged reservation is recorded",
            problems,
            format!(
                "{} acknowledged reservations among {} recorded, each with its buyer, zone and seats",
                distinct.len(),
                recorded.len()
            ),
        ))
    }

    async fn no_refused_events(&self, sale: &SaleId) -> anyhow::Result<Check> {
        let refused: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM rejected_events WHERE sale_id = $1")
                .bind(sale.as_str())
                .fetch_one(&self.db)
                .await?;
        let problems = if refused == 0 {
            vec![]
        } else {
            vec![format!(
                "{refused} events refused by the database (an oversell reached the recorder)"
            )]
        };
        Ok(check(
            "the database refused no event",
            problems,
            "no event set aside in rejected_events".into(),
        ))
    }
}

fn balanced(snapshot: &Snapshot) -> Check {
    let problems = snapshot
        .live
        .iter()
        .filter(|z| z.available + z.held + z.sold != z.capacity)
        .map(|z| {
            format!(
                "zone {}: available {} + held {} + sold {} != capacity {}",
                z.zone, z.available, z.held, z.sold, z.capacity
            )
        })
        .collect();
    let line = snapshot
        .live
        .iter()
        .map(|z| {
            format!(
                "{} {}+{}+{}={}",
                z.zone, z.available, z.held, z.sold, z.capacity
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    check(
        "available + held + sold == capacity in every zone",
        problems,
        line,
    )
}

fn not_negative(snapshot: &Snapshot) -> Check {
    let mut problems: Vec<String> = snapshot
        .live
        .iter()
        .filter(|z| z.available < 0 || z.held < 0 || z.sold < 0)
        .map(|z| format!("Redis zone {}: {z:?}", z.zone))
        .collect();
    problems.extend(
        snapshot
            .recorded
            .iter()
            .filter(|z| z.held < 0 || z.sold < 0 || z.capacity < 0)
            .map(|z| format!("PostgreSQL zone {}: {z:?}", z.zone_id)),
    );
    if snapshot.live.is_empty() {
        problems.push("the sale has no zones in Redis".into());
    }
    check(
        "no count negative",
        problems,
        "available, held and sold >= 0 in Redis and PostgreSQL".into(),
    )
}

fn acknowledged_within_caps(subject: Subject<'_>, snapshot: &Snapshot) -> Check {
    let caps: HashMap<&str, i64> = snapshot
        .live
        .iter()
        .map(|z| (z.zone.as_str(), z.per_user_cap))
        .collect();
    let mut seats: HashMap<(u32, u16), i64> = HashMap::new();
    for ack in subject.ledger.acks() {
        *seats.entry((ack.buyer, ack.zone)).or_default() += i64::from(ack.quantity);
    }
    let problems = seats
        .iter()
        .filter_map(|((buyer, zone), n)| {
            let zone = subject.zones.get(usize::from(*zone))?;
            let cap = caps.get(zone.as_str()).copied().unwrap_or_default();
            (*n > cap)
                .then(|| format!("buyer {buyer} was acknowledged {n} seats in {zone}, cap {cap}"))
        })
        .collect();
    check(
        "acknowledged seats per buyer within the cap",
        problems,
        format!("{} buyer-zone pairs within their caps", seats.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_made_for_n_keys_takes_them_in_place_and_keeps_later_keys_and_conflicts() {
        let n = 100_000;
        let ack = |key: u64, reservation: u64| Ack {
            key,
            buyer: 0,
            zone: 0,
            quantity: 1,
            reservation: Uuid::from_u64_pair(0, reservation),
        };
        let mut ledger = Ledger::with_capacity(n);
        let room = ledger.made.capacity();
        assert_eq!(ledger.made.len(), n, "every slot is written before the run");
        for key in 0..n as u64 {
            ledger.acknowledge(ack(key, key));
        }
        assert_eq!(ledger.made.capacity(), room, "the table grew mid-run");
        ledger.acknowledge(ack(7, 7));
        ledger.acknowledge(ack(7, 8));
        ledger.acknowledge(ack(u64::MAX, 1));
        ledger.acknowledge(ack(u64::MAX, 2));
        assert_eq!(ledger.len(), n + 1);
        assert_eq!(ledger.acks().count(), n + 1);
        assert_eq!(
            ledger.conflicts(),
            [
                (7, Uuid::from_u64_pair(0, 7), Uuid::from_u64_pair(0, 8)),
                (
                    u64::MAX,
                    Uuid::from_u64_pair(0, 1),
                    Uuid::from_u64_pair(0, 2)
                ),
            ]
        );
        assert!(Ledger::default().is_empty());
    }
}
