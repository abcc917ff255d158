//! Event contracts exchanged through Kafka, and the envelope around each of them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{SaleId, ZoneId};

mod decode;

/// Version of the envelope and event schemas below.
pub const SCHEMA_VERSION: u16 = 1;

/// Topic carrying a sale's booking events (configuration and reservation lifecycle).
pub fn bookings_topic(sale: &SaleId) -> String {
    ["sale.", sale.as_str(), ".bookings"].concat()
}

/// Topic carrying a sale's payment events.
pub fn payments_topic(sale: &SaleId) -> String {
    ["sale.", sale.as_str(), ".payments"].concat()
}

/// The envelope every event travels in. Read by `decode`, which reads the event in place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Envelope<E> {
    /// Event id; the same logical event always gets the same id, so consumers can de-duplicate.
    pub id: Uuid,
    /// Schema version.
    pub version: u16,
    /// The sale the event belongs to.
    pub sale: SaleId,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// `type` and `data`.
    #[serde(flatten)]
    pub event: E,
}

impl<E: Serialize> Envelope<E> {
    /// Wraps an event; `dedup` names the logical event (e.g. reservation id and event type).
    pub fn new(sale: SaleId, time: OffsetDateTime, dedup: &str, event: E) -> Self {
        let name = [sale.as_str(), "/", dedup].concat();
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes());
        Self {
            id,
            version: SCHEMA_VERSION,
            sale,
            time,
            event,
        }
    }
}

/// Lifecycle state of a reservation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Seats are held until `expires_at`.
    Held,
    /// Paid: the seats are sold.
    Confirmed,
    /// The buyer let go of the hold.
    Cancelled,
    /// Nobody paid before the hold's expiry.
    Expired,
    /// Released by the system (the reservation could not be recorded).
    Released,
    /// Was confirmed; its payment was refunded and the seats returned to the sale.
    Refunded,
}

impl ReservationStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Released => "released",
            Self::Refunded => "refunded",
        }
    }

    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "held" => Self::Held,
            "confirmed" => Self::Confirmed,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            "released" => Self::Released,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

/// A reservation as it stands after the change an event reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReservationSnapshot {
    /// Reservation id.
    pub reservation_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// Zone of the seats.
    pub zone: ZoneId,
    /// Number of seats.
    pub quantity: u32,
    /// Price of all seats, in minor currency units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Status after the change.
    pub status: ReservationStatus,
    /// When the hold was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the hold lapses unless paid.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Payment that confirmed the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<Uuid>,
}

/// One zone as configured for a sale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ZoneConfig {
    /// Zone id.
    pub zone: ZoneId,
    /// Seats in the zone.
    pub capacity: u32,
    /// Price per seat in minor units.
    pub price_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Most seats one buyer may hold or own in this zone.
    pub per_user_cap: u32,
}

/// A sale's configuration, published when it is provisioned or changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SaleConfigured {
    /// When reservations open.
    #[serde(with = "time::serde::rfc3339")]
    pub opens_at: OffsetDateTime,
    /// When reservations close.
    #[serde(with = "time::serde::rfc3339")]
    pub closes_at: OffsetDateTime,
    /// How long an unpaid hold lives, in seconds.
    pub hold_ttl_seconds: u32,
    /// The zones.
    pub zones: Vec<ZoneConfig>,
    /// Whether a buyer may cancel a confirmed booking (and be refunded) while the sale is open.
    #[serde(default)]
    pub allow_buyer_cancellation: bool,
    /// The organizer running the sale, who may refund its payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer_id: Option<Uuid>,
}

/// Why a payment could not confirm its reservation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRejected {
    /// The reservation the payment was for.
    pub reservation_id: Uuid,
    /// The payment to refund.
    pub payment_id: Uuid,
    /// The reservation's status when the payment arrived (`expired`, `cancelled`, `released`,
    /// `unknown`, or `confirmed` when another payment confirmed it first).
    pub reason: String,
}

/// Events on a sale's bookings topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "data")]
pub enum BookingEvent {
    /// The sale was provisioned or reconfigured.
    SaleConfigured(SaleConfigured),
    /// Seats were put on hold.
    ReservationCreated(ReservationSnapshot),
    /// A payment turned the hold into sold seats.
    ReservationConfirmed(ReservationSnapshot),
    /// The buyer cancelled the hold.
    ReservationCancelled(ReservationSnapshot),
    /// The hold lapsed unpaid.
    ReservationExpired(ReservationSnapshot),
    /// The system released the hold because it could not be recorded.
    ReservationReleased(ReservationSnapshot),
    /// The confirmed reservation's payment was refunded; its seats returned to the sale.
    ReservationRefunded(ReservationSnapshot),
    /// A payment arrived for a reservation that could no longer be confirmed; refund it.
    ConfirmRejected(ConfirmRejected),
    /// Buyers who joined the sale's queue before it opened were shuffled into their order
    /// (one event per slice of the order).
    QueueShuffled(QueueShuffled),
}

/// One buyer's place in a sale's shuffled pre-queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueuePlacement {
    /// Place in the queue after the shuffle, from 1.
    pub position: u32,
    /// The buyer.
    pub user_id: Uuid,
    /// The buyer's place in the order of joining, from 0 (the shuffle's input).
    pub joined_rank: u32,
}

/// A slice of a sale's pre-queue order as the seeded shuffle made it: SplitMix64 seeded with
/// `seed` drives a Fisher–Yates shuffle of the buyers in joining order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueShuffled {
    /// The shuffle's seed.
    pub seed: u64,
    /// Buyers in the pre-queue when the sale opened.
    pub pre_queue_size: u32,
    /// This slice of the order.
    pub placements: Vec<QueuePlacement>,
}

impl BookingEvent {
    /// The event's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SaleConfigured(_) => "SaleConfigured",
            Self::ReservationCreated(_) => "ReservationCreated",
            Self::ReservationConfirmed(_) => "ReservationConfirmed",
            Self::ReservationCancelled(_) => "ReservationCancelled",
            Self::ReservationExpired(_) => "ReservationExpired",
            Self::ReservationReleased(_) => "ReservationReleased",
            Self::ReservationRefunded(_) => "ReservationRefunded",
            Self::ConfirmRejected(_) => "ConfirmRejected",
            Self::QueueShuffled(_) => "QueueShuffled",
        }
    }

    /// Builds the lifecycle event matching a snapshot's status.
    pub fn for_snapshot(snapshot: ReservationSnapshot) -> Self {
        match snapshot.status {
            ReservationStatus::Held => Self::ReservationCreated(snapshot),
            ReservationStatus::Confirmed => Self::ReservationConfirmed(snapshot),
            ReservationStatus::Cancelled => Self::ReservationCancelled(snapshot),
            ReservationStatus::Expired => Self::ReservationExpired(snapshot),
            ReservationStatus::Released => Self::ReservationReleased(snapshot),
            ReservationStatus::Refunded => Self::ReservationRefunded(snapshot),
        }
    }
}

/// A captured payment for a reservation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSucceeded {
    /// Payment id.
    pub payment_id: Uuid,
    /// The reservation paid for.
    pub reservation_id: Uuid,
    /// The payer.
    pub user_id: Uuid,
    /// Amount captured, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

/// A payment that will not capture (declined or failed at the PSP).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    /// Payment id.
    pub payment_id: Uuid,
    /// The reservation it was for.
    pub reservation_id: Uuid,
    /// The payer.
    pub user_id: Uuid,
    /// The PSP's reason, e.g. `card_declined`.
    pub reason: String,
}

/// A captured payment whose money went back to the payer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    /// Payment id.
    pub payment_id: Uuid,
    /// The reservation it was for.
    pub reservation_id: Uuid,
    /// The payer.
    pub user_id: Uuid,
    /// Amount refunded, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Why: `booking_rejected`, `organizer`, `admin` or `buyer_cancellation`.
    pub reason: String,
}

/// Events on a sale's payments topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    /// The PSP captured the money.
    PaymentSucceeded(PaymentSucceeded),
    /// The PSP declined or failed the payment; the hold stays until it expires or is cancelled.
    PaymentFailed(PaymentFailed),
    /// The money went back to the payer; a booking it confirmed returns its seats.
    PaymentRefunded(PaymentRefunded),
}

impl PaymentEvent {
    /// The event's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PaymentSucceeded(_) => "PaymentSucceeded",
            Self::PaymentFailed(_) => "PaymentFailed",
            Self::PaymentRefunded(_) => "PaymentRefunded",
        }
    }

    /// The reservation the payment is for (the message key, so its events stay in order).
    pub fn reservation_id(&self) -> Uuid {
        match self {
            Self::PaymentSucceeded(e) => e.reservation_id,
            Self::PaymentFailed(e) => e.reservation_id,
            Self::PaymentRefunded(e) => e.reservation_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_event_ids_keep_their_names() {
        let sale = SaleId::parse("spring").unwrap();
        assert_eq!(bookings_topic(&sale), "sale.spring.bookings");
        assert_eq!(payments_topic(&sale), "sale.spring.payments");
        // Consumers de-duplicate by this id: it must stay the v5 uuid of "<sale>/<dedup>".
        let envelope = Envelope::new(sale, OffsetDateTime::UNIX_EPOCH, "r1/Created", ());
        assert_eq!(
            envelope.id,
            Uuid::new_v5(&Uuid::NAMESPACE_OID, b"spring/r1/Created")
        );
    }

    #[test]
    fn envelope_round_trips_with_type_and_data_at_the_top() {
        let sale = SaleId::parse("demo").unwrap();
        let event = PaymentEvent::PaymentSucceeded(PaymentSucceeded {
            payment_id: Uuid::nil(),
            reservation_id: Uuid::nil(),
            user_id: Uuid::nil(),
            amount_minor: 100,
            currency: "EUR".into(),
        });
        let envelope = Envelope::new(sale, OffsetDateTime::UNIX_EPOCH, "x", event);
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["type"], "PaymentSucceeded");
        assert_eq!(json["data"]["amountMinor"], 100);
        assert_eq!(json["sale"], "demo");
        let back: Envelope<PaymentEvent> = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn the_same_logical_event_gets_the_same_id() {
        let sale = SaleId::parse("demo").unwrap();
        let rejected = BookingEvent::ConfirmRejected(ConfirmRejected {
            reservation_id: Uuid::nil(),
            payment_id: Uuid::nil(),
            reason: "expired".into(),
        });
        let a = Envelope::new(
            sale.clone(),
            OffsetDateTime::UNIX_EPOCH,
            "r1/x",
            rejected.clone(),
        );
        let b = Envelope::new(sale, OffsetDateTime::now_utc(), "r1/x", rejected);
        assert_eq!(a.id, b.id);
    }
}
