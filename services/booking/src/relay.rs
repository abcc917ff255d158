//! The outbox relay: publishes the state changes that scripts appended to each sale's Redis
//! stream, then acknowledges and deletes them. A crash before the acknowledgement republishes
//! (consumers are idempotent); entries left pending by a dead replica are claimed after a while.

use std::{collections::HashMap, time::Duration};

use redis::{
    AsyncCommands,
    streams::{
        StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
    },
};
use shared::{
    batching::BatchPublisher,
    events::{BookingEvent, ConfirmRejected, QueuePlacement, QueueShuffled},
    ids::SaleId,
    keys::{OUTBOX_GROUP, SaleKeys},
    sales::Sales,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{domain::Hold, domain::from_ms, publish::publish_booking_event};

const BATCH: usize = 512;
const CLAIM_IDLE: Duration = Duration::from_secs(10);

/// Relays every served sale's outbox until `shutdown`.
pub async fn run(
    sales: Sales,
    conn: redis::aio::ConnectionManager,
    publisher: BatchPublisher,
    consumer: String,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let mut relay = Relay {
        conn,
        publisher,
        consumer,
        groups: Default::default(),
        last_claim: HashMap::new(),
    };
    while !shutdown.is_cancelled() {
        let mut moved = 0;
        match sales.current().await {
            Ok(list) => {
                for sale in list {
                    match relay.relay_sale(&sale).await {
                        Ok(n) => moved += n,
                        Err(err) => {
                            tracing::warn!(sale.id = %sale, error = %err, "outbox relay failed; will retry")
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "listing sales failed"),
        }
        if moved == 0 {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }
}

struct Relay {
    conn: redis::aio::ConnectionManager,
    publisher: BatchPublisher,
    consumer: String,
    groups: std::collections::HashSet<SaleId>,
    last_claim: HashMap<SaleId, std::time::Instant>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

impl Relay {
    async fn ensure_group(&mut self, sale: &SaleId, outbox: &str) -> Result<(), redis::RedisError> {
        if self.groups.contains(sale) {
            return Ok(());
        }
        let created: redis::RedisResult<()> = self
            .conn
            .xgroup_create_mkstream(outbox, OUTBOX_GROUP, "0")
            .await;
        match created {
            Ok(()) => {}
            Err(err) if err.code() == Some("BUSYGROUP") => {}
            Err(err) => return Err(err),
        }
        self.groups.insert(sale.clone());
        Ok(())
    }

    async fn relay_sale(&mut self, sale: &SaleId) -> Result<usize, RelayError> {
        let outbox = SaleKeys::new(sale).outbox();
        self.ensure_group(sale, &outbox).await?;
        let relayed = self.relay_entries(sale, &outbox).await;
        if let Err(RelayError::Redis(err)) = &relayed
            && err.code() == Some("NOGROUP")
        {
            // The stream went away with its group (its sale's keys were deleted, say). The next
            // round makes both again, reading from the stream's first entry, so entries added
            // since are relayed.
            self.groups.remove(sale);
        }
        relayed
    }

    async fn relay_entries(&mut self, sale: &SaleId, outbox: &str) -> Result<usize, RelayError> {
        let mut entries: Vec<StreamId> = Vec::new();
        let due = self
            .last_claim
            .get(sale)
            .is_none_or(|at| at.elapsed() >= CLAIM_IDLE / 2);
        if due {
            self.last_claim
                .insert(sale.clone(), std::time::Instant::now());
            let claimed: StreamAutoClaimReply = self
                .conn
                .xautoclaim_options(
                    outbox,
                    OUTBOX_GROUP,
                    &self.consumer,
                    CLAIM_IDLE.as_millis() as u64,
                    "0-0",
                    StreamAutoClaimOptions::default().count(BATCH),
                )
                .await?;
            // A full batch means a backlog (say, after a broker outage): claim again next round.
            if claimed.claimed.len() == BATCH {
                self.last_claim.remove(sale);
            }
            entries.extend(claimed.claimed);
        }
        let options = StreamReadOptions::default()
            .group(OUTBOX_GROUP, &self.consumer)
            .count(BATCH);
        let read: Option<StreamReadReply> =
            self.conn.xread_options(&[outbox], &[">"], &options).await?;
        if let Some(reply) = read {
            entries.extend(reply.keys.into_iter().flat_map(|k| k.ids));
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let results = futures::future::join_all(entries.iter().map(|entry| async {
            match decode(entry) {
                Some((time, event)) => publish_booking_event(&self.publisher, sale, time, event)
                    .await
                    .map_err(|e| tracing::warn!(sale.id = %sale, error = %e, "outbox event not published; will retry"))
                    .is_ok(),
                None => {
                    tracing::error!(sale.id = %sale, entry = %entry.id, "undecodable outbox entry dropped");
                    metrics::counter!("booking_outbox_undecodable_total").increment(1);
                    true
                }
            }
        }))
        .await;
        let done: Vec<&str> = entries
            .iter()
            .zip(&results)
            .filter(|(_, ok)| **ok)
            .map(|(e, _)| e.id.as_str())
            .collect();
        if !done.is_empty() {
            let mut pipe = redis::pipe();
            pipe.xack(outbox, OUTBOX_GROUP, &done)
                .ignore()
                .xdel(outbox, &done)
                .ignore();
            pipe.query_async::<()>(&mut self.conn).await?;
            metrics::counter!("booking_outbox_relayed_total").increment(done.len() as u64);
        }
        Ok(done.len())
    }
}

/// Builds the event an outbox entry describes.
fn decode(entry: &StreamId) -> Option<(time::OffsetDateTime, BookingEvent)> {
    let fields: HashMap<String, String> = entry
        .map
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), redis::from_redis_value::<String>(v).ok()?)))
        .collect();
    let time = from_ms(fields.get("at")?.parse().ok()?);
    let event = match fields.get("type")?.as_str() {
        "ConfirmRejected" => BookingEvent::ConfirmRejected(ConfirmRejected {
            reservation_id: fields.get("id")?.parse::<Uuid>().ok()?,
            payment_id: fields.get("payment_id")?.parse::<Uuid>().ok()?,
            reason: fields.get("reason")?.clone(),
        }),
        "QueueShuffled" => BookingEvent::QueueShuffled(queue_shuffled(&fields)?),
        _ => {
            let id = fields.get("id")?.parse::<Uuid>().ok()?;
            BookingEvent::for_snapshot(Hold::from_fields(id, &fields)?.snapshot())
        }
    };
    Some((time, event))
}

/// A slice of the shuffled pre-queue: comma-separated buyers and their joining ranks, from
/// position `offset + 1`.
fn queue_shuffled(fields: &HashMap<String, String>) -> Option<QueueShuffled> {
    let offset: u32 = fields.get("offset")?.parse().ok()?;
    let users = fields.get("users")?.split(',').filter(|u| !u.is_empty());
    let ranks = fields.get("ranks")?.split(',').filter(|r| !r.is_empty());
    let placements = users
        .zip(ranks)
        .enumerate()
        .map(|(i, (user, rank))| {
            Some(QueuePlacement {
                position: offset + i as u32 + 1,
                user_id: user.parse().ok()?,
                joined_rank: rank.parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(QueueShuffled {
        seed: fields.get("seed")?.parse().ok()?,
        pre_queue_size: fields.get("total")?.parse().ok()?,
        placements,
    })
}
