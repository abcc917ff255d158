//! A show as a FlashSale manifest: the same zones, capacities, prices, caps, sale window and
//! organizer, in
//! the layout of `operator/examples/demo-sale.yaml`, checked by provisioning's own validation.

use std::fmt::Write;

use shared::{
    ids::{SaleId, ZoneId},
    problem::FieldProblem,
};
use time::{OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    error::TicketError,
    store::{ShowRow, ZoneRow},
};

/// Topic partitions a rendered sale asks for (provisioning's default; operators may raise it).
pub const PARTITIONS: u16 = 3;

/// A show's sale terms, complete.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The sale.
    pub sale_id: SaleId,
    /// When reservations open.
    pub starts_at: OffsetDateTime,
    /// When reservations close.
    pub ends_at: OffsetDateTime,
    /// Hold lifetime.
    pub hold_ttl_seconds: u32,
    /// The organizer of the show's event, who may refund the sale's payments.
    pub organizer_id: Uuid,
    /// Zones in display order.
    pub zones: Vec<ZoneRow>,
}

impl Terms {
    /// The terms of a show of `organizer`'s event, or every field a sale still needs.
    pub fn of(show: &ShowRow, organizer: Uuid, zones: Vec<ZoneRow>) -> Result<Self, TicketError> {
        let mut missing = Vec::new();
        let mut need = |field: &str, message: &str| {
            missing.push(FieldProblem {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        let sale_id = show.sale_id.as_deref().and_then(|s| SaleId::parse(s).ok());
        if sale_id.is_none() {
            need("saleId", "is required");
        }
        if show.sale_starts_at.is_none() {
            need("saleStartsAt", "is required");
        }
        if show.sale_ends_at.is_none() {
            need("saleEndsAt", "is required");
        }
        if zones.is_empty() {
            need("zones", "at least one zone is required");
        }
        match (sale_id, show.sale_starts_at, show.sale_ends_at) {
            (Some(sale_id), Some(starts_at), Some(ends_at)) if missing.is_empty() => Ok(Self {
                sale_id,
                starts_at,
                ends_at,
                hold_ttl_seconds: u32::try_from(show.hold_ttl_seconds).unwrap_or(600),
                organizer_id: organizer,
                zones,
            }),
            _ => Err(TicketError::NotReadyForSale(missing)),
        }
    }

    /// The FlashSale manifest, validated as provisioning validates it.
    pub fn manifest(&self) -> Result<String, TicketError> {
        let yaml = self.render();
        let spec = provisioning::SaleSpec::from_yaml(&yaml)
            .map_err(|e| TicketError::Internal(anyhow::anyhow!("rendered sale unreadable: {e}")))?;
        spec.validate().map_err(|errors| {
            TicketError::NotReadyForSale(
                errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            )
        })?;
        Ok(yaml)
    }

    fn render(&self) -> String {
        let time = |t: OffsetDateTime| {
            t.to_offset(UtcOffset::UTC)
                .format(&Rfc3339)
                .unwrap_or_default()
        };
        // Every value is a validated token (DNS label, zone slug, ISO code, integer or RFC 3339
        // time), so none needs YAML escaping.
        let mut out = String::new();
        let _ = write!(
            out,
            "apiVersion: booking-rush.dev/v1alpha1\nkind: FlashSale\nmetadata:\n  name: {sale}\nspec:\n  saleId: {sale}\n  startsAt: \"{starts}\"\n  endsAt: \"{ends}\"\n  holdTtlSeconds: {ttl}\n  partitions: {PARTITIONS}\n  organizerId: {organizer}\n  zones:\n",
            sale = self.sale_id,
            starts = time(self.starts_at),
            ends = time(self.ends_at),
            ttl = self.hold_ttl_seconds,
            organizer = self.organizer_id,
        );
        for zone in &self.zones {
            let id =
                ZoneId::parse(&zone.zone_id).map_or_else(|_| String::from("invalid"), String::from);
            let _ = writeln!(
                out,
                "    - {{ id: {id}, seats: {}, priceMinor: {}, currency: {}, perUserCap: {} }}",
                zone.capacity, zone.price_minor, zone.currency, zone.per_user_cap
            );
        }
        out
    }
}
