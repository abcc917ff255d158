//! The recorder: consumes the served sales' bookings topics into PostgreSQL in batches, one
//! transaction per batch, committing offsets only after the database commit.

use std::time::Instant;

use shared::{
    consume::{Subscription, backoff, decode_batch},
    events::{BookingEvent, Envelope},
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::{self, RecordError};

/// Records until `shutdown`.
pub async fn run(mut subscription: Subscription, pool: PgPool, shutdown: CancellationToken) {
    loop {
        subscription.refresh().await;
        let Some(batch) = subscription.next_batch(&shutdown).await else {
            return;
        };
        if batch.is_empty() {
            continue;
        }
        let events = decode_batch::<BookingEvent>(&batch, "booking_recorder_undecodable_total");
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = match record(&pool, &events).await {
                Ok(()) => Ok(()),
                // One event in the batch would oversell: record the others one by one and set
                // the refused one aside, so no other reservation waits behind it.
                Err(RecordError::Oversell { .. }) => record_singly(&pool, &events).await,
                Err(RecordError::Database(err)) => Err(err),
            };
            match result {
                Ok(()) => {
                    metrics::counter!("booking_recorder_events_total")
                        .increment(events.len() as u64);
                    metrics::histogram!("booking_recorder_batch_seconds")
                        .record(started.elapsed().as_secs_f64());
                    break;
                }
                Err(err) => {
                    metrics::counter!("booking_recorder_failures_total", "kind" => "database")
                        .increment(1);
                    tracing::warn!(error = %err, attempt, "recording failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff(attempt)) => {}
                    }
                    attempt += 1;
                }
            }
        }
        subscription.commit(&batch);
    }
}

/// Records each event in its own transaction; an event refused as an oversell is kept in
/// `rejected_events`, logged and counted.
async fn record_singly(
    pool: &PgPool,
    events: &[Envelope<BookingEvent>],
) -> Result<(), sqlx::Error> {
    for envelope in events {
        match record(pool, std::slice::from_ref(envelope)).await {
            Ok(()) => {}
            Err(RecordError::Oversell { sale, zone }) => {
                metrics::counter!("booking_recorder_failures_total", "kind" => "oversell")
                    .increment(1);
                tracing::error!(
                    sale.id = %sale, zone, event.id = %envelope.id, event.type = envelope.event.type_name(),
                    constraint = store::SOLD_WITHIN_CAPACITY, "oversell refused by the database; event set aside"
                );
                store::reject(pool, envelope, store::SOLD_WITHIN_CAPACITY).await?;
            }
            Err(RecordError::Database(err)) => return Err(err),
        }
    }
    Ok(())
}

async fn record(pool: &PgPool, events: &[Envelope<BookingEvent>]) -> Result<(), RecordError> {
    let mut tx = pool.begin().await?;
    store::apply_batch(&mut tx, events).await?;
    tx.commit().await?;
    Ok(())
}
