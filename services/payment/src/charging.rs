//! Driving the PSP from recorded state: start the charge of a pending attempt, start the refund of
//! a refund-pending payment, or ask the PSP what became of either. Every call is idempotent (keys
//! derived from the reservation and the payment), so handlers and the sync worker may both try.

use sqlx::PgPool;

use crate::{
    domain::{PaymentStatus, charge_key, refund_key},
    psp::{
        ChargeMetadata, CreateCharge, CreateRefund, Event, EventKind, Psp, PspError, RefundStatus,
    },
    store::{self, OrphanCharge, PaymentRow},
};

/// Why driving the PSP stopped short; the payment stays as recorded and is tried again later.
#[derive(Debug, thiserror::Error)]
pub enum ChargingError {
    /// The PSP did not answer usefully.
    #[error(transparent)]
    Psp(#[from] PspError),
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Starts the charge of a pending attempt that has no PSP charge yet. A PSP refusal fails the
/// attempt; a timeout leaves it pending for the sync worker (same key, so never two charges).
pub async fn start_charge(
    db: &PgPool,
    psp: &dyn Psp,
    payment: &PaymentRow,
) -> Result<(), ChargingError> {
    if payment.status() != PaymentStatus::Pending || payment.psp_payment_id.is_some() {
        return Ok(());
    }
    let request = CreateCharge {
        amount_minor: payment.amount_minor,
        currency: payment.currency.clone(),
        payment_method: payment.payment_method.clone(),
        reference: payment.reservation_id,
        metadata: ChargeMetadata {
            payment_id: payment.payment_id,
            sale_id: payment.sale_id.clone(),
            attempt: payment.attempt,
        },
    };
    let key = charge_key(payment.reservation_id, payment.attempt);
    match psp.create_charge(&key, &request).await {
        Ok(charge) => {
            store::set_psp_charge(db, payment.payment_id, payment.attempt, &charge.id).await?;
            metrics::counter!("payment_psp_calls_total", "call" => "create_charge", "outcome" => "ok").increment(1);
            Ok(())
        }
        Err(PspError::Refused { code, message }) => {
            tracing::warn!(payment.id = %payment.payment_id, %code, %message, "the PSP refused the charge");
            metrics::counter!("payment_psp_calls_total", "call" => "create_charge", "outcome" => "refused").increment(1);
            store::fail_attempt(db, payment.payment_id, payment.attempt, &code).await?;
            Ok(())
        }
        Err(err) => {
            metrics::counter!("payment_psp_calls_total", "call" => "create_charge", "outcome" => "unavailable").increment(1);
            Err(err.into())
        }
    }
}

/// Starts the refund of a refund-pending payment that has none at the PSP yet.
pub async fn start_refund(
    db: &PgPool,
    psp: &dyn Psp,
    payment: &PaymentRow,
) -> Result<(), ChargingError> {
    let (PaymentStatus::RefundPending, None, Some(charge)) = (
        payment.status(),
        &payment.psp_refund_id,
        &payment.psp_payment_id,
    ) else {
        return Ok(());
    };
    let request = CreateRefund {
        amount_minor: payment.amount_minor,
        reason: payment.refund_reason.clone().unwrap_or_default(),
    };
    match psp
        .create_refund(&refund_key(payment.payment_id), charge, &request)
        .await
    {
        Ok(refund) => {
            store::set_psp_refund(db, payment.payment_id, &refund.id).await?;
            metrics::counter!("payment_psp_calls_total", "call" => "create_refund", "outcome" => "ok").increment(1);
            Ok(())
        }
        Err(err) => {
            metrics::counter!("payment_psp_calls_total", "call" => "create_refund", "outcome" => "failed").increment(1);
            Err(err.into())
        }
    }
}

/// Asks the PSP what became of a payment whose webhook is late, and applies the answer as if
/// the webhook had come (the same forward-only moves, so a late real webhook changes nothing).
pub async fn poll(db: &PgPool, psp: &dyn Psp, payment: &PaymentRow) -> Result<(), ChargingError> {
    let kind = match (
        payment.status(),
        &payment.psp_payment_id,
        &payment.psp_refund_id,
    ) {
        (PaymentStatus::Pending | PaymentStatus::Authorized, Some(charge), _) => {
            let charge = psp.charge(charge).await?;
            if charge.metadata.attempt != payment.attempt {
                return Ok(());
            }
            EventKind::for_charge(charge)
        }
        (PaymentStatus::RefundPending, _, Some(refund)) => {
            let refund = psp.refund(refund).await?;
            (refund.status == RefundStatus::Succeeded).then_some(EventKind::RefundSucceeded(refund))
        }
        _ => None,
    };
    if let Some(kind) = kind {
        let event = Event {
            id: format!("poll-{}-{}", kind.object_id(), kind.type_name()),
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
            kind,
        };
        let applied = store::apply_event(db, &event).await?;
        tracing::info!(payment.id = %payment.payment_id, outcome = applied.label(), "late PSP outcome applied from polling");
    }
    Ok(())
}

/// Does whatever a payment waiting on the PSP needs next.
pub async fn advance(
    db: &PgPool,
    psp: &dyn Psp,
    payment: &PaymentRow,
) -> Result<(), ChargingError> {
    match payment.status() {
        PaymentStatus::Pending if payment.psp_payment_id.is_none() => {
            start_charge(db, psp, payment).await
        }
        PaymentStatus::RefundPending if payment.psp_refund_id.is_none() => {
            start_refund(db, psp, payment).await
        }
        PaymentStatus::Pending | PaymentStatus::Authorized | PaymentStatus::RefundPending => {
            poll(db, psp, payment).await
        }
        _ => Ok(()),
    }
}

/// Refunds a capture no payment stands for, or asks the PSP whether its refund settled.
pub async fn refund_orphan(
    db: &PgPool,
    psp: &dyn Psp,
    orphan: &OrphanCharge,
) -> Result<(), ChargingError> {
    match &orphan.refund_id {
        None => {
            let request = CreateRefund {
                amount_minor: orphan.amount_minor,
                reason: format!("orphan_capture:{}", orphan.reason),
            };
            let key = format!("refund-orphan-{}", orphan.charge_id);
            let refund = psp.create_refund(&key, &orphan.charge_id, &request).await?;
            store::set_orphan_refund(db, &orphan.charge_id, &refund.id).await?;
            metrics::counter!("payment_orphan_refunds_total").increment(1);
            tracing::warn!(charge.id = %orphan.charge_id, payment.id = %orphan.payment_id,
                reason = %orphan.reason, "refunding a capture no payment stands for");
        }
        Some(id) => {
            if psp.refund(id).await?.status == RefundStatus::Succeeded {
                store::orphan_refunded(db, &orphan.charge_id).await?;
            }
        }
    }
    Ok(())
}
