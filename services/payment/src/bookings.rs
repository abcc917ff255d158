//! Following the served sales' bookings topics: a sale's terms from its configuration, and what
//! booking made of each captured payment — confirmed the hold, or refused it (then the payment is
//! refunded). One transaction per batch; offsets are committed after it.

use shared::{
    consume::{Subscription, backoff, decode_batch},
    events::{BookingEvent, Envelope},
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::{self, SaleTerms};

/// Consumes until `shutdown`.
pub async fn run(mut subscription: Subscription, db: PgPool, shutdown: CancellationToken) {
    loop {
        subscription.refresh().await;
        let Some(batch) = subscription.next_batch(&shutdown).await else {
            return;
        };
        if batch.is_empty() {
            continue;
        }
        let events = decode_batch::<BookingEvent>(&batch, "payment_bookings_undecodable_total");
        let mut attempt = 0;
        while let Err(err) = apply_all(&db, &events).await {
            metrics::counter!("payment_bookings_failures_total").increment(1);
            tracing::warn!(error = %err, attempt, "applying booking events failed; retrying");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff(attempt)) => {}
            }
            attempt += 1;
        }
        metrics::counter!("payment_bookings_events_total").increment(events.len() as u64);
        subscription.commit(&batch);
    }
}

/// Applies a batch in one transaction. Every move is idempotent, so a redelivered batch
/// changes nothing.
pub async fn apply_all(db: &PgPool, events: &[Envelope<BookingEvent>]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for envelope in events {
        match &envelope.event {
            BookingEvent::SaleConfigured(config) => {
                let terms = SaleTerms {
                    sale_id: envelope.sale.to_string(),
                    closes_at: config.closes_at,
                    allow_buyer_cancellation: config.allow_buyer_cancellation,
                    organizer_id: config.organizer_id,
                };
                store::configure_sale(&mut tx, &terms, envelope.time).await?;
            }
            BookingEvent::ReservationConfirmed(snapshot) => {
                if let Some(payment) = snapshot.payment_id {
                    store::booking_confirmed(&mut tx, payment).await?;
                }
            }
            BookingEvent::ConfirmRejected(rejected) => {
                tracing::info!(
                    payment.id = %rejected.payment_id, reservation.id = %rejected.reservation_id,
                    reason = %rejected.reason, "booking refused the payment; refunding"
                );
                store::booking_rejected(&mut tx, rejected.payment_id, &rejected.reason).await?;
            }
            BookingEvent::ReservationCreated(_)
            | BookingEvent::ReservationCancelled(_)
            | BookingEvent::ReservationExpired(_)
            | BookingEvent::ReservationReleased(_)
            | BookingEvent::ReservationRefunded(_)
            | BookingEvent::QueueShuffled(_) => {}
        }
    }
    tx.commit().await
}
