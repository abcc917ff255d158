//! Status and phase computed from what the reconciler observed: pure functions, so every rule
//! about phases and conditions is tested without a cluster.

use std::{collections::HashMap, time::Duration};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use time::OffsetDateTime;

use crate::{
    crd::{FlashSale, FlashSaleStatus, Phase, ZoneInventory},
    resources::Workload,
};

/// Condition: the sale serves buyers (inventory, topics and workloads all ready).
pub const READY: &str = "Ready";
/// Condition: every zone of the spec is seeded in Redis with the spec's capacity.
pub const INVENTORY_READY: &str = "InventoryReady";
/// Condition: both topics exist with at least the spec's partitions.
pub const TOPICS_READY: &str = "TopicsReady";
/// Condition: booking and payment each have an available pod.
pub const WORKLOADS_READY: &str = "WorkloadsReady";

/// A failure to report: a bounded reason and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

impl Problem {
    /// A problem with this reason and message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Replica counts of one workload's Deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkloadState {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods that are ready.
    pub ready: i32,
    /// Pods available (ready for minReadySeconds).
    pub available: i32,
}

/// Everything one reconciliation observed.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The time of the observation.
    pub now: OffsetDateTime,
    /// Why the spec cannot be acted on, if it cannot.
    pub invalid: Option<Problem>,
    /// The outcome of provisioning in this reconciliation, if it ran.
    pub provisioned: Option<Result<(), Problem>>,
    /// Inventory read back from Redis.
    pub inventory: Result<Vec<ZoneInventory>, Problem>,
    /// Partitions per existing topic.
    pub topics: Result<HashMap<String, usize>, Problem>,
    /// The booking Deployment.
    pub booking: WorkloadState,
    /// The payment Deployment.
    pub payment: WorkloadState,
}

fn condition(kind: &str, ok: Result<&'static str, &Problem>, generation: Option<i64>) -> Condition {
    let (status, reason, message) = match ok {
        Ok(reason) => ("True", reason, String::new()),
        Err(problem) => ("False", problem.reason, problem.message.clone()),
    };
    Condition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

fn inventory_condition(fs: &FlashSale, observed: &Observed) -> Result<&'static str, Problem> {
    if let Some(Err(problem)) = &observed.provisioned
        && matches!(
            problem.reason,
            "SeatsBelowCommitted" | "InvalidSpec" | "RedisUnavailable"
        )
    {
        return Err(problem.clone());
    }
    let zones = observed.inventory.as_ref().map_err(Clone::clone)?;
    let missing: Vec<String> = fs
        .spec
        .sale
        .zones
        .iter()
        .filter(|want| {
            !zones
                .iter()
                .any(|have| have.zone == want.id.as_str() && have.capacity == i64::from(want.seats))
        })
        .map(|z| z.id.to_string())
        .collect();
    if missing.is_empty() {
        Ok("Seeded")
    } else {
        Err(Problem::new(
            "NotSeeded",
            format!(
                "zones not seeded with the spec's seats: {}",
                missing.join(", ")
            ),
        ))
    }
}

fn topics_condition(fs: &FlashSale, observed: &Observed) -> Result<&'static str, Problem> {
    if let Some(Err(problem)) = &observed.provisioned
        && matches!(problem.reason, "KafkaUnavailable" | "TopicsRefused")
    {
        return Err(problem.clone());
    }
    let topics = observed.topics.as_ref().map_err(Clone::clone)?;
    let want = usize::from(fs.spec.sale.partitions);
    let short: Vec<String> = fs
        .spec
        .sale
        .topics()
        .into_iter()
        .filter(|t| topics.get(t).is_none_or(|&n| n < want))
        .collect();
    if short.is_empty() {
        Ok("Created")
    } else {
        Err(Problem::new(
            "TopicsMissing",
            format!(
                "topics missing or with fewer than {want} partitions: {}",
                short.join(", ")
            ),
        ))
    }
}

fn workloads_condition(fs: &FlashSale, observed: &Observed) -> Result<&'static str, Problem> {
    if fs.spec.suspend {
        return Err(Problem::new(
            "Suspended",
            "spec.suspend scales the workloads to zero",
        ));
    }
    if observed.booking.available > 0 && observed.payment.available > 0 {
        Ok("Available")
    } else {
        Err(Problem::new(
            "Progressing",
            format!(
                "ready pods: booking {}/{}, payment {}/{}",
                observed.booking.ready,
                observed.booking.replicas,
                observed.payment.ready,
                observed.payment.replicas
            ),
        ))
    }
}

fn ready_condition(
    inventory: &Result<&'static str, Problem>,
    topics: &Result<&'static str, Problem>,
    workloads: &Result<&'static str, Problem>,
) -> Result<&'static str, Problem> {
    for part in [inventory, topics, workloads] {
        if let Err(problem) = part {
            return Err(problem.clone());
        }
    }
    Ok("SaleReady")
}

fn is_unreachable(problem: &Problem) -> bool {
    matches!(
        problem.reason,
        "RedisUnavailable" | "KafkaUnavailable" | "BackendTimeout"
    )
}

/// The phase, from the spec, the previous status and what was observed.
pub fn phase(
    fs: &FlashSale,
    observed: &Observed,
    previous: Option<&FlashSaleStatus>,
    backend: &Result<&'static str, Problem>,
    workloads: &Result<&'static str, Problem>,
    zones: &[ZoneInventory],
) -> Phase {
    let sale = &fs.spec.sale;
    if observed.invalid.is_some() {
        return Phase::Failed;
    }
    if fs.spec.suspend {
        return Phase::Suspended;
    }
    if observed.now >= sale.ends_at {
        return Phase::Ended;
    }
    let bringing_up = previous.is_none_or(|s| {
        matches!(
            s.phase,
            Phase::Pending | Phase::Provisioning | Phase::Failed | Phase::Suspended
        )
    });
    if bringing_up {
        if let Err(problem) = backend {
            let never_provisioned = previous.is_none_or(|s| s.provisioned_generation.is_none());
            return if never_provisioned && is_unreachable(problem) {
                Phase::Pending
            } else {
                Phase::Provisioning
            };
        }
        if workloads.is_err() {
            return Phase::Provisioning;
        }
    }
    if observed.now < sale.starts_at {
        return Phase::Scheduled;
    }
    if !zones.is_empty() && zones.iter().all(|z| z.available <= 0) {
        return Phase::SoldOut;
    }
    Phase::Live
}

/// The status to write: conditions keep their transition time while their status is unchanged.
pub fn compute(
    fs: &FlashSale,
    observed: &Observed,
    provisioned_generation: Option<i64>,
) -> FlashSaleStatus {
    let previous = fs.status.as_ref();
    let generation = fs.metadata.generation;
    let sale = fs.spec.sale.sale_id.as_str();
    let mut status = FlashSaleStatus {
        observed_generation: generation,
        provisioned_generation,
        booking_replicas: observed.booking.replicas,
        booking_ready_replicas: observed.booking.ready,
        payment_replicas: observed.payment.replicas,
        payment_ready_replicas: observed.payment.ready,
        selector: Some(Workload::Booking.selector_string(sale)),
        ..FlashSaleStatus::default()
    };
    // A failed read keeps the last inventory seen rather than blanking it.
    status.zones = match &observed.inventory {
        Ok(zones) => zones.clone(),
        Err(_) => previous.map(|s| s.zones.clone()).unwrap_or_default(),
    };
    if !status.zones.is_empty() {
        let sold: i64 = status.zones.iter().map(|z| z.sold).sum();
        let capacity: i64 = status.zones.iter().map(|z| z.capacity).sum();
        status.sold_of_capacity = Some(format!("{sold}/{capacity}"));
    }

    let conditions = if let Some(problem) = &observed.invalid {
        status.phase = Phase::Failed;
        vec![condition(READY, Err(problem), generation)]
    } else {
        let inventory = inventory_condition(fs, observed);
        let topics = topics_condition(fs, observed);
        let workloads = workloads_condition(fs, observed);
        let ready = ready_condition(&inventory, &topics, &workloads);
        let backend = match (&inventory, &topics) {
            (Err(p), _) | (_, Err(p)) => Err(p.clone()),
            _ => Ok("Provisioned"),
        };
        status.phase = phase(fs, observed, previous, &backend, &workloads, &status.zones);
        vec![
            condition(READY, ready.as_ref().copied(), generation),
            condition(INVENTORY_READY, inventory.as_ref().copied(), generation),
            condition(TOPICS_READY, topics.as_ref().copied(), generation),
            condition(WORKLOADS_READY, workloads.as_ref().copied(), generation),
        ]
    };
    status.conditions = conditions
        .into_iter()
        .map(|mut c| {
            c.last_transition_time = previous
                .and_then(|s| s.conditions.iter().find(|p| p.type_ == c.type_))
                .filter(|p| p.status == c.status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| Time(to_timestamp(observed.now)));
            c
        })
        .collect();
    status
}

fn to_timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// How long until the sale next changes phase by the clock, if it still will.
pub fn until_next_transition(fs: &FlashSale, now: OffsetDateTime) -> Option<Duration> {
    let sale = &fs.spec.sale;
    [sale.starts_at, sale.ends_at]
        .into_iter()
        .find(|t| *t > now)
        .and_then(|t| Duration::try_from(t - now).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn zone(zone: &str, capacity: i64, available: i64, held: i64, sold: i64) -> ZoneInventory {
        ZoneInventory {
            zone: zone.into(),
            capacity,
            available,
            held,
            sold,
        }
    }

    fn seeded() -> Vec<ZoneInventory> {
        vec![zone("floor", 100, 90, 4, 6), zone("vip", 10, 10, 0, 0)]
    }

    fn topics(fs: &FlashSale, partitions: usize) -> HashMap<String, usize> {
        fs.spec
            .sale
            .topics()
            .into_iter()
            .map(|t| (t, partitions))
            .collect()
    }

    fn running() -> WorkloadState {
        WorkloadState {
            replicas: 2,
            ready: 2,
            available: 2,
        }
    }

    /// A healthy observation of `fs` at `now`.
    fn healthy(fs: &FlashSale, now: OffsetDateTime) -> Observed {
        Observed {
            now,
            invalid: None,
            provisioned: Some(Ok(())),
            inventory: Ok(seeded()),
            topics: Ok(topics(fs, 2)),
            booking: running(),
            payment: running(),
        }
    }

    const DURING: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    fn cond<'a>(status: &'a FlashSaleStatus, kind: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == kind).unwrap()
    }

    #[test]
    fn a_healthy_sale_in_its_window_is_live_and_ready() {
        let fs = FlashSale::test("spring");
        let status = compute(&fs, &healthy(&fs, DURING), Some(1));
        assert_eq!(status.phase, Phase::Live);
        for kind in [READY, INVENTORY_READY, TOPICS_READY, WORKLOADS_READY] {
            assert_eq!(cond(&status, kind).status, "True", "{kind}");
        }
        assert_eq!(status.sold_of_capacity.as_deref(), Some("6/110"));
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(status.provisioned_generation, Some(1));
        assert_eq!(
            (status.booking_replicas, status.booking_ready_replicas),
            (2, 2)
        );
        assert_eq!(
            status.selector.as_deref(),
            Some("app.kubernetes.io/component=booking,booking-rush.dev/sale=spring")
        );
    }

    #[test]
    fn before_the_window_a_ready_sale_is_scheduled_and_after_it_ended() {
        let fs = FlashSale::test("spring");
        let before = compute(&fs, &healthy(&fs, datetime!(2019-06-01 00:00 UTC)), Some(1));
        assert_eq!(before.phase, Phase::Scheduled);
        let after = compute(&fs, &healthy(&fs, datetime!(2099-01-01 00:00 UTC)), Some(1));
        assert_eq!(after.phase, Phase::Ended, "the end is inclusive");
    }

    #[test]
    fn no_seat_left_anywhere_is_sold_out() {
        let fs = FlashSale::test("spring");
        let mut observed = healthy(&fs, DURING);
        observed.inventory = Ok(vec![
            zone("floor", 100, 0, 3, 97),
            zone("vip", 10, 0, 0, 10),
        ]);
        let status = compute(&fs, &observed, Some(1));
        assert_eq!(status.phase, Phase::SoldOut);
        assert_eq!(status.sold_of_capacity.as_deref(), Some("107/110"));
    }

    #[test]
    fn an_invalid_spec_fails_with_only_a_ready_condition() {
        let fs = FlashSale::test("spring");
        let mut observed = healthy(&fs, DURING);
        observed.invalid = Some(Problem::new(
            "InvalidSpec",
            "zones[2].id: duplicate zone id",
        ));
        let status = compute(&fs, &observed, None);
        assert_eq!(status.phase, Phase::Failed);
        assert_eq!(status.conditions.len(), 1);
        let ready = cond(&status, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(ready.message.contains("duplicate zone id"));
    }

    #[test]
    fn suspension_wins_over_the_clock() {
        let fs = FlashSale::test("spring").suspended();
        let status = compute(&fs, &healthy(&fs, DURING), Some(1));
        assert_eq!(status.phase, Phase::Suspended);
        assert_eq!(cond(&status, WORKLOADS_READY).reason, "Suspended");
        assert_eq!(cond(&status, READY).status, "False");
    }

    #[test]
    fn an_unreachable_backend_before_any_provisioning_is_pending() {
        let fs = FlashSale::test("spring");
        let mut observed = healthy(&fs, DURING);
        let down = Problem::new("RedisUnavailable", "redis: connection refused");
        observed.provisioned = Some(Err(down.clone()));
        observed.inventory = Err(down);
        let status = compute(&fs, &observed, None);
        assert_eq!(status.phase, Phase::Pending);
        assert_eq!(cond(&status, INVENTORY_READY).reason, "RedisUnavailable");
        assert_eq!(cond(&status, READY).reason, "RedisUnavailable");
    }

    #[test]
    fn workloads_not_yet_available_keep_a_new_sale_provisioning() {
        let fs = FlashSale::test("spring");
        let mut observed = healthy(&fs, DURING);
        observed.booking = WorkloadState {
            replicas: 2,
            ready: 0,
            available: 0,
        };
        let status = compute(&fs, &observed, Some(1));
        assert_eq!(status.phase, Phase::Provisioning);
        let workloads = cond(&status, WORKLOADS_READY);
        assert_eq!(workloads.reason, "Progressing");
        assert_eq!(workloads.message, "ready pods: booking 0/2, payment 2/2");
    }

    #[test]
    fn a_live_sale_stays_live_through_a_redis_outage_with_its_last_inventory() {
        let fs = FlashSale::test("spring");
        let live = compute(&fs, &healthy(&fs, DURING), Some(1));
        let fs = fs.with_status(live);
        let mut observed = healthy(&fs, DURING);
        observed.provisioned = None;
        observed.inventory = Err(Problem::new("RedisUnavailable", "redis: timed out"));
        let status = compute(&fs, &observed, Some(1));
        assert_eq!(status.phase, Phase::Live);
        assert_eq!(status.zones, seeded(), "the last inventory seen is kept");
        assert_eq!(cond(&status, READY).status, "False");
    }

    #[test]
    fn refused_seat_reduction_is_a_condition_not_a_failure() {
        let fs = FlashSale::test("spring");
        let live = compute(&fs, &healthy(&fs, DURING), Some(1));
        let fs = fs.with_status(live).with_first_zone_seats(5);
        let mut observed = healthy(&fs, DURING);
        observed.provisioned = Some(Err(Problem::new(
            "SeatsBelowCommitted",
            "seats below held + sold in zone(s): floor has 10 held or sold",
        )));
        let status = compute(&fs, &observed, Some(1));
        assert_eq!(status.phase, Phase::Live);
        let inventory = cond(&status, INVENTORY_READY);
        assert_eq!(
            (inventory.status.as_str(), inventory.reason.as_str()),
            ("False", "SeatsBelowCommitted")
        );
        assert_eq!(status.provisioned_generation, Some(1));
        assert_eq!(status.observed_generation, Some(2));
    }

    #[test]
    fn missing_zones_and_short_topics_are_named() {
        let fs = FlashSale::test("spring");
        let mut observed = healthy(&fs, DURING);
        observed.inventory = Ok(vec![zone("floor", 100, 100, 0, 0)]);
        observed.topics = Ok(topics(&fs, 1));
        let status = compute(&fs, &observed, Some(1));
        assert_eq!(
            cond(&status, INVENTORY_READY).message,
            "zones not seeded with the spec's seats: vip"
        );
        assert!(
            cond(&status, TOPICS_READY)
                .message
                .contains("sale.spring.bookings")
        );
        assert_eq!(status.phase, Phase::Provisioning);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let fs = FlashSale::test("spring");
        let first = compute(&fs, &healthy(&fs, DURING), Some(1));
        let fs = fs.with_status(first.clone());
        let later = DURING + time::Duration::hours(1);
        let second = compute(&fs, &healthy(&fs, later), Some(1));
        assert_eq!(first, second, "nothing changed, so nothing is written");
        let mut observed = healthy(&fs, later);
        observed.payment.available = 0;
        let third = compute(&fs, &observed, Some(1));
        assert_ne!(
            cond(&third, WORKLOADS_READY).last_transition_time,
            cond(&first, WORKLOADS_READY).last_transition_time
        );
        assert_eq!(
            cond(&third, TOPICS_READY).last_transition_time,
            cond(&first, TOPICS_READY).last_transition_time
        );
    }

    #[test]
    fn the_next_transition_is_the_next_boundary_of_the_window() {
        let fs = FlashSale::test("spring");
        let start = fs.spec.sale.starts_at;
        let end = fs.spec.sale.ends_at;
        assert_eq!(
            until_next_transition(&fs, start - time::Duration::seconds(90)),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            until_next_transition(&fs, end - time::Duration::seconds(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(until_next_transition(&fs, end), None);
    }
}
