//! The confirmer: consumes the served sales' payments topics. `PaymentSucceeded` confirms the paid
//! hold; outcomes other than a confirmation leave a `ConfirmRejected` event (via the outbox) that
//! the payment service turns into a refund. `PaymentRefunded` returns the seats a refunded payment
//! had bought.

use shared::{
    consume::{Subscription, backoff},
    events::{Envelope, PaymentEvent},
    ids::SaleId,
};
use tokio_util::sync::CancellationToken;

use crate::inventory::{ConfirmOutcome, Inventory, PaymentClaim, RefundOutcome};

/// Applies payment events until `shutdown`.
pub async fn run(
    mut subscription: Subscription,
    inventory: Inventory,
    shutdown: CancellationToken,
) {
    loop {
        subscription.refresh().await;
        let Some(batch) = subscription.next_batch(&shutdown).await else {
            return;
        };
        if batch.is_empty() {
            continue;
        }
        for message in &batch {
            let envelope: Envelope<PaymentEvent> = match shared::kafka::decode(message) {
                Ok(envelope) => envelope,
                Err(err) => {
                    tracing::error!(error = %err, "undecodable payment event skipped");
                    metrics::counter!("booking_payment_events_undecodable_total").increment(1);
                    continue;
                }
            };
            let span = tracing::info_span!(
                "payment_event",
                sale.id = %envelope.sale,
                event.type = envelope.event.type_name(),
                reservation.id = %envelope.event.reservation_id()
            );
            shared::kafka::link_span_to_message(&span, message);
            let mut attempt = 0;
            loop {
                match apply(&inventory, &envelope.sale, &envelope.event).await {
                    Ok(label) => {
                        metrics::counter!("booking_payment_events_total", "event" => envelope.event.type_name(), "outcome" => label)
                            .increment(1);
                        span.in_scope(|| tracing::info!(outcome = label, "payment event applied"));
                        break;
                    }
                    Err(err) => {
                        span.in_scope(
                            || tracing::warn!(error = %err, attempt, "applying payment event failed; retrying"),
                        );
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(backoff(attempt)) => {}
                        }
                        attempt += 1;
                    }
                }
            }
        }
        subscription.commit(&batch);
    }
}

/// Applies one payment event; the label names the outcome.
async fn apply(
    inventory: &Inventory,
    sale: &SaleId,
    event: &PaymentEvent,
) -> redis::RedisResult<&'static str> {
    Ok(match event {
        PaymentEvent::PaymentSucceeded(paid) => {
            let claim = PaymentClaim {
                payment_id: paid.payment_id,
                user_id: paid.user_id,
                amount_minor: paid.amount_minor,
                currency: paid.currency.clone(),
            };
            match inventory.confirm(sale, paid.reservation_id, &claim).await? {
                ConfirmOutcome::Confirmed => "confirmed",
                ConfirmOutcome::AlreadyConfirmed => "already_confirmed",
                ConfirmOutcome::Rejected(reason) => {
                    tracing::info!(%reason, payment.id = %paid.payment_id, "payment refused; refund requested");
                    "rejected"
                }
            }
        }
        PaymentEvent::PaymentRefunded(refund) => {
            match inventory
                .refund(sale, refund.reservation_id, refund.payment_id)
                .await?
            {
                RefundOutcome::Returned => "seats_returned",
                // The booking never confirmed this payment (it was refused, or another payment won):
                // no seats were sold for it, so none return.
                RefundOutcome::NotConfirmed(_) | RefundOutcome::OtherPayment => "nothing_sold",
                RefundOutcome::Unknown => "unknown_reservation",
            }
        }
        PaymentEvent::PaymentFailed(_) => "ignored",
    })
}
