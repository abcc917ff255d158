//! Work every replica does for each served sale on a fixed period (expiry sweeps, queue steps).

use std::time::Duration;

use shared::{ids::SaleId, sales::Sales};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The rounds of a periodic worker: each yields the sales served at that moment.
pub struct Rounds<'a> {
    sales: &'a Sales,
    tick: Interval,
    shutdown: &'a CancellationToken,
}

impl<'a> Rounds<'a> {
    /// A round every `every` until `shutdown`; a late round delays the next instead of bunching
    /// them up.
    pub fn new(sales: &'a Sales, every: Duration, shutdown: &'a CancellationToken) -> Self {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            sales,
            tick,
            shutdown,
        }
    }

    /// Waits for the next round; `None` once shutdown starts.
    pub async fn next(&mut self) -> Option<Vec<SaleId>> {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                _ = self.tick.tick() => {}
            }
            match self.sales.current().await {
                Ok(list) => return Some(list),
                Err(err) => tracing::warn!(error = %err, "listing sales failed"),
            }
        }
    }
}
