//! Booking's domain types, built only through parsing, and the hold as Redis keeps it.

use std::collections::HashMap;

use shared::{
    events::{ReservationSnapshot, ReservationStatus},
    ids::ZoneId,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// Most seats one reservation may take.
pub const MAX_QUANTITY: i64 = 20;

/// A number of seats in one reservation: 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl Quantity {
    /// Checks the range.
    pub fn parse(raw: i64) -> Result<Self, String> {
        if (1..=MAX_QUANTITY).contains(&raw) {
            Ok(Self(raw as u32))
        } else {
            Err(format!(
                "quantity must be between 1 and {MAX_QUANTITY}, got {raw}"
            ))
        }
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

pub use shared::extract::IdempotencyKey;

/// A reservation as the Redis hold hash stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Reservation id.
    pub id: Uuid,
    /// Owner.
    pub user: Uuid,
    /// Zone.
    pub zone: ZoneId,
    /// Seats.
    pub quantity: u32,
    /// Total price in minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Status.
    pub status: ReservationStatus,
    /// Creation time (ms since the epoch).
    pub created_at_ms: i64,
    /// Expiry time (ms since the epoch).
    pub expires_at_ms: i64,
    /// The payment that confirmed it.
    pub payment_id: Option<Uuid>,
}

impl Hold {
    /// Reads hold `id` from its hash fields (its key, not a field, names it); `None` when a
    /// field is missing or malformed.
    pub fn from_fields(id: Uuid, fields: &HashMap<String, String>) -> Option<Self> {
        let get = |k: &str| fields.get(k).map(String::as_str);
        Some(Self {
            id,
            user: get("user")?.parse().ok()?,
            zone: ZoneId::parse(get("zone")?).ok()?,
            quantity: get("qty")?.parse().ok()?,
            amount_minor: get("amount_minor")?.parse().ok()?,
            currency: get("currency")?.to_owned(),
            status: ReservationStatus::parse(get("status")?)?,
            created_at_ms: get("created_at_ms")?.parse().ok()?,
            expires_at_ms: get("expires_at_ms")?.parse().ok()?,
            payment_id: get("payment_id").and_then(|p| p.parse().ok()),
        })
    }

    /// The hold as an event snapshot.
    pub fn snapshot(&self) -> ReservationSnapshot {
        ReservationSnapshot {
            reservation_id: self.id,
            user_id: self.user,
            zone: self.zone.clone(),
            quantity: self.quantity,
            amount_minor: self.amount_minor,
            currency: self.currency.clone(),
            status: self.status,
            created_at: from_ms(self.created_at_ms),
            expires_at: from_ms(self.expires_at_ms),
            payment_id: self.payment_id,
        }
    }
}

/// Milliseconds since the epoch as a timestamp (the epoch itself if out of range).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
        assert!(Quantity::parse(MAX_QUANTITY + 1).is_err());
        assert_eq!(Quantity::parse(2).unwrap().get(), 2);
    }
}
