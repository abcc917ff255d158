//! The Redis key layout of one sale. Every key carries the hash tag `{sale}`, so all of a sale's
//! keys live in one Redis Cluster slot and each script touches one slot.

use crate::ids::{SaleId, ZoneId};

/// The set of provisioned sales, read by services that serve every sale (local mode).
pub const SALES_REGISTRY: &str = "booking-rush:sales";

/// Consumer group that relays a sale's outbox stream to Kafka.
pub const OUTBOX_GROUP: &str = "relay";

/// Key names of one sale.
#[derive(Debug, Clone)]
pub struct SaleKeys {
    prefix: String,
}

impl SaleKeys {
    /// Keys of this sale.
    pub fn new(sale: &SaleId) -> Self {
        Self {
            prefix: ["sale:{", sale.as_str(), "}:"].concat(),
        }
    }

    /// The prefix followed by `parts`, built in one allocation: keys are made on every request.
    fn key(&self, parts: &[&str]) -> String {
        let len = self.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut key = String::with_capacity(len);
        key.push_str(&self.prefix);
        parts.iter().for_each(|p| key.push_str(p));
        key
    }

    /// Hash: sale window, hold TTL, state. Scripts derive every other key from this one's prefix.
    pub fn meta(&self) -> String {
        self.key(&["meta"])
    }

    /// Set of the sale's zone ids.
    pub fn zones(&self) -> String {
        self.key(&["zones"])
    }

    /// Hash of one zone: capacity, available, held, sold, price, currency, per-user cap.
    pub fn zone(&self, zone: &ZoneId) -> String {
        self.key(&["zone:", zone.as_str()])
    }

    /// Hash of one reservation.
    pub fn hold(&self, id: &uuid::Uuid) -> String {
        self.key(&[
            "hold:",
            id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        ])
    }

    /// Sorted set of live holds by expiry time (ms).
    pub fn expiries(&self) -> String {
        self.key(&["expiries"])
    }

    /// Hash of seats held or bought per `zone:user`.
    pub fn user_quantities(&self) -> String {
        self.key(&["userqty"])
    }

    /// String mapping a user's idempotency key to its reservation.
    pub fn idempotency(&self, user: &uuid::Uuid, key: &str) -> String {
        self.key(&[
            "idem:",
            user.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
            ":",
            key,
        ])
    }

    /// Stream of state changes waiting to be relayed to Kafka.
    pub fn outbox(&self) -> String {
        self.key(&["outbox"])
    }

    /// A key of the sale's virtual queue: `q:<part>` (state, line, tickets, active, …).
    pub fn queue(&self, part: &str) -> String {
        self.key(&["q:", part])
    }

    /// Hash of one queue pass, named by the opaque pass itself.
    pub fn queue_pass(&self, pass: &str) -> String {
        self.key(&["qpass:", pass])
    }

    /// Pattern matching every key of the sale.
    pub fn all_pattern(&self) -> String {
        format!("{}*", self.prefix.replace('{', "\\{").replace('}', "\\}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_sale_hash_tag() {
        let keys = SaleKeys::new(&SaleId::parse("demo").unwrap());
        let zone = ZoneId::parse("floor").unwrap();
        for key in [
            keys.meta(),
            keys.zones(),
            keys.zone(&zone),
            keys.expiries(),
            keys.outbox(),
            keys.queue("line"),
            keys.queue_pass("p"),
        ] {
            assert!(key.contains("{demo}"), "{key}");
        }
        assert_eq!(&keys.meta()[..keys.meta().len() - 4], "sale:{demo}:");
    }

    #[test]
    fn keys_spell_out_their_parts() {
        let keys = SaleKeys::new(&SaleId::parse("demo").unwrap());
        let id = uuid::Uuid::from_u128(0x0192_0000_7000_8000_0000_0000_0000_00ab);
        assert_eq!(
            keys.hold(&id),
            "sale:{demo}:hold:01920000-7000-8000-0000-0000000000ab"
        );
        assert_eq!(
            keys.idempotency(&id, "k-1"),
            "sale:{demo}:idem:01920000-7000-8000-0000-0000000000ab:k-1"
        );
        assert_eq!(
            keys.zone(&ZoneId::parse("floor").unwrap()),
            "sale:{demo}:zone:floor"
        );
        assert_eq!(keys.user_quantities(), "sale:{demo}:userqty");
        assert_eq!(keys.queue_pass("p"), "sale:{demo}:qpass:p");
        assert_eq!(keys.all_pattern(), "sale:\\{demo\\}:*");
    }
}
