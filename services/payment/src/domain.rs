//! Payment's domain: statuses and the rules of moving between them, payment methods, refund reasons.

use serde::{Deserialize, Serialize};

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created; the PSP has not decided yet.
    Pending,
    /// The PSP reserved the funds.
    Authorized,
    /// The money is taken; booking confirms the hold (or refuses it, and it is refunded).
    Captured,
    /// Declined or failed; the hold stays until it expires, and the buyer may try again.
    Failed,
    /// A refund was requested and is under way at the PSP.
    RefundPending,
    /// The money went back.
    Refunded,
}

impl PaymentStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::Failed => "failed",
            Self::RefundPending => "refund_pending",
            Self::Refunded => "refunded",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Self::Pending,
            "authorized" => Self::Authorized,
            "captured" => Self::Captured,
            "failed" => Self::Failed,
            "refund_pending" => Self::RefundPending,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }

    /// Whether money was taken at some point.
    pub fn was_captured(self) -> bool {
        matches!(self, Self::Captured | Self::RefundPending | Self::Refunded)
    }
}

/// A payment method token, as a PSP hands it to the buyer's browser: `pm_` and 1-60 of a-z, 0-9, `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod(String);

/// The payment method used when the buyer names none.
pub const DEFAULT_PAYMENT_METHOD: &str = "pm_card_visa";

impl PaymentMethod {
    /// Checks the shape.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw.strip_prefix("pm_").unwrap_or_default();
        if rest.is_empty()
            || rest.len() > 60
            || !rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err("paymentMethod must be a token like pm_card_visa".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a payment was refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// Booking could not confirm the hold (expired, cancelled, already paid, mismatched).
    BookingRejected,
    /// The sale's organizer refunded it.
    Organizer,
    /// An admin refunded it.
    Admin,
    /// The buyer cancelled a paid booking where the sale allows it.
    BuyerCancellation,
}

impl RefundReason {
    /// The reason as stored and published.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingRejected => "booking_rejected",
            Self::Organizer => "organizer",
            Self::Admin => "admin",
            Self::BuyerCancellation => "buyer_cancellation",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "booking_rejected" => Self::BookingRejected,
            "organizer" => Self::Organizer,
            "admin" => Self::Admin,
            "buyer_cancellation" => Self::BuyerCancellation,
            _ => return None,
        })
    }
}

/// The PSP idempotency key of a payment attempt: derived from the reservation, so retrying an
/// attempt never charges twice, and a new attempt (after a decline) is a new charge.
pub fn charge_key(reservation: uuid::Uuid, attempt: i32) -> String {
    format!("{reservation}-{attempt}")
}

/// The PSP idempotency key of a payment's refund: one refund per payment.
pub fn refund_key(payment: uuid::Uuid) -> String {
    format!("refund-{payment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for status in [
            PaymentStatus::Pending,
            PaymentStatus::Authorized,
            PaymentStatus::Captured,
            PaymentStatus::Failed,
            PaymentStatus::RefundPending,
            PaymentStatus::Refunded,
        ] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
        assert!(PaymentStatus::Refunded.was_captured());
        assert!(!PaymentStatus::Failed.was_captured());
    }

    #[test]
    fn payment_methods_are_tokens_not_card_data() {
        assert!(PaymentMethod::parse("pm_card_visa").is_ok());
        for bad in [
            "",
            "pm_",
            "4242424242424242",
            "pm_Card",
            "pm_a b",
            &format!("pm_{}", "a".repeat(61)),
        ] {
            assert!(PaymentMethod::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_attempt_has_its_own_charge_key_and_a_payment_one_refund_key() {
        let r = uuid::Uuid::nil();
        assert_ne!(charge_key(r, 1), charge_key(r, 2));
        assert_eq!(charge_key(r, 1), charge_key(r, 1));
        assert_eq!(refund_key(r), refund_key(r));
    }
}
