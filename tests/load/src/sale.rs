//! The sale a run reserves in: its shape, and provisioning it through the provisioning library.

use std::{fmt::Write as _, time::Duration};

use anyhow::Context;
use provisioning::{Provisioner, SaleSpec};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shared::{
    ids::SaleId,
    kafka::{EventPublisher, KafkaConfig},
    keys::{SALES_REGISTRY, SaleKeys},
    redis::RedisConfig,
};
use time::OffsetDateTime;

/// Most seats provisioning accepts in one zone.
pub const MAX_ZONE_SEATS: u32 = 1_000_000;

/// Price of every seat of a load-test sale, in minor units.
pub const PRICE_MINOR: i64 = 5_000;

/// Topic partitions of a run's sale unless told otherwise: one, as many as the one booking
/// process that consumes them (each partition adds produce and fetch requests to the broker).
pub const DEFAULT_PARTITIONS: u16 = 1;

fn default_partitions() -> u16 {
    DEFAULT_PARTITIONS
}

/// The sale of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaleShape {
    /// Sale id.
    pub sale_id: SaleId,
    /// Zones `z1`…`zN`.
    pub zones: u16,
    /// Seats in each zone.
    pub seats_per_zone: u32,
    /// Most seats one buyer may hold or own in a zone.
    pub per_user_cap: u32,
    /// How long an unpaid hold lives.
    pub hold_ttl_seconds: u32,
    /// Partitions of the sale's topics.
    #[serde(default = "default_partitions")]
    pub partitions: u16,
    /// Price per seat, minor units (EUR).
    pub price_minor: i64,
    /// The sale's queue, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueShape>,
    /// Seconds after provisioning the sale opens (0: open since a minute ago).
    #[serde(default)]
    pub opens_in_seconds: u32,
}

/// The queue of a run's sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueShape {
    /// Buyers admitted per second.
    pub admission_per_second: u32,
    /// Most buyers admitted but not yet reserved at once.
    pub max_active: u32,
    /// How long a pass lives, seconds.
    pub pass_ttl_seconds: u32,
}

impl SaleShape {
    /// The zone ids.
    pub fn zone_ids(&self) -> Vec<String> {
        (1..=self.zones).map(|i| format!("z{i}")).collect()
    }

    /// Seats across all zones.
    pub fn capacity(&self) -> u64 {
        u64::from(self.zones) * u64::from(self.seats_per_zone)
    }

    /// The provisioning spec: open since a minute ago (or in `opens_in_seconds`), for a day.
    pub fn spec(&self) -> anyhow::Result<SaleSpec> {
        self.spec_opening_in(Duration::from_secs(u64::from(self.opens_in_seconds)))
    }

    /// The provisioning spec of the sale opening `opens_in` from now (zero: open since a minute
    /// ago), for a day.
    pub fn spec_opening_in(&self, opens_in: Duration) -> anyhow::Result<SaleSpec> {
        let now = OffsetDateTime::now_utc();
        let starts = if opens_in.is_zero() {
            now - Duration::from_secs(60)
        } else {
            now + opens_in
        };
        let queue = match self.queue {
            Some(q) => serde_json::json!({
                "enabled": true,
                "admissionPerSecond": q.admission_per_second,
                "maxActive": q.max_active,
                "passTtlSeconds": q.pass_ttl_seconds,
            }),
            None => serde_json::json!({ "enabled": false }),
        };
        let zones: Vec<serde_json::Value> = self
            .zone_ids()
            .into_iter()
            .map(|id| {
                serde_json::json!({
                    "id": id,
                    "seats": self.seats_per_zone,
                    "priceMinor": self.price_minor,
                    "currency": "EUR",
                    "perUserCap": self.per_user_cap,
                })
            })
            .collect();
        // Built from its serialized form, so fields the spec gains with defaults keep them.
        let spec: SaleSpec = serde_json::from_value(serde_json::json!({
            "saleId": self.sale_id,
            "startsAt": starts.format(&time::format_description::well_known::Rfc3339)?,
            "endsAt": (now + Duration::from_secs(86_400)).format(&time::format_description::well_known::Rfc3339)?,
            "holdTtlSeconds": self.hold_ttl_seconds,
            "partitions": self.partitions,
            "zones": zones,
            "queue": queue,
        }))
        .context("building the sale spec")?;
        if let Err(errors) = spec.validate() {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::bail!("invalid sale: {}", errors.join("; "));
        }
        Ok(spec)
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "sale {}: {} zone(s) × {} seats = {} seats, per-user cap {}, hold TTL {} s, {}.{:02} EUR a seat",
            self.sale_id,
            self.zones,
            self.seats_per_zone,
            self.capacity(),
            self.per_user_cap,
            self.hold_ttl_seconds,
            self.price_minor / 100,
            self.price_minor % 100
        );
        if let Some(q) = self.queue {
            let _ = write!(
                line,
                "; queue admitting {}/s, at most {} admitted at once, passes live {} s",
                q.admission_per_second, q.max_active, q.pass_ttl_seconds
            );
        }
        if self.opens_in_seconds > 0 {
            let _ = write!(
                line,
                "; opens {} s after provisioning",
                self.opens_in_seconds
            );
        }
        line
    }
}

/// A fresh sale id `lt-{tag}-{random}`.
pub fn new_sale_id(tag: &str) -> anyhow::Result<SaleId> {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let id = format!("lt-{tag}-{}", &random[..10]);
    SaleId::parse(&id).with_context(|| format!("sale id {id}"))
}

/// A provisioner on these backing services.
pub async fn provisioner(redis: &RedisConfig, kafka: &KafkaConfig) -> anyhow::Result<Provisioner> {
    let conn = redis.connect().await.context("connecting to Redis")?;
    let publisher = EventPublisher::new(
        kafka.producer().context("creating the Kafka producer")?,
        kafka.produce_timeout,
    );
    Ok(Provisioner::new(
        conn,
        kafka.admin().context("creating the Kafka admin client")?,
        publisher,
    ))
}

/// Waits until booking's recorder has recorded the sale's configuration published at or after
/// `since`: from then on it consumes the sale's bookings topic, as it does when a sale is
/// provisioned ahead of its opening. A run that starts sooner measures the recorder discovering
/// the new topic (up to librdkafka's metadata refresh later) and catching up on everything
/// reserved meanwhile in one burst, which no buyer of a provisioned sale meets.
pub async fn wait_until_recorded(
    db: &sqlx::PgPool,
    sale: &SaleId,
    since: OffsetDateTime,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    // The database keeps microseconds; the publication instant is later than `since` by far more.
    let since = since - Duration::from_millis(1);
    let mut last = String::from("not recorded yet");
    while started.elapsed() < timeout {
        match booking::store::configured_at(db, sale).await {
            Ok(Some(at)) if at >= since => return Ok(started.elapsed()),
            Ok(_) => {}
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "booking did not record sale {sale}'s configuration within {} s ({last}); is it serving \
         the sale and consuming its topic?",
        timeout.as_secs()
    )
}

/// Takes a finished run's sale out of Redis: its registry entry and every key. Its topics stay:
/// deleting topics on a shared broker while other clients refresh metadata has crashed
/// librdkafka (a metadata entry without a name), so runs leave them to the broker's retention.
pub async fn forget(redis: &RedisConfig, sale: &SaleId) -> anyhow::Result<()> {
    let mut conn = redis.connect().await.context("connecting to Redis")?;
    let _: () = conn.srem(SALES_REGISTRY, sale.as_str()).await?;
    let mut keys: Vec<String> = Vec::new();
    {
        let mut found = conn
            .scan_match::<_, String>(SaleKeys::new(sale).all_pattern())
            .await?;
        while let Some(key) = found.next_item().await {
            keys.push(key);
        }
    }
    for chunk in keys.chunks(1000) {
        let _: () = conn.unlink(chunk).await?;
    }
    Ok(())
}
