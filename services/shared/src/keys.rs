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
            prefix: format!("sale:{{{sale}}}:"),
        }
    }

    /// Hash: sale window, hold TTL, state. Scripts derive every other key from this one's prefix.
    pub fn meta(&self) -> String {
        format!("{}meta", self.prefix)
    }

    /// Set of the sale's zone ids.
    pub fn zones(&self) -> String {
        format!("{}zones", self.prefix)
    }

    /// Hash of one zone: capacity, available, held, sold, price, currency, per-user cap.
    pub fn zone(&self, zone: &ZoneId) -> String {
        format!("{}zone:{zone}", self.prefix)
    }

    /// Hash of one reservation.
    pub fn hold(&self, id: &uuid::Uuid) -> String {
        format!("{}hold:{id}", self.prefix)
    }

    /// Sorted set of live holds by expiry time (ms).
    pub fn expiries(&self) -> String {
        format!("{}expiries", self.prefix)
    }

    /// Hash of seats held or bought per `zone:user`.
    pub fn user_quantities(&self) -> String {
        format!("{}userqty", self.prefix)
    }

    /// String mapping a user's idempotency key to its reservation.
    pub fn idempotency(&self, user: &uuid::Uuid, key: &str) -> String {
        format!("{}idem:{user}:{key}", self.prefix)
    }

    /// Stream of state changes waiting to be relayed to Kafka.
    pub fn outbox(&self) -> String {
        format!("{}outbox", self.prefix)
    }

    /// A key of the sale's virtual queue: `q:<part>` (state, line, tickets, active, …).
    pub fn queue(&self, part: &str) -> String {
        format!("{}q:{part}", self.prefix)
    }

    /// Hash of one queue pass, named by the opaque pass itself.
    pub fn queue_pass(&self, pass: &str) -> String {
        format!("{}qpass:{pass}", self.prefix)
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
}
