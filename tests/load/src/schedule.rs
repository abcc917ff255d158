//! When requests are due: the offered load over time, fixed before a run starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shape of the offered load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "camelCase")]
pub enum Profile {
    /// `rate` requests per second for `seconds`.
    Constant {
        /// Requests per second.
        rate: f64,
        /// Length of the run.
        seconds: f64,
    },
    /// From `from` to `to` requests per second, linearly, over `seconds`.
    Ramp {
        /// Starting rate.
        from: f64,
        /// Final rate.
        to: f64,
        /// Length of the run.
        seconds: f64,
    },
    /// `rate`, raised to `spike_rate` from `spike_at` for `spike_seconds`.
    Spike {
        /// Base rate.
        rate: f64,
        /// Rate during the spike.
        spike_rate: f64,
        /// Offset of the spike's start, in seconds.
        spike_at: f64,
        /// Length of the spike, in seconds.
        spike_seconds: f64,
        /// Length of the run.
        seconds: f64,
    },
    /// `count` arrivals at once, spread evenly over `spread_seconds` (zero: the same instant).
    Burst {
        /// How many arrive.
        count: u64,
        /// Window they arrive in.
        spread_seconds: f64,
    },
}

impl Profile {
    /// Checks the numbers make a finite, non-empty schedule.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        match *self {
            Self::Constant { rate, seconds } => {
                positive("rate", rate)?;
                positive("duration", seconds)
            }
            Self::Ramp { from, to, seconds } => {
                if !(from.is_finite() && from >= 0.0) {
                    return Err(format!(
                        "the starting rate must be zero or more, got {from}"
                    ));
                }
                positive("rate", to)?;
                positive("duration", seconds)
            }
            Self::Spike {
                rate,
                spike_rate,
                spike_at,
                spike_seconds,
                seconds,
            } => {
                positive("rate", rate)?;
                positive("spike rate", spike_rate)?;
                positive("spike length", spike_seconds)?;
                positive("duration", seconds)?;
                if !(0.0..seconds).contains(&spike_at) {
                    return Err(format!(
                        "the spike must start within the run (0 to {seconds} s), got {spike_at}"
                    ));
                }
                Ok(())
            }
            Self::Burst {
                count,
                spread_seconds,
            } => {
                if count == 0 {
                    return Err("a burst needs at least one arrival".into());
                }
                if !(spread_seconds.is_finite() && spread_seconds >= 0.0) {
                    return Err(format!("spread must be zero or more, got {spread_seconds}"));
                }
                Ok(())
            }
        }
    }

    /// Offered rate at `t` seconds into the run (bursts have none).
    pub fn rate_at(&self, t: f64) -> f64 {
        match *self {
            Self::Constant { rate, .. } => rate,
            Self::Ramp { from, to, seconds } => from + (to - from) * (t / seconds).clamp(0.0, 1.0),
            Self::Spike {
                rate,
                spike_rate,
                spike_at,
                spike_seconds,
                ..
            } => {
                if (spike_at..spike_at + spike_seconds).contains(&t) {
                    spike_rate
                } else {
                    rate
                }
            }
            Self::Burst { .. } => 0.0,
        }
    }

    /// How long arrivals last, in seconds.
    pub fn seconds(&self) -> f64 {
        match *self {
            Self::Constant { seconds, .. }
            | Self::Ramp { seconds, .. }
            | Self::Spike { seconds, .. } => seconds,
            Self::Burst { spread_seconds, .. } => spread_seconds,
        }
    }

    /// The highest rate offered (for sizing the connection pool); a burst counts as all at once.
    pub fn peak_rate(&self) -> f64 {
        match *self {
            Self::Constant { rate, .. } => rate,
            Self::Ramp { from, to, .. } => from.max(to),
            Self::Spike {
                rate, spike_rate, ..
            } => rate.max(spike_rate),
            Self::Burst { count, .. } => count as f64,
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match *self {
            Self::Constant { rate, seconds } => format!("{rate} req/s for {seconds} s"),
            Self::Ramp { from, to, seconds } => {
                format!("ramp {from} → {to} req/s over {seconds} s")
            }
            Self::Spike {
                rate,
                spike_rate,
                spike_at,
                spike_seconds,
                seconds,
            } => format!(
                "{rate} req/s for {seconds} s, {spike_rate} req/s from {spike_at} s for {spike_seconds} s"
            ),
            Self::Burst {
                count,
                spread_seconds,
            } => {
                if spread_seconds == 0.0 {
                    format!("{count} arrivals at the same instant")
                } else {
                    format!("{count} arrivals within {spread_seconds} s")
                }
            }
        }
    }

    /// The intended send time of arrival `i` (0-based) in seconds, from the inverse of the
    /// cumulative arrival count, so no rounding accumulates; `None` past the end.
    pub fn time_of(&self, i: u64) -> Option<f64> {
        let n = i as f64;
        let t = match *self {
            Self::Burst {
                count,
                spread_seconds,
            } => {
                return (i < count).then(|| {
                    if count > 1 {
                        spread_seconds * n / (count - 1) as f64
                    } else {
                        0.0
                    }
                });
            }
            Self::Constant { rate, .. } => n / rate,
            Self::Ramp { from, to, seconds } => {
                // Arrivals by time t: from·t + (to − from)·t²/(2·seconds).
                let a = (to - from) / (2.0 * seconds);
                if a.abs() < f64::EPSILON {
                    n / from
                } else {
                    (-from + (from * from + 4.0 * a * n).sqrt()) / (2.0 * a)
                }
            }
            Self::Spike {
                rate,
                spike_rate,
                spike_at,
                spike_seconds,
                ..
            } => {
                let before = rate * spike_at;
                let during = spike_rate * spike_seconds;
                if n < before {
                    n / rate
                } else if n < before + during {
                    spike_at + (n - before) / spike_rate
                } else {
                    spike_at + spike_seconds + (n - before - during) / rate
                }
            }
        };
        (t.is_finite() && t < self.seconds()).then_some(t)
    }

    /// The intended send times, as offsets from the start of the run.
    pub fn arrivals(&self) -> Arrivals {
        Arrivals {
            profile: self.clone(),
            next: 0,
        }
    }
}

/// The intended send times of a profile, in order.
#[derive(Debug, Clone)]
pub struct Arrivals {
    profile: Profile,
    next: u64,
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let t = self.profile.time_of(self.next)?;
        self.next += 1;
        Some(Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(p: &Profile) -> usize {
        p.arrivals().count()
    }

    #[test]
    fn a_constant_rate_sends_rate_times_duration_evenly_spaced() {
        let p = Profile::Constant {
            rate: 200.0,
            seconds: 2.0,
        };
        let times: Vec<Duration> = p.arrivals().collect();
        assert_eq!(times.len(), 400);
        assert_eq!(times[1] - times[0], Duration::from_millis(5));
        assert_eq!(times[399], Duration::from_secs_f64(399.0 / 200.0));
    }

    #[test]
    fn a_ramp_offers_the_area_under_its_line() {
        let p = Profile::Ramp {
            from: 0.0,
            to: 1000.0,
            seconds: 2.0,
        };
        let n = count(&p) as f64;
        assert!((n - 1000.0).abs() < 20.0, "{n}");
        let times: Vec<Duration> = p.arrivals().collect();
        let first_half = times.iter().filter(|t| t.as_secs_f64() < 1.0).count() as f64;
        assert!((first_half - 250.0).abs() < 15.0, "{first_half}");
    }

    #[test]
    fn a_spike_adds_its_extra_rate_for_its_length_only() {
        let p = Profile::Spike {
            rate: 100.0,
            spike_rate: 1000.0,
            spike_at: 1.0,
            spike_seconds: 0.5,
            seconds: 3.0,
        };
        let times: Vec<Duration> = p.arrivals().collect();
        let n = times.len() as f64;
        assert!((n - 750.0).abs() < 5.0, "{n}");
        let in_spike = times
            .iter()
            .filter(|t| (1.0..1.5).contains(&t.as_secs_f64()))
            .count();
        assert!((495..=505).contains(&in_spike), "{in_spike}");
    }

    #[test]
    fn a_burst_arrives_at_once_or_spread_evenly() {
        let at_once = Profile::Burst {
            count: 50,
            spread_seconds: 0.0,
        };
        assert!(at_once.arrivals().all(|t| t.is_zero()));
        assert_eq!(count(&at_once), 50);
        let spread: Vec<Duration> = Profile::Burst {
            count: 3,
            spread_seconds: 1.0,
        }
        .arrivals()
        .collect();
        assert_eq!(
            spread,
            [
                Duration::ZERO,
                Duration::from_millis(500),
                Duration::from_secs(1)
            ]
        );
    }

    #[test]
    fn nonsense_profiles_are_refused_with_the_reason() {
        let err = Profile::Constant {
            rate: 0.0,
            seconds: 1.0,
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("rate"), "{err}");
        let err = Profile::Spike {
            rate: 1.0,
            spike_rate: 2.0,
            spike_at: 5.0,
            spike_seconds: 1.0,
            seconds: 3.0,
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("spike"), "{err}");
    }
}
