//! The demo catalog entry of a sale: a venue, a published event and the show the sale sells,
//! made from the sale's spec, idempotently (fixed ids; re-running brings the show's terms back
//! in line with the spec and changes nothing else).

use provisioning::SaleSpec;
use time::{Duration, Time};
use uuid::Uuid;

use crate::store;

/// Namespace of the demo's fixed ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_8a52_3b0e_4c1d_9a7e_52d4_0e3b_7c11);

/// The organizer who owns the demo catalog unless another is named.
pub fn demo_organizer() -> Uuid {
    Uuid::new_v5(&NAMESPACE, b"demo-organizer")
}

/// What seeding made.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    /// The venue.
    pub venue_id: Uuid,
    /// The published event.
    pub event_id: Uuid,
    /// The show the sale sells.
    pub show_id: Uuid,
}

fn zone_name(id: &str) -> String {
    if id.len() <= 3 {
        return id.to_uppercase();
    }
    let mut chars = id.chars();
    chars.next().map_or_else(String::new, |first| {
        first
            .to_uppercase()
            .chain(chars)
            .collect::<String>()
            .replace('-', " ")
    })
}

/// Creates (or realigns) the catalog entry of `spec`'s sale, owned by `organizer`.
pub async fn seed(pool: &sqlx::PgPool, spec: &SaleSpec, organizer: Uuid) -> anyhow::Result<Seeded> {
    let sale = spec.sale_id.as_str();
    let id = |kind: &str| Uuid::new_v5(&NAMESPACE, format!("{kind}:{sale}").as_bytes());
    let seeded = Seeded {
        venue_id: id("venue"),
        event_id: id("event"),
        show_id: id("show"),
    };
    let starts_at = (spec.ends_at + Duration::days(1)).replace_time(Time::from_hms(19, 0, 0)?);
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO venues (venue_id, owner_id, name, address, city, timezone)
         VALUES ($1, $2, 'Demo Arena', '1 Example Street', 'Berlin', 'Europe/Berlin')
         ON CONFLICT (venue_id) DO NOTHING",
    )
    .bind(seeded.venue_id)
    .bind(organizer)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO events (event_id, owner_id, slug, title, description, category, status, published_at)
         VALUES ($1, $2, $3, $4, $5, 'concert', 'published', now())
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(seeded.event_id)
    .bind(organizer)
    .bind(format!("{sale}-night"))
    .bind(format!("Booking Rush {} Night", zone_name(sale)))
    .bind(format!(
        "The show the `{sale}` flash sale sells: {} zones, one night only.",
        spec.zones.len()
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO shows (show_id, event_id, venue_id, starts_at, doors_at, sale_id, sale_starts_at,
                            sale_ends_at, hold_ttl_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (show_id) DO UPDATE SET sale_id = EXCLUDED.sale_id,
             sale_starts_at = EXCLUDED.sale_starts_at, sale_ends_at = EXCLUDED.sale_ends_at,
             hold_ttl_seconds = EXCLUDED.hold_ttl_seconds, updated_at = now()
         WHERE (shows.sale_id, shows.sale_starts_at, shows.sale_ends_at, shows.hold_ttl_seconds)
               IS DISTINCT FROM (EXCLUDED.sale_id, EXCLUDED.sale_starts_at, EXCLUDED.sale_ends_at, EXCLUDED.hold_ttl_seconds)",
    )
    .bind(seeded.show_id)
    .bind(seeded.event_id)
    .bind(seeded.venue_id)
    .bind(starts_at)
    .bind(starts_at - Duration::hours(1))
    .bind(sale)
    .bind(spec.starts_at)
    .bind(spec.ends_at)
    .bind(i32::try_from(spec.hold_ttl_seconds)?)
    .execute(&mut *tx)
    .await?;
    let ids: Vec<String> = spec.zones.iter().map(|z| z.id.to_string()).collect();
    sqlx::query("DELETE FROM zones WHERE show_id = $1 AND NOT (zone_id = ANY($2))")
        .bind(seeded.show_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    for (order, zone) in spec.zones.iter().enumerate() {
        let row = store::ZoneRow {
            show_id: seeded.show_id,
            zone_id: zone.id.to_string(),
            name: zone_name(zone.id.as_str()),
            capacity: i32::try_from(zone.seats)?,
            price_minor: zone.price_minor,
            currency: zone.currency.clone(),
            per_user_cap: i32::try_from(zone.per_user_cap)?,
            sort_order: i32::try_from(order)?,
        };
        store::upsert_zone(&mut tx, &row).await?;
    }
    tx.commit().await?;
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_become_display_names() {
        assert_eq!(zone_name("vip"), "VIP");
        assert_eq!(zone_name("floor"), "Floor");
        assert_eq!(zone_name("upper-tier"), "Upper tier");
    }
}
