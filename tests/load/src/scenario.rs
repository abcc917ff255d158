//! The scenarios, modelled on real flash sales, and what each one sends, sells and promises.

use serde::{Deserialize, Serialize};
use shared::ids::SaleId;

use crate::{
    audit::Expectation,
    sale::{MAX_ZONE_SEATS, PRICE_MINOR, SaleShape},
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
}

impl Plan {
    /// The expected refusal codes as static strings (the only ones a plan uses).
    pub fn expected_codes(&self) -> Vec<&'static str> {
        ["sold_out", "per_user_cap_reached"]
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
        Ok(Plan {
            scenario: self,
            profile,
            sale: SaleShape {
                sale_id,
                zones,
                seats_per_zone,
                per_user_cap: cap,
                hold_ttl_seconds,
                price_minor: PRICE_MINOR,
            },
            mix,
            buyers,
            expected: expected.into_iter().map(str::to_owned).collect(),
            expectations,
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
    }
}
