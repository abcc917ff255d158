//! Publishing booking events to the sale's bookings topic.

use shared::{
    batching::BatchPublisher,
    events::{BookingEvent, Envelope, bookings_topic},
    ids::SaleId,
    kafka::PublishError,
};
use time::OffsetDateTime;

/// Publishes one booking event, keyed by reservation so a reservation's events stay in order;
/// events published together share one message (see `shared::batching`).
pub async fn publish_booking_event(
    publisher: &BatchPublisher,
    sale: &SaleId,
    time: OffsetDateTime,
    event: BookingEvent,
) -> Result<(), PublishError> {
    let (key, dedup) = match &event {
        BookingEvent::SaleConfigured(_) => (
            sale.to_string(),
            format!("config/{}", time.unix_timestamp_nanos()),
        ),
        BookingEvent::QueueShuffled(shuffled) => (
            sale.to_string(),
            format!(
                "queue-shuffled/{}",
                shuffled.placements.first().map_or(0, |p| p.position)
            ),
        ),
        BookingEvent::ConfirmRejected(r) => (
            r.reservation_id.to_string(),
            format!("{}/{}/ConfirmRejected", r.reservation_id, r.payment_id),
        ),
        BookingEvent::ReservationCreated(s)
        | BookingEvent::ReservationConfirmed(s)
        | BookingEvent::ReservationCancelled(s)
        | BookingEvent::ReservationExpired(s)
        | BookingEvent::ReservationReleased(s)
        | BookingEvent::ReservationRefunded(s) => {
            // Every reservation passes here: its id is written out once, without formatting.
            let mut buf = uuid::Uuid::encode_buffer();
            let id = s.reservation_id.hyphenated().encode_lower(&mut buf);
            (id.to_owned(), [&*id, "/", event.type_name()].concat())
        }
    };
    let envelope = Envelope::new(sale.clone(), time, &dedup, event);
    publisher
        .publish(&bookings_topic(sale), &key, &envelope)
        .await
}
