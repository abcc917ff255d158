#![doc = include_str!("../README.md")]

pub mod catalog;

use std::{collections::HashSet, sync::Arc};

use rdkafka::{admin::AdminClient, client::DefaultClientContext};
use redis::{AsyncCommands, Script, aio::ConnectionManager};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared::{
    events::{BookingEvent, Envelope, SaleConfigured, ZoneConfig, bookings_topic, payments_topic},
    ids::{SaleId, ZoneId},
    kafka::{EventPublisher, PublishError},
    keys::{SALES_REGISTRY, SaleKeys},
};
use time::OffsetDateTime;

/// Highest seat price in minor units; with at most 20 seats a reservation's amount stays exact
/// in the Lua scripts' double-precision numbers.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// One zone of a sale spec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneSpec {
    /// Zone id.
    pub id: ZoneId,
    /// Seats.
    #[schemars(range(max = 1_000_000))]
    pub seats: u32,
    /// Price per seat in minor units (cents).
    #[schemars(range(min = 0, max = MAX_PRICE_MINOR))]
    pub price_minor: i64,
    /// ISO 4217 currency code.
    #[schemars(regex(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// Most seats one buyer may hold or own.
    #[schemars(range(min = 1))]
    pub per_user_cap: u32,
}

/// The sale's virtual waiting room: buyers join, wait their turn and are admitted at a steady
/// rate with a single-use queue pass that reserving requires.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSpec {
    /// Whether buyers queue and need a queue pass to reserve.
    #[serde(default)]
    pub enabled: bool,
    /// Buyers admitted per second, across every booking replica.
    #[serde(default = "default_admission_rate")]
    #[schemars(range(min = 1, max = MAX_ADMISSION_PER_SECOND))]
    pub admission_per_second: u32,
    /// Most buyers admitted but not yet reserved at once.
    #[serde(default = "default_max_active")]
    #[schemars(range(min = 1, max = MAX_ACTIVE))]
    pub max_active: u32,
    /// How long an admitted buyer's queue pass lives, in seconds.
    #[serde(default = "default_pass_ttl")]
    #[schemars(range(min = 1, max = 3600))]
    pub pass_ttl_seconds: u32,
}

/// Highest admission rate a queue accepts, per second.
pub const MAX_ADMISSION_PER_SECOND: u32 = 100_000;

/// Most admitted-but-not-yet-reserved buyers a queue accepts.
pub const MAX_ACTIVE: u32 = 1_000_000;

fn default_admission_rate() -> u32 {
    100
}

fn default_max_active() -> u32 {
    1000
}

fn default_pass_ttl() -> u32 {
    120
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            admission_per_second: default_admission_rate(),
            max_active: default_max_active(),
            pass_ttl_seconds: default_pass_ttl(),
        }
    }
}

/// What provisioning needs to know about a sale (the subset of the FlashSale spec it acts on).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaleSpec {
    /// Sale id.
    pub sale_id: SaleId,
    /// When reservations open.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub starts_at: OffsetDateTime,
    /// When reservations close.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub ends_at: OffsetDateTime,
    /// How long an unpaid hold lives.
    #[serde(default = "default_hold_ttl")]
    #[schemars(range(min = 1, max = 3600))]
    pub hold_ttl_seconds: u32,
    /// Partitions of each of the sale's topics (may only grow).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 256))]
    pub partitions: u16,
    /// The zones.
    #[schemars(
        length(min = 1),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub zones: Vec<ZoneSpec>,
    /// Whether a buyer may cancel a paid booking, and be refunded, while the sale is open.
    #[serde(default)]
    pub allow_buyer_cancellation: bool,
    /// The organizer running the sale (an auth user id); they may refund its payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer_id: Option<uuid::Uuid>,
    /// The virtual waiting room (off unless enabled).
    #[serde(default)]
    pub queue: QueueSpec,
}

fn default_hold_ttl() -> u32 {
    600
}

fn default_partitions() -> u16 {
    3
}

/// A spec problem, naming the field.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SaleSpec {
    /// Checks everything serde cannot.
    pub fn validate(&self) -> Result<(), Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut fail = |field: String, message: &str| {
            errors.push(SpecError {
                field,
                message: message.to_owned(),
            })
        };
        if self.ends_at <= self.starts_at {
            fail("endsAt".into(), "must be after startsAt");
        }
        if self.hold_ttl_seconds == 0 || self.hold_ttl_seconds > 3600 {
            fail("holdTtlSeconds".into(), "must be between 1 and 3600");
        }
        if self.partitions == 0 || self.partitions > 256 {
            fail("partitions".into(), "must be between 1 and 256");
        }
        if self.zones.is_empty() {
            fail("zones".into(), "at least one zone is required");
        }
        let mut seen = HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            if !seen.insert(&zone.id) {
                fail(format!("zones[{i}].id"), "duplicate zone id");
            }
            if zone.seats > 1_000_000 {
                fail(format!("zones[{i}].seats"), "must be at most 1000000");
            }
            if !(0..=MAX_PRICE_MINOR).contains(&zone.price_minor) {
                fail(
                    format!("zones[{i}].priceMinor"),
                    "must be between 0 and 1000000000",
                );
            }
            if zone.currency.len() != 3 || !zone.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                fail(
                    format!("zones[{i}].currency"),
                    "must be a three-letter ISO 4217 code",
                );
            }
            if zone.per_user_cap == 0 {
                fail(format!("zones[{i}].perUserCap"), "must be at least 1");
            }
        }
        let queue = &self.queue;
        if !(1..=MAX_ADMISSION_PER_SECOND).contains(&queue.admission_per_second) {
            fail(
                "queue.admissionPerSecond".into(),
                "must be between 1 and 100000",
            );
        }
        if !(1..=MAX_ACTIVE).contains(&queue.max_active) {
            fail("queue.maxActive".into(), "must be between 1 and 1000000");
        }
        if !(1..=3600).contains(&queue.pass_ttl_seconds) {
            fail("queue.passTtlSeconds".into(), "must be between 1 and 3600");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Reads a bare spec or a FlashSale manifest (its `spec`) from YAML.
    pub fn from_yaml(text: &str) -> Result<Self, serde_norway::Error> {
        let value: serde_norway::Value = serde_norway::from_str(text)?;
        let spec = match value.get("spec") {
            Some(spec) if value.get("kind").is_some() => spec.clone(),
            _ => value,
        };
        serde_norway::from_value(spec)
    }

    /// The configuration event this spec produces.
    pub fn configured(&self) -> SaleConfigured {
        SaleConfigured {
            opens_at: self.starts_at,
            closes_at: self.ends_at,
            hold_ttl_seconds: self.hold_ttl_seconds,
            zones: self
                .zones
                .iter()
                .map(|z| ZoneConfig {
                    zone: z.id.clone(),
                    capacity: z.seats,
                    price_minor: z.price_minor,
                    currency: z.currency.clone(),
                    per_user_cap: z.per_user_cap,
                })
                .collect(),
            allow_buyer_cancellation: self.allow_buyer_cancellation,
            organizer_id: self.organizer_id,
        }
    }

    /// The sale's topics.
    pub fn topics(&self) -> Vec<String> {
        topics(&self.sale_id)
    }
}

/// The topics of a sale.
pub fn topics(sale: &SaleId) -> Vec<String> {
    vec![bookings_topic(sale), payments_topic(sale)]
}

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The spec is invalid.
    #[error("invalid sale spec: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SpecError>),
    /// Fewer seats requested than a zone has held and sold.
    #[error("seats below held + sold in zone(s): {}", .0.iter().map(|(z, n)| format!("{z} has {n} held or sold")).collect::<Vec<_>>().join(", "))]
    SeatsBelowCommitted(Vec<(String, i64)>),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Kafka failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The configuration event was not acknowledged.
    #[error("publishing SaleConfigured: {0}")]
    Publish(#[from] PublishError),
}

/// The clients provisioning works through.
#[derive(Clone)]
pub struct Provisioner {
    redis: ConnectionManager,
    admin: Arc<AdminClient<DefaultClientContext>>,
    publisher: EventPublisher,
    catalog: Option<catalog::CatalogCheck>,
}

impl Provisioner {
    /// Provisions through these clients.
    pub fn new(
        redis: ConnectionManager,
        admin: AdminClient<DefaultClientContext>,
        publisher: EventPublisher,
    ) -> Self {
        Self {
            redis,
            admin: Arc::new(admin),
            publisher,
            catalog: None,
        }
    }

    /// Also refuses sales that disagree with the catalog show naming them (when `check` is set).
    pub fn with_catalog(mut self, check: Option<catalog::CatalogCheck>) -> Self {
        self.catalog = check;
        self
    }

    /// Makes the sale's live state match `spec`: topics, inventory, registry, configuration event.
    #[tracing::instrument(skip_all, fields(sale.id = %spec.sale_id))]
    pub async fn apply(&self, spec: &SaleSpec) -> Result<(), ProvisionError> {
        spec.validate().map_err(ProvisionError::Invalid)?;
        if let Some(check) = &self.catalog {
            check.check(spec).await.map_err(ProvisionError::Invalid)?;
        }
        shared::kafka::ensure_topics(&self.admin, &spec.topics(), i32::from(spec.partitions))
            .await?;
        self.seed(spec).await?;
        let mut conn = self.redis.clone();
        let _: () = conn.sadd(SALES_REGISTRY, spec.sale_id.as_str()).await?;
        let now = OffsetDateTime::now_utc();
        let envelope = Envelope::new(
            spec.sale_id.clone(),
            now,
            &format!("config/{}", now.unix_timestamp_nanos()),
            BookingEvent::SaleConfigured(spec.configured()),
        );
        // Every partition carries the configuration, so whichever consumer reads a partition
        // learns the zones before the reservations that follow it there.
        let topic = bookings_topic(&spec.sale_id);
        let partitions = shared::kafka::topic_partitions(&self.admin, std::slice::from_ref(&topic))
            .await?
            .get(&topic)
            .copied()
            .unwrap_or(usize::from(spec.partitions));
        for partition in 0..partitions {
            self.publisher
                .publish_to_partition(&topic, partition as i32, spec.sale_id.as_str(), &envelope)
                .await?;
        }
        tracing::info!(zones = spec.zones.len(), "sale provisioned");
        Ok(())
    }

    async fn seed(&self, spec: &SaleSpec) -> Result<(), ProvisionError> {
        let keys = SaleKeys::new(&spec.sale_id);
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let script = Script::new(include_str!("seed.lua"));
        let mut invocation = script.key(keys.meta());
        invocation
            .key(keys.zones())
            .key(keys.outbox())
            .arg(ms(spec.starts_at))
            .arg(ms(spec.ends_at))
            .arg(u64::from(spec.hold_ttl_seconds) * 1000)
            .arg(if spec.queue.enabled { "1" } else { "0" })
            .arg(spec.queue.admission_per_second)
            .arg(spec.queue.max_active)
            .arg(u64::from(spec.queue.pass_ttl_seconds) * 1000);
        for zone in &spec.zones {
            invocation
                .arg(zone.id.as_str())
                .arg(zone.seats)
                .arg(zone.price_minor)
                .arg(&zone.currency)
                .arg(zone.per_user_cap);
        }
        let mut conn = self.redis.clone();
        let reply: Vec<String> = invocation.invoke_async(&mut conn).await?;
        if reply.first().map(String::as_str) == Some("REFUSED") {
            let refused = reply[1..]
                .chunks(2)
                .map(|c| {
                    (
                        c[0].clone(),
                        c.get(1).and_then(|n| n.parse().ok()).unwrap_or_default(),
                    )
                })
                .collect();
            return Err(ProvisionError::SeatsBelowCommitted(refused));
        }
        Ok(())
    }

    /// Removes every Redis key of the sale, its registry entry and its topics.
    #[tracing::instrument(skip_all, fields(sale.id = %sale))]
    pub async fn delete(&self, sale: &SaleId) -> Result<(), ProvisionError> {
        self.delete_inventory(sale).await?;
        shared::kafka::delete_topics(&self.admin, &topics(sale)).await?;
        tracing::info!("sale deleted");
        Ok(())
    }

    /// Removes every Redis key of the sale and its registry entry, leaving its topics.
    #[tracing::instrument(skip_all, fields(sale.id = %sale))]
    pub async fn delete_inventory(&self, sale: &SaleId) -> Result<(), ProvisionError> {
        let mut conn = self.redis.clone();
        let _: () = conn.srem(SALES_REGISTRY, sale.as_str()).await?;
        let pattern = SaleKeys::new(sale).all_pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
apiVersion: booking-rush.dev/v1alpha1
kind: FlashSale
metadata: { name: demo }
spec:
  saleId: demo
  startsAt: 2026-01-01T00:00:00Z
  endsAt: 2030-01-01T00:00:00Z
  zones:
    - { id: floor, seats: 100, priceMinor: 5000, currency: EUR, perUserCap: 4 }
"#;

    fn failing_fields(spec: &SaleSpec) -> Vec<String> {
        spec.validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn reads_a_manifest_and_applies_defaults() {
        let spec = SaleSpec::from_yaml(SPEC).unwrap();
        assert_eq!(spec.sale_id.as_str(), "demo");
        assert_eq!(spec.hold_ttl_seconds, 600);
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn the_queue_is_off_by_default_and_its_settings_are_checked() {
        let spec = SaleSpec::from_yaml(SPEC).unwrap();
        assert_eq!(spec.queue, QueueSpec::default());
        assert!(!spec.queue.enabled);
        let queued = SaleSpec::from_yaml(&format!(
            "{SPEC}  queue: {{ enabled: true, admissionPerSecond: 0, maxActive: 0, passTtlSeconds: 3601 }}\n"
        ))
        .unwrap();
        assert!(queued.queue.enabled);
        assert_eq!(
            failing_fields(&queued),
            [
                "queue.admissionPerSecond",
                "queue.maxActive",
                "queue.passTtlSeconds"
            ]
        );
        let partial =
            SaleSpec::from_yaml(&format!("{SPEC}  queue: {{ enabled: true }}\n")).unwrap();
        assert_eq!(partial.queue.admission_per_second, 100);
        assert!(partial.validate().is_ok());
        assert!(
            SaleSpec::from_yaml(&format!("{SPEC}  queue: {{ rate: 5 }}\n")).is_err(),
            "unknown queue fields are refused"
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut spec = SaleSpec::from_yaml(SPEC).unwrap();
        spec.ends_at = spec.starts_at;
        spec.zones.push(spec.zones[0].clone());
        spec.zones[0].currency = "euro".into();
        spec.zones[0].price_minor = -1;
        assert_eq!(
            failing_fields(&spec),
            [
                "endsAt",
                "zones[0].priceMinor",
                "zones[0].currency",
                "zones[1].id"
            ]
        );
    }
}
