//! The outbox relay: publishes committed payment events to the sales' payments topics. Rows are
//! taken and deleted in one transaction that commits only after the broker acknowledged every
//! one, so a crash between the database commit of a state change and its publication loses
//! nothing: the row stays and the next relay (this process or another) sends it.

use std::time::Duration;

use shared::{consume::backoff, kafka::EventPublisher};
use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;

use crate::store::{self, OUTBOX_CHANNEL};

/// Rows published per transaction.
const BATCH: i64 = 500;

/// The advisory lock held by the one relay publishing (an arbitrary constant of this service).
const RELAY_LOCK: i64 = 0x7061_796d_656e_7431;

/// Publishes until `shutdown`, woken by outbox notifications or every `interval`.
pub async fn run(
    db: PgPool,
    publisher: EventPublisher,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut listener = listen(&db).await;
    let mut failures = 0u32;
    loop {
        match publish_batch(&db, &publisher).await {
            Ok(published) => {
                failures = 0;
                if published as i64 == BATCH {
                    continue;
                }
            }
            Err(err) => {
                metrics::counter!("payment_relay_failures_total").increment(1);
                tracing::warn!(error = %err, attempt = failures, "publishing the outbox failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff(failures)) => {}
                }
                failures = failures.saturating_add(1);
                continue;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wait_for_notification(&mut listener, interval) => {}
        }
    }
}

/// Publishes one batch; returns how many rows were published.
pub async fn publish_batch(db: &PgPool, publisher: &EventPublisher) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    // One relay publishes at a time, oldest rows first, so a payment's events (captured, then
    // refunded) reach booking in the order they were committed.
    let (leader,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        tx.rollback().await?;
        return Ok(0);
    }
    let rows = store::take_outbox(&mut tx, BATCH).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let sends = rows
        .iter()
        .map(|row| publisher.publish_encoded(&row.topic, &row.message_key, row.payload.as_bytes()));
    // All or nothing: one failed send keeps every row for the next attempt (consumers
    // de-duplicate by event id, so the ones that did go out are harmless to send again).
    for result in futures::future::join_all(sends).await {
        result?;
    }
    tx.commit().await?;
    metrics::counter!("payment_relay_published_total").increment(rows.len() as u64);
    Ok(rows.len())
}

async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(db).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(error = %err, "outbox notifications unavailable; polling only");
            return None;
        }
    };
    match listener.listen(OUTBOX_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "outbox notifications unavailable; polling only");
            None
        }
    }
}

async fn wait_for_notification(listener: &mut Option<PgListener>, interval: Duration) {
    let Some(active) = listener else {
        tokio::time::sleep(interval).await;
        return;
    };
    match tokio::time::timeout(interval, active.recv()).await {
        Ok(Ok(_)) | Err(_) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "outbox notifications lost; polling only");
            *listener = None;
        }
    }
}
