//! The confirmer: consumes `PaymentSucceeded` from the served sales' payments topics and confirms
//! the paid holds. Outcomes other than a confirmation leave a `ConfirmRejected` event (via the
//! outbox) that the payment service turns into a refund.

use shared::events::{Envelope, PaymentEvent};
use tokio_util::sync::CancellationToken;

use crate::{
    consume::{Subscription, backoff},
    inventory::{ConfirmOutcome, Inventory, PaymentClaim},
};

/// Confirms until `shutdown`.
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
                    continue;
                }
            };
            let span = tracing::info_span!("confirm", sale.id = %envelope.sale);
            shared::kafka::link_span_to_message(&span, message);
            let PaymentEvent::PaymentSucceeded(paid) = &envelope.event;
            let claim = PaymentClaim {
                payment_id: paid.payment_id,
                user_id: paid.user_id,
                amount_minor: paid.amount_minor,
                currency: paid.currency.clone(),
            };
            let mut attempt = 0;
            loop {
                match inventory
                    .confirm(&envelope.sale, paid.reservation_id, &claim)
                    .await
                {
                    Ok(outcome) => {
                        let label = match &outcome {
                            ConfirmOutcome::Confirmed => "confirmed",
                            ConfirmOutcome::AlreadyConfirmed => "already_confirmed",
                            ConfirmOutcome::Rejected(_) => "rejected",
                        };
                        metrics::counter!("booking_confirmations_total", "outcome" => label)
                            .increment(1);
                        span.in_scope(|| {
                            tracing::info!(reservation.id = %paid.reservation_id, payment.id = %paid.payment_id, ?outcome, "payment applied")
                        });
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, attempt, "confirm failed; retrying");
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
