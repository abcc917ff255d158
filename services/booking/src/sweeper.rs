//! Expires unpaid holds of every served sale a few times a second.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use shared::sales::Sales;

use crate::inventory::Inventory;

const LIMIT: usize = 500;

/// Sweeps until `shutdown`.
pub async fn run(sales: Sales, inventory: Inventory, every: Duration, shutdown: CancellationToken) {
    let mut rounds = crate::periodic::Rounds::new(&sales, every, &shutdown);
    while let Some(list) = rounds.next().await {
        for sale in list {
            loop {
                match inventory.expire_due(&sale, LIMIT).await {
                    Ok(n) => {
                        if n > 0 {
                            metrics::counter!("booking_holds_expired_total").increment(n as u64);
                            tracing::debug!(sale.id = %sale, expired = n, "holds expired");
                        }
                        if n < LIMIT {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(sale.id = %sale, error = %err, "expiry sweep failed");
                        break;
                    }
                }
            }
        }
    }
}
