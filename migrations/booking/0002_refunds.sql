-- A confirmed reservation whose payment is refunded returns its seats: status `refunded`.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_known;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_known
    CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired', 'released', 'refunded'));
