//! The scenarios, modelled on real flash sales, and what each one sends, sells and promises.

use serde::{Deserialize, Serialize};
use shared::ids::SaleId;

use crate::{
    audit::Expectation,
    sale::{DEFAULT_PARTITIONS, MAX_ZONE_SEATS, PRICE_MINOR, QueueShape, SaleShape},
    schedule::Profile,
    workload::{MAX_QUANTITY, Mix},
};

/// A load scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum Scenario {
    /// A few seconds at a low rate into a small sale that sells out.
    Smoke,
    /// The rate rising linearly from `--from-rate` to `--rate`.
    Ramp,
    /// `--rate` requests per second for `--duration` seconds.
    Sustained,
    /// A base rate with a burst to `--spike-rate` in the middle.
    Spike,
    /// `--buyers` buyers arriving at once for `--capacity` seats.
    Herd,
    /// Retries with the same Idempotency-Key, reused keys, cancels, holds abandoned to expire.
    Dirty,
    /// A flash sale behind its queue: `--buyers` join (before opening: the pre-queue, shuffled
    /// at opening), wait to be admitted (server-sent events, or `--wait poll`) and reserve with
    /// their pass; buyers told the sale sold out leave.
    Queued,
}

/// How queued buyers learn they are admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum WaitMode {
    /// The queue's server-sent event stream.
    #[default]
    Sse,
    /// Polling the queue status.
    Poll,
}

impl WaitMode {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sse => "server-sent events",
            Self::Poll => "polling",
        }
    }
}

/// What a queued run adds to its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuePlan {
    /// How buyers wait.
    pub wait: WaitMode,
    /// The first admitted buyer and every this many after it first try to reserve without
    /// their pass (which must be refused).
    pub probe_every: usize,
}

impl Scenario {
    /// The name used in sale ids and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Ramp => "ramp",
            Self::Sustained => "sustained",
            Self::Spike => "spike",
            Self::Herd => "herd",
            Self::Dirty => "dirty",
            Self::Queued => "queued",
        }
    }
}

/// Settings a user may override; unset ones take the scenario's defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Knobs {
    /// Requests per second (the final rate of a ramp, the base rate of a spike).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of arrivals.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Starting rate of a ramp.
    #[arg(long)]
    pub from_rate: Option<f64>,
    /// Rate during a spike.
    #[arg(long)]
    pub spike_rate: Option<f64>,
    /// When the spike starts, seconds into the run.
    #[arg(long)]
    pub spike_at: Option<f64>,
    /// How long the spike lasts, seconds.
    #[arg(long)]
    pub spike_seconds: Option<f64>,
    /// Seconds over which a herd arrives (0: the same instant).
    #[arg(long)]
    pub spread: Option<f64>,
    /// Buyers (accounts made through auth).
    #[arg(long)]
    pub buyers: Option<usize>,
    /// Seats per zone (default: enough that the run never runs out, except smoke and herd).
    #[arg(long)]
    pub capacity: Option<u32>,
    /// Zones.
    #[arg(long)]
    pub zones: Option<u16>,
    /// Per-user cap of each zone.
    #[arg(long)]
    pub per_user_cap: Option<u32>,
    /// Seats per reservation.
    #[arg(long)]
    pub quantity: Option<u8>,
    /// Hold TTL of the sale, seconds.
    #[arg(long)]
    pub hold_ttl: Option<u32>,
    /// Partitions of the sale's topics (default 1: one booking process consumes them).
    #[arg(long)]
    pub partitions: Option<u16>,
    /// Queued: buyers the queue admits per second.
    #[arg(long)]
    pub admission_rate: Option<u32>,
    /// Queued: most buyers admitted but not yet reserved at once.
    #[arg(long)]
    pub max_active: Option<u32>,
    /// Queued: seconds a queue pass lives.
    #[arg(long)]
    pub pass_ttl: Option<u32>,
    /// Queued: seconds after provisioning the sale opens (joins before it enter the pre-queue).
    #[arg(long)]
    pub opens_in: Option<u32>,
    /// Queued: how buyers wait for admission.
    #[arg(long, value_enum)]
    pub wait: Option<WaitMode>,
}

/// Everything a scenario decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The scenario.
    pub scenario: Scenario,
    /// Offered load.
    pub profile: Profile,
    /// The sale.
    pub sale: SaleShape,
    /// What arrivals do.
    pub mix: Mix,
    /// Buyers.
    pub buyers: usize,
    /// Refusals a fresh reservation may meet without it counting as an error.
    pub expected: Vec<String>,
    /// Promises the audit checks.
    pub expectations: Vec<Expectation>,
    /// The queue part of a queued run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueuePlan>,
}

impl Plan {
    /// The expected refusal codes as static strings (the only ones a plan uses).
    pub fn expected_codes(&self) -> Vec<&'static str> {
        ["sold_out", "per_user_cap_reached", "queue_pass_required"]
            .into_iter()
            .filter(|code| self.expected.iter().any(|e| e == code))
            .collect()
    }
}

/// Seats a herd of `buyers` (one reservation of `quantity` each, buyer `i` in zone `i % zones`)
/// takes from `zones` zones of `seats`.
fn herd_taken(buyers: u64, zones: u16, seats: u32, quantity: u8, cap: u32) -> u64 {
    if u32::from(quantity) > cap {
        return 0;
    }
    let zones = u64::from(zones);
    (0..zones)
        .map(|z| {
            let in_zone = buyers / zones + u64::from(z < buyers % zones);
            let fits = u64::from(seats) / u64::from(quantity);
            in_zone.min(fits) * u64::from(quantity)
        })
        .sum()
}

/// Spare seats on top of what a run can take, so throughput runs never sell out.
const HEADROOM: f64 = 1.1;

impl Scenario {
    /// The plan of this scenario with `knobs` applied, for a sale named `sale_id`.
    pub fn plan(self, knobs: &Knobs, sale_id: SaleId) -> Result<Plan, String> {
        let quantity = knobs.quantity.unwrap_or(1);
        if quantity == 0 || quantity > MAX_QUANTITY {
            return Err(format!("--quantity must be 1 to {MAX_QUANTITY}"));
        }
        let rate = |default: f64| knobs.rate.unwrap_or(default);
        let duration = |default: f64| knobs.duration.unwrap_or(default);
        let (profile, mix, buyers, hold_ttl) = match self {
            Self::Smoke => (
                Profile::Constant {
                    rate: rate(50.0),
                    seconds: duration(3.0),
                },
                Mix::plain(quantity),
                10,
                600,
            ),
            Self::Sustained => (
                Profile::Constant {
                    rate: rate(1000.0),
                    seconds: duration(10.0),
                },
                Mix::plain(quantity),
                1000,
                3600,
            ),
            Self::Ramp => {
                let to = rate(2000.0);
                (
                    Profile::Ramp {
                        from: knobs.from_rate.unwrap_or(to / 10.0),
                        to,
                        seconds: duration(20.0),
                    },
                    Mix::plain(quantity),
                    1000,
                    3600,
                )
            }
            Self::Spike => {
                let base = rate(500.0);
                let seconds = duration(15.0);
                (
                    Profile::Spike {
                        rate: base,
                        spike_rate: knobs.spike_rate.unwrap_or(base * 5.0),
                        spike_at: knobs.spike_at.unwrap_or(seconds / 3.0),
                        spike_seconds: knobs.spike_seconds.unwrap_or((seconds / 6.0).max(1.0)),
                        seconds,
                    },
                    Mix::plain(quantity),
                    1000,
                    3600,
                )
            }
            Self::Herd => {
                let buyers = knobs.buyers.unwrap_or(1000);
                (
                    Profile::Burst {
                        count: buyers as u64,
                        spread_seconds: knobs.spread.unwrap_or(0.0),
                    },
                    Mix::plain(quantity),
                    buyers,
                    600,
                )
            }
            Self::Dirty => (
                Profile::Constant {
                    rate: rate(200.0),
                    seconds: duration(10.0),
                },
                Mix {
                    retry: 0.15,
                    conflict: 0.05,
                    cancel: 0.15,
                    min_quantity: 1,
                    max_quantity: quantity.max(2),
                },
                100,
                5,
            ),
            Self::Queued => {
                let buyers = knobs.buyers.unwrap_or(1000);
                (
                    Profile::Burst {
                        count: buyers as u64,
                        spread_seconds: knobs.spread.unwrap_or(1.0),
                    },
                    Mix::plain(quantity),
                    buyers,
                    600,
                )
            }
        };
        profile.validate()?;
        let buyers = knobs.buyers.unwrap_or(buyers);
        if buyers == 0 {
            return Err("--buyers must be at least 1".into());
        }
        let arrivals = profile.arrivals().count() as u64;
        let seats_wanted = arrivals * u64::from(mix.max_quantity);
        let (zones, seats_per_zone, cap, expected, expectations) = match self {
            Self::Smoke => {
                let seats = knobs.capacity.unwrap_or(100);
                let wanted = seats_wanted.min(u64::from(seats));
                (
                    1,
                    seats,
                    knobs.per_user_cap.unwrap_or(seats),
                    vec!["sold_out"],
                    vec![
                        Expectation::AcknowledgedWithinCaps,
                        Expectation::SeatsTaken(wanted as i64),
                    ],
                )
            }
            Self::Herd => {
                let seats = knobs.capacity.unwrap_or(250);
                let zones = knobs.zones.unwrap_or(1).max(1);
                let cap = knobs.per_user_cap.unwrap_or(4);
                let wanted = herd_taken(buyers as u64, zones, seats, quantity, cap);
                (
                    zones,
                    seats,
                    cap,
                    vec!["sold_out", "per_user_cap_reached"],
                    vec![
                        Expectation::AcknowledgedWithinCaps,
                        Expectation::SeatsTaken(wanted as i64),
                    ],
                )
            }
            Self::Dirty => (
                knobs.zones.unwrap_or(2),
                knobs.capacity.unwrap_or(500),
                knobs.per_user_cap.unwrap_or(4),
                vec!["sold_out", "per_user_cap_reached"],
                vec![Expectation::NothingHeld],
            ),
            Self::Queued => {
                // Half as many seats as buyers: the sale sells out and the rest are told so.
                let seats = knobs.capacity.unwrap_or_else(|| (buyers as u32 / 2).max(1));
                let mut expectations = vec![Expectation::AcknowledgedWithinCaps];
                if quantity == 1 {
                    // Each admitted buyer takes one seat; admission stops when none is left.
                    expectations.push(Expectation::SeatsTaken(
                        (buyers as i64).min(i64::from(seats)),
                    ));
                }
                (
                    1,
                    seats,
                    knobs.per_user_cap.unwrap_or(4),
                    vec!["sold_out", "queue_pass_required"],
                    expectations,
                )
            }
            Self::Sustained | Self::Ramp | Self::Spike => {
                let needed = (seats_wanted as f64 * HEADROOM).ceil() as u64 + 100;
                let zones = knobs
                    .zones
                    .unwrap_or_else(|| needed.div_ceil(u64::from(MAX_ZONE_SEATS)).max(1) as u16);
                let seats = knobs.capacity.unwrap_or_else(|| {
                    needed
                        .div_ceil(u64::from(zones))
                        .min(u64::from(MAX_ZONE_SEATS)) as u32
                });
                (
                    zones,
                    seats,
                    knobs.per_user_cap.unwrap_or(seats),
                    vec![],
                    vec![Expectation::AcknowledgedWithinCaps],
                )
            }
        };
        if zones == 0 || seats_per_zone == 0 || cap == 0 {
            return Err("zones, capacity and the per-user cap must be at least 1".into());
        }
        if seats_per_zone > MAX_ZONE_SEATS {
            return Err(format!(
                "--capacity is at most {MAX_ZONE_SEATS} seats per zone"
            ));
        }
        let hold_ttl_seconds = knobs.hold_ttl.unwrap_or(hold_ttl);
        if !(1..=3600).contains(&hold_ttl_seconds) {
            return Err("--hold-ttl must be 1 to 3600 seconds".into());
        }
        let partitions = knobs.partitions.unwrap_or(DEFAULT_PARTITIONS);
        if !(1..=256).contains(&partitions) {
            return Err("--partitions must be 1 to 256".into());
        }
        let (queue, opens_in_seconds) = match self {
            Self::Queued => {
                let shape = QueueShape {
                    admission_per_second: knobs.admission_rate.unwrap_or(200),
                    max_active: knobs.max_active.unwrap_or(100),
                    pass_ttl_seconds: knobs.pass_ttl.unwrap_or(120),
                };
                if !(1..=100_000).contains(&shape.admission_per_second) {
                    return Err("--admission-rate must be 1 to 100000".into());
                }
                if shape.max_active == 0 {
                    return Err("--max-active must be at least 1".into());
                }
                if !(1..=3600).contains(&shape.pass_ttl_seconds) {
                    return Err("--pass-ttl must be 1 to 3600 seconds".into());
                }
                let opens_in = knobs.opens_in.unwrap_or(2);
                (Some(shape), opens_in)
            }
            _ => (None, 0),
        };
        Ok(Plan {
            scenario: self,
            profile,
            sale: SaleShape {
                sale_id,
                zones,
                seats_per_zone,
                per_user_cap: cap,
                hold_ttl_seconds,
                partitions,
                price_minor: PRICE_MINOR,
                queue,
                opens_in_seconds,
            },
            mix,
            buyers,
            expected: expected.into_iter().map(str::to_owned).collect(),
            expectations,
            queue: (self == Self::Queued).then(|| QueuePlan {
                wait: knobs.wait.unwrap_or_default(),
                probe_every: 10,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> SaleId {
        SaleId::parse("lt-test").unwrap()
    }

    #[test]
    fn a_long_fast_run_gets_enough_seats_never_to_sell_out() {
        let knobs = Knobs {
            rate: Some(10_000.0),
            duration: Some(60.0),
            ..Knobs::default()
        };
        let plan = Scenario::Sustained.plan(&knobs, sale()).unwrap();
        assert!(plan.sale.capacity() >= 660_000, "{:?}", plan.sale);
        assert!(plan.sale.seats_per_zone <= MAX_ZONE_SEATS);
        assert_eq!(plan.sale.per_user_cap, plan.sale.seats_per_zone);
        assert!(plan.expected.is_empty(), "selling out would be an error");
        plan.sale.spec().unwrap();
    }

    #[test]
    fn more_seats_than_one_zone_holds_are_split_across_zones() {
        let knobs = Knobs {
            rate: Some(30_000.0),
            duration: Some(60.0),
            ..Knobs::default()
        };
        let plan = Scenario::Sustained.plan(&knobs, sale()).unwrap();
        assert_eq!(plan.sale.zones, 2);
        assert!(plan.sale.capacity() >= 1_980_000);
    }

    #[test]
    fn a_herd_promises_exactly_the_capacity_when_it_outnumbers_the_seats() {
        let knobs = Knobs {
            buyers: Some(40),
            capacity: Some(25),
            ..Knobs::default()
        };
        let plan = Scenario::Herd.plan(&knobs, sale()).unwrap();
        assert!(plan.expectations.contains(&Expectation::SeatsTaken(25)));
        assert_eq!(plan.profile.arrivals().count(), 40);
        let fewer = Knobs {
            buyers: Some(10),
            capacity: Some(25),
            ..Knobs::default()
        };
        let plan = Scenario::Herd.plan(&fewer, sale()).unwrap();
        assert!(plan.expectations.contains(&Expectation::SeatsTaken(10)));
    }

    #[test]
    fn dirty_traffic_mixes_and_expects_every_hold_to_expire() {
        let plan = Scenario::Dirty.plan(&Knobs::default(), sale()).unwrap();
        assert!(plan.mix.retry > 0.0 && plan.mix.cancel > 0.0 && plan.mix.conflict > 0.0);
        assert!(plan.expectations.contains(&Expectation::NothingHeld));
        assert!(plan.sale.hold_ttl_seconds <= 10);
    }

    #[test]
    fn a_queued_sale_sells_half_as_many_seats_as_it_has_buyers_and_opens_later() {
        let knobs = Knobs {
            buyers: Some(40),
            admission_rate: Some(20),
            ..Knobs::default()
        };
        let plan = Scenario::Queued.plan(&knobs, sale()).unwrap();
        assert_eq!(plan.sale.capacity(), 20);
        assert!(plan.expectations.contains(&Expectation::SeatsTaken(20)));
        assert_eq!(plan.sale.queue.unwrap().admission_per_second, 20);
        assert_eq!(plan.sale.opens_in_seconds, 2);
        assert_eq!(plan.queue.unwrap().wait, WaitMode::Sse);
        assert_eq!(plan.profile.arrivals().count(), 40);
        let spec = plan.sale.spec().unwrap();
        assert!(spec.queue.enabled);
        assert!(spec.starts_at > time::OffsetDateTime::now_utc());
        let bad = Knobs {
            admission_rate: Some(0),
            ..Knobs::default()
        };
        assert!(Scenario::Queued.plan(&bad, sale()).is_err());
    }

    #[test]
    fn bad_knobs_are_refused() {
        let knobs = Knobs {
            quantity: Some(21),
            ..Knobs::default()
        };
        assert!(Scenario::Smoke.plan(&knobs, sale()).is_err());
        let knobs = Knobs {
            capacity: Some(2_000_000),
            ..Knobs::default()
        };
        assert!(Scenario::Sustained.plan(&knobs, sale()).is_err());
        for partitions in [0, 257] {
            let knobs = Knobs {
                partitions: Some(partitions),
                ..Knobs::default()
            };
            let err = Scenario::Sustained.plan(&knobs, sale()).unwrap_err();
            assert!(err.contains("--partitions"), "{err}");
        }
    }

    #[test]
    fn a_sale_has_one_partition_unless_told_and_its_spec_carries_them() {
        let plan = Scenario::Sustained.plan(&Knobs::default(), sale()).unwrap();
        assert_eq!(plan.sale.partitions, 1);
        let knobs = Knobs {
            partitions: Some(4),
            ..Knobs::default()
        };
        let plan = Scenario::Sustained.plan(&knobs, sale()).unwrap();
        assert_eq!(plan.sale.spec().unwrap().partitions, 4);
    }
}
