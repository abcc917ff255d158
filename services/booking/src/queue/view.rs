//! What a buyer is told about their place in the queue, computed from a reading of Redis (polling)
//! or from the process's feed (server-sent events) in the same way.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    domain::from_ms,
    queue::store::{Ended, Entry, Phase, Summary},
};

/// Where the buyer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Joined before the sale opened; placed in random order with every early joiner at opening.
    PreQueue,
    /// In line.
    Waiting,
    /// Admitted: reserve with the pass before it expires.
    Admitted,
    /// The pass bought a reservation; join again to queue once more.
    PassUsed,
    /// The pass lapsed unused; join again to queue once more.
    PassExpired,
    /// The buyer left the queue.
    Left,
}

/// Where the sale stands, as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    /// The sale has not opened; early joiners wait in the pre-queue.
    OpensLater,
    /// The sale just opened and the pre-queue is being shuffled into line.
    Opening,
    /// Buyers are being admitted.
    Admitting,
    /// Every seat is held or sold: nobody is admitted. Held seats return when unpaid holds
    /// expire, and admission resumes then.
    SoldOut,
    /// The sale is over.
    Closed,
    /// The sale is suspended.
    Suspended,
}

/// A buyer's place in a sale's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    /// Sale.
    pub sale: String,
    /// Where the buyer stands.
    pub state: QueueState,
    /// Place in line, from 1 (waiting only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// Buyers ahead (waiting only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    /// Estimated seconds until admission, from the measured drain rate (waiting while admitting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Buyers waiting in line.
    pub waiting: u64,
    /// Buyers in the pre-queue (before the shuffle at opening).
    pub pre_queue: u64,
    /// Where the sale stands.
    pub sale_status: SaleStatus,
    /// Nothing is left to sell right now (every seat held or sold); admission stops until
    /// unpaid holds expire.
    pub sold_out: bool,
    /// When the sale opens.
    #[serde(with = "time::serde::rfc3339")]
    pub opens_at: OffsetDateTime,
    /// Admissions per second the sale is configured for.
    pub admission_per_second: u32,
    /// Admissions per second measured over the last half minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_per_second: Option<f64>,
    /// The single-use queue pass: send it as `Queue-Pass` with the reservation (admitted only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// When the pass lapses (admitted only).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub pass_expires_at: Option<OffsetDateTime>,
}

/// The sale's status from a summary.
pub fn sale_status(summary: &Summary) -> SaleStatus {
    if summary.suspended {
        SaleStatus::Suspended
    } else if summary.now_ms >= summary.closes_at_ms {
        SaleStatus::Closed
    } else if summary.sold_out {
        SaleStatus::SoldOut
    } else if summary.phase == Phase::Pre || summary.now_ms < summary.opens_at_ms {
        SaleStatus::OpensLater
    } else if summary.phase == Phase::Sealed {
        SaleStatus::Opening
    } else {
        SaleStatus::Admitting
    }
}

/// Admissions per second between the oldest and newest drain samples, once they span 2 s.
pub fn drain_per_second(summary: &Summary) -> Option<f64> {
    let ((from_ms, from), (to_ms, to)) = (summary.drain_oldest?, summary.drain_newest?);
    let span = to_ms - from_ms;
    if span < 2_000 {
        return None;
    }
    let rate = to.saturating_sub(from) as f64 * 1000.0 / span as f64;
    Some((rate * 100.0).round() / 100.0)
}

/// Seconds until a buyer with `ahead` buyers before them is admitted, at the measured drain rate
/// (the configured rate until one is measured); `None` while nobody is being admitted.
pub fn eta_seconds(ahead: u64, summary: &Summary) -> Option<u64> {
    if !matches!(
        sale_status(summary),
        SaleStatus::Admitting | SaleStatus::Opening
    ) {
        return None;
    }
    let rate = drain_per_second(summary)
        .filter(|r| *r > 0.0)
        .unwrap_or(f64::from(summary.rate.max(1)));
    Some(((ahead + 1) as f64 / rate).ceil() as u64)
}

/// Buyers ahead of `ticket`: the tickets between the head and it, minus those whose buyers left
/// (`gaps`, ascending).
pub fn ahead_of(ticket: u64, head: u64, gaps: &[u64]) -> u64 {
    if ticket <= head + 1 {
        return 0;
    }
    let lo = gaps.partition_point(|g| *g <= head);
    let hi = gaps.partition_point(|g| *g < ticket);
    (ticket - head - 1).saturating_sub(hi.saturating_sub(lo) as u64)
}

impl QueueView {
    /// The view of `entry`; `None` for a buyer who never joined.
    pub fn new(sale: &str, entry: &Entry, summary: &Summary) -> Option<Self> {
        let mut view = Self {
            sale: sale.to_owned(),
            state: QueueState::Waiting,
            position: None,
            ahead: None,
            eta_seconds: None,
            waiting: summary.waiting,
            pre_queue: summary.pre_queue,
            sale_status: sale_status(summary),
            sold_out: summary.sold_out,
            opens_at: from_ms(summary.opens_at_ms),
            admission_per_second: summary.rate,
            drain_per_second: drain_per_second(summary),
            pass: None,
            pass_expires_at: None,
        };
        match entry {
            Entry::None(Ended::Never) => return None,
            Entry::None(Ended::Used) => view.state = QueueState::PassUsed,
            Entry::None(Ended::Expired) => view.state = QueueState::PassExpired,
            Entry::None(Ended::Left) => view.state = QueueState::Left,
            Entry::Pre => view.state = QueueState::PreQueue,
            Entry::Waiting { ahead, .. } => {
                view.position = Some(ahead + 1);
                view.ahead = Some(*ahead);
                view.eta_seconds = eta_seconds(*ahead, summary);
            }
            Entry::Admitted {
                pass,
                expires_at_ms,
                ..
            } => {
                view.state = QueueState::Admitted;
                view.pass = Some(pass.clone());
                view.pass_expires_at = Some(from_ms(*expires_at_ms));
            }
        }
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            phase: Phase::Open,
            opens_at_ms: 0,
            closes_at_ms: 10_000_000,
            suspended: false,
            head: 10,
            next: 30,
            waiting: 20,
            pre_queue: 0,
            pre_total: 5,
            sold_out: false,
            gaps_version: 0,
            admitted: 10,
            active: 2,
            rate: 5,
            max_active: 100,
            pass_ttl_ms: 60_000,
            drain_oldest: None,
            drain_newest: None,
            now_ms: 5_000,
        }
    }

    #[test]
    fn buyers_who_left_are_not_counted_ahead() {
        assert_eq!(ahead_of(15, 10, &[]), 4);
        assert_eq!(ahead_of(15, 10, &[3, 10, 12, 15, 20]), 3);
        assert_eq!(ahead_of(11, 10, &[]), 0);
        assert_eq!(ahead_of(9, 10, &[]), 0);
    }

    #[test]
    fn the_eta_uses_the_measured_drain_and_the_configured_rate_until_there_is_one() {
        let mut s = summary();
        assert_eq!(eta_seconds(9, &s), Some(2), "10 buyers at 5/s");
        s.drain_oldest = Some((1_000, 0));
        s.drain_newest = Some((5_000, 8));
        assert_eq!(drain_per_second(&s), Some(2.0));
        assert_eq!(eta_seconds(9, &s), Some(5), "10 buyers at the measured 2/s");
        s.sold_out = true;
        assert_eq!(
            eta_seconds(9, &s),
            None,
            "nobody is admitted while sold out"
        );
        assert_eq!(sale_status(&s), SaleStatus::SoldOut);
    }

    #[test]
    fn the_sale_status_follows_the_phase_and_the_window() {
        let mut s = summary();
        s.phase = Phase::Pre;
        assert_eq!(sale_status(&s), SaleStatus::OpensLater);
        s.phase = Phase::Sealed;
        assert_eq!(sale_status(&s), SaleStatus::Opening);
        s.now_ms = s.closes_at_ms;
        assert_eq!(sale_status(&s), SaleStatus::Closed);
        s.suspended = true;
        assert_eq!(sale_status(&s), SaleStatus::Suspended);
    }

    #[test]
    fn a_waiting_view_has_a_position_and_an_admitted_one_a_pass() {
        let s = summary();
        let waiting = QueueView::new(
            "demo",
            &Entry::Waiting {
                ticket: 15,
                ahead: 4,
            },
            &s,
        )
        .unwrap();
        assert_eq!((waiting.position, waiting.ahead), (Some(5), Some(4)));
        assert!(waiting.pass.is_none());
        let admitted = QueueView::new(
            "demo",
            &Entry::Admitted {
                ticket: 3,
                pass: "p".into(),
                expires_at_ms: 60_000,
            },
            &s,
        )
        .unwrap();
        assert_eq!(admitted.state, QueueState::Admitted);
        assert_eq!(admitted.pass.as_deref(), Some("p"));
        assert!(QueueView::new("demo", &Entry::None(Ended::Never), &s).is_none());
        let json = serde_json::to_value(&waiting).unwrap();
        assert_eq!(json["state"], "waiting");
        assert_eq!(json["saleStatus"], "admitting");
        assert!(json.get("pass").is_none());
    }
}
