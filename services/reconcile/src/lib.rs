//! Reconciliation of one sale: every captured payment ends in exactly one confirmed booking or
//! exactly one refund, every confirmed booking rests on a captured payment of the same amount,
//! Redis keeps available + held + sold == capacity, PostgreSQL agrees with Redis, and every
//! capture no payment stands for (an orphan charge) has been refunded. It reads
//! booking's and payment's records through their own store functions and changes nothing.

use std::{
    collections::HashMap,
    fmt,
    time::{Duration, Instant},
};

use booking::{inventory::Inventory, store::ReservationRow};
use payment::{domain::PaymentStatus, store::PaymentRow};
use serde::Serialize;
use shared::ids::SaleId;
use sqlx::PgPool;
use uuid::Uuid;

/// Where the records are.
#[derive(Clone)]
pub struct Sources {
    /// Booking's schema.
    pub booking: PgPool,
    /// Payment's schema.
    pub payment: PgPool,
    /// The live inventory in Redis.
    pub inventory: Inventory,
}

/// One thing that does not add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// What it is about (`zone a`, `payment <id>`, `reservation <id>`).
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// Totals seen, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Payments of the sale.
    pub payments: usize,
    /// Payments captured and kept.
    pub captured: usize,
    /// Payments refunded.
    pub refunded: usize,
    /// Payments declined (no money moved).
    pub failed: usize,
    /// Reservations recorded.
    pub reservations: usize,
    /// Reservations confirmed.
    pub confirmed: usize,
    /// Seats sold per Redis.
    pub seats_sold: i64,
    /// Money kept, minor units.
    pub captured_minor: i64,
    /// Money returned, minor units.
    pub refunded_minor: i64,
    /// Captures no payment stood for, refunded.
    pub orphans_refunded: usize,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The sale.
    pub sale: String,
    /// What was counted.
    pub totals: Totals,
    /// Everything that does not add up; empty when the sale reconciles.
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    /// Whether the sale reconciles.
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        writeln!(
            f,
            "sale {}: {} payments ({} captured, {} refunded, {} declined), {} reservations ({} confirmed), {} seats sold",
            self.sale,
            t.payments,
            t.captured,
            t.refunded,
            t.failed,
            t.reservations,
            t.confirmed,
            t.seats_sold
        )?;
        if self.discrepancies.is_empty() {
            write!(f, "reconciled: 0 discrepancies")
        } else {
            writeln!(f, "{} discrepancies:", self.discrepancies.len())?;
            for d in &self.discrepancies {
                writeln!(f, "  - {d}")?;
            }
            Ok(())
        }
    }
}

struct Findings(Vec<Discrepancy>);

impl Findings {
    fn add(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Discrepancy {
            subject: subject.into(),
            problem: problem.into(),
        });
    }
}

/// Reconciles `sale` once, as it is now.
pub async fn reconcile(sources: &Sources, sale: &SaleId) -> anyhow::Result<Report> {
    let mut findings = Findings(Vec::new());
    let mut totals = Totals::default();

    let live = sources
        .inventory
        .availability(sale)
        .await?
        .unwrap_or_default();
    let recorded = booking::store::zone_totals(&sources.booking, sale).await?;
    if live.is_empty() {
        findings.add(format!("sale {sale}"), "no inventory in Redis");
    }
    for zone in &live {
        let subject = format!("zone {}", zone.zone);
        totals.seats_sold += zone.sold;
        if zone.available + zone.held + zone.sold != zone.capacity {
            findings.add(
                &subject,
                format!(
                    "Redis: available {} + held {} + sold {} != capacity {}",
                    zone.available, zone.held, zone.sold, zone.capacity
                ),
            );
        }
        if zone.available < 0 || zone.held < 0 || zone.sold < 0 {
            findings.add(&subject, format!("Redis: a negative count: {zone:?}"));
        }
        match recorded.iter().find(|r| r.zone_id == zone.zone) {
            None => findings.add(&subject, "not recorded in PostgreSQL"),
            Some(r) => {
                if (i64::from(r.held), i64::from(r.sold)) != (zone.held, zone.sold) {
                    findings.add(
                        &subject,
                        format!(
                            "PostgreSQL held {} sold {}, Redis held {} sold {}",
                            r.held, r.sold, zone.held, zone.sold
                        ),
                    );
                }
                if (r.held_rows, r.sold_rows) != (i64::from(r.held), i64::from(r.sold)) {
                    findings.add(
                        &subject,
                        format!(
                            "PostgreSQL counters held {} sold {}, reservations held {} sold {}",
                            r.held, r.sold, r.held_rows, r.sold_rows
                        ),
                    );
                }
            }
        }
    }

    let reservations = booking::store::reservations_of_sale(&sources.booking, sale).await?;
    let payments = payment::store::payments_of_sale(&sources.payment, sale).await?;
    totals.reservations = reservations.len();
    totals.payments = payments.len();
    let by_reservation: HashMap<Uuid, &ReservationRow> =
        reservations.iter().map(|r| (r.reservation_id, r)).collect();
    let by_payment: HashMap<Uuid, &PaymentRow> =
        payments.iter().map(|p| (p.payment_id, p)).collect();

    for payment in &payments {
        check_payment(
            payment,
            by_reservation.get(&payment.reservation_id).copied(),
            &mut totals,
            &mut findings,
        );
    }
    for reservation in &reservations {
        check_reservation(reservation, &by_payment, &mut totals, &mut findings);
    }
    for orphan in payment::store::orphans_of_sale(&sources.payment, sale).await? {
        if orphan.refunded_at.is_some() {
            totals.orphans_refunded += 1;
            totals.refunded_minor += orphan.amount_minor;
        } else {
            findings.add(
                format!("charge {}", orphan.charge_id),
                format!(
                    "the PSP captured {} {} for payment {} that no payment stands for ({}); not refunded yet",
                    orphan.amount_minor, orphan.currency, orphan.payment_id, orphan.reason
                ),
            );
        }
    }
    Ok(Report {
        sale: sale.to_string(),
        totals,
        discrepancies: findings.0,
    })
}

fn check_payment(
    payment: &PaymentRow,
    reservation: Option<&ReservationRow>,
    totals: &mut Totals,
    findings: &mut Findings,
) {
    let subject = format!("payment {}", payment.payment_id);
    let confirmed_by_it = reservation
        .is_some_and(|r| r.status == "confirmed" && r.payment_id == Some(payment.payment_id));
    match payment.status() {
        PaymentStatus::Captured => {
            totals.captured += 1;
            totals.captured_minor += payment.amount_minor;
            if !confirmed_by_it {
                let seen = reservation.map_or("not recorded".to_owned(), |r| {
                    format!("{} (payment {:?})", r.status, r.payment_id)
                });
                findings.add(
                    &subject,
                    format!(
                        "captured but neither confirmed nor refunded; reservation {} is {seen}",
                        payment.reservation_id
                    ),
                );
            }
            if let Some(r) = reservation.filter(|r| r.amount_minor != payment.amount_minor) {
                findings.add(
                    &subject,
                    format!(
                        "captured {} {} for a reservation of {} {}",
                        payment.amount_minor, payment.currency, r.amount_minor, r.currency
                    ),
                );
            }
        }
        PaymentStatus::Refunded => {
            totals.refunded += 1;
            totals.refunded_minor += payment.amount_minor;
            if confirmed_by_it {
                findings.add(
                    &subject,
                    "refunded, yet its booking still counts the seats as sold",
                );
            }
        }
        PaymentStatus::RefundPending => {
            findings.add(&subject, "refund due but not settled by the PSP");
        }
        PaymentStatus::Pending | PaymentStatus::Authorized => {
            findings.add(
                &subject,
                format!("still {} at the PSP", payment.status().as_str()),
            );
        }
        PaymentStatus::Failed => totals.failed += 1,
    }
}

fn check_reservation(
    reservation: &ReservationRow,
    payments: &HashMap<Uuid, &PaymentRow>,
    totals: &mut Totals,
    findings: &mut Findings,
) {
    let subject = format!("reservation {}", reservation.reservation_id);
    let paid_by = reservation
        .payment_id
        .and_then(|id| payments.get(&id).copied());
    match reservation.status.as_str() {
        "confirmed" => {
            totals.confirmed += 1;
            match paid_by {
                Some(p)
                    if p.status() == PaymentStatus::Captured
                        && p.reservation_id == reservation.reservation_id => {}
                Some(p) => findings.add(
                    &subject,
                    format!(
                        "confirmed by payment {} which is {}",
                        p.payment_id,
                        p.status().as_str()
                    ),
                ),
                None => findings.add(
                    &subject,
                    format!(
                        "confirmed without a recorded payment ({:?})",
                        reservation.payment_id
                    ),
                ),
            }
        }
        "refunded" => match paid_by {
            Some(p) if p.status() == PaymentStatus::Refunded => {}
            other => findings.add(
                &subject,
                format!(
                    "seats returned as refunded, but its payment is {}",
                    other.map_or("missing", |p| p.status().as_str())
                ),
            ),
        },
        _ => {}
    }
}

/// Reconciles until the sale is clean or `wait` has passed (events and webhooks in flight
/// settle meanwhile), and returns the last report.
pub async fn settled(sources: &Sources, sale: &SaleId, wait: Duration) -> anyhow::Result<Report> {
    let deadline = Instant::now() + wait;
    loop {
        let report = reconcile(sources, sale).await?;
        if report.is_clean() || Instant::now() >= deadline {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
