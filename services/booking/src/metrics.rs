//! The reserve path's counters of its 201 answers, registered once at start.

use metrics::Counter;

/// Handles of `booking_reservations_total` for the outcomes that answer 201, registered once
/// with the installed recorder so a reservation neither builds its labels nor searches the
/// recorder's registry (the refusals, rarer, are counted by name).
pub struct ReserveMetrics {
    created: Counter,
    replayed: Counter,
}

impl ReserveMetrics {
    /// Registers the handles with the recorder installed now (none installed: they count nothing).
    pub fn register() -> Self {
        Self {
            created: metrics::counter!("booking_reservations_total", "outcome" => "created"),
            replayed: metrics::counter!("booking_reservations_total", "outcome" => "replayed"),
        }
    }

    /// Counts a new reservation.
    pub fn created(&self) {
        self.created.increment(1);
    }

    /// Counts a repeated request answered with its original reservation.
    pub fn replayed(&self) {
        self.replayed.increment(1);
    }
}
