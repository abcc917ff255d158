//! The PSP sync worker: payments that waited on the PSP too long (a charge never started because
//! the PSP timed out, a webhook that never came, a refund due) are driven forward here, by one
//! worker per payment across replicas; captures no payment stands for are refunded here too.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{charging, psp::Psp, store};

/// Payments claimed per round.
const CLAIM: i64 = 100;

/// Works every `interval` on payments that waited `after` or longer, until `shutdown`.
pub async fn run(
    db: PgPool,
    psp: Arc<dyn Psp>,
    interval: Duration,
    after: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match store::claim_waiting(&db, after, CLAIM).await {
            Ok(payments) => {
                for payment in payments {
                    if let Err(err) = charging::advance(&db, psp.as_ref(), &payment).await {
                        metrics::counter!("payment_sync_failures_total").increment(1);
                        tracing::warn!(payment.id = %payment.payment_id, error = %err, "the PSP did not answer; trying again later");
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "claiming payments waiting on the PSP failed"),
        }
        match store::claim_orphans(&db, after, CLAIM).await {
            Ok(orphans) => {
                for orphan in orphans {
                    if let Err(err) = charging::refund_orphan(&db, psp.as_ref(), &orphan).await {
                        metrics::counter!("payment_sync_failures_total").increment(1);
                        tracing::warn!(charge.id = %orphan.charge_id, error = %err, "orphan capture not refunded yet; trying again later");
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "claiming orphan captures failed"),
        }
    }
}
