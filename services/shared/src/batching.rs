//! Publishing events in batches. Events for a topic that arrive while an earlier round to it
//! awaits the broker's acknowledgement are sent together in the next round: one message per
//! partition, holding a JSON array of envelopes (a lone event goes as a plain envelope). Each
//! event goes to the partition Kafka's default partitioner gives its key, events keep the order
//! in which `publish` was first polled, and every caller learns the outcome of the message that
//! carried its event.
//!
//! A broker that stores each message separately (tansu stores each in a row of its database)
//! then does its per-message work once per batch instead of once per event; a Kafka cluster
//! sees fewer, larger messages. At low load each round holds one event and nothing waits.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rdkafka::{error::KafkaError, message::OwnedHeaders};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::{
    events::Envelope,
    kafka::{EventPublisher, PublishError, partition_for, trace_headers},
};

/// At most this many events in one message.
const MAX_EVENTS: usize = 1_000;
/// At most about this many payload bytes in one message (well under Kafka's 1 MB default).
const MAX_BYTES: usize = 256 * 1024;
/// How long a topic's partition count is trusted before it is read again.
const PARTITIONS_TTL: Duration = Duration::from_secs(30);

/// Publishes enveloped events in batches; see the module documentation.
#[derive(Clone)]
pub struct BatchPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: EventPublisher,
    lanes: Mutex<HashMap<String, Lane>>,
    partitions: Mutex<HashMap<String, (i32, Instant)>>,
}

/// The events waiting for one topic, and whether a task is sending them.
#[derive(Default)]
struct Lane {
    waiting: Vec<Pending>,
    sending: bool,
}

struct Pending {
    key: String,
    payload: Vec<u8>,
    headers: OwnedHeaders,
    done: oneshot::Sender<Result<(), KafkaError>>,
}

impl BatchPublisher {
    /// Batches on top of `publisher`'s producer.
    pub fn new(publisher: EventPublisher) -> Self {
        Self {
            inner: Arc::new(Inner {
                publisher,
                lanes: Mutex::new(HashMap::new()),
                partitions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Publishes one event under `key` and waits until the message carrying it is acknowledged
    /// (acks=all).
    pub async fn publish<E: Serialize>(
        &self,
        topic: &str,
        key: &str,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(envelope)?;
        let (done, outcome) = oneshot::channel();
        let pending = Pending {
            key: key.to_owned(),
            payload,
            headers: trace_headers(),
            done,
        };
        if self.enqueue(topic, pending) {
            let inner = Arc::clone(&self.inner);
            let topic = topic.to_owned();
            tokio::spawn(async move { inner.send_lane(topic).await });
        }
        match outcome.await {
            Ok(result) => result.map_err(PublishError::Kafka),
            Err(_) => Err(PublishError::Kafka(KafkaError::Canceled)),
        }
    }

    /// The underlying single-event publisher.
    pub fn publisher(&self) -> &EventPublisher {
        &self.inner.publisher
    }

    /// Waits for in-flight messages to be delivered.
    pub fn flush(&self, timeout: Duration) {
        self.inner.publisher.flush(timeout);
    }

    /// Queues an event; true when the lane was idle and needs a task to send it.
    fn enqueue(&self, topic: &str, pending: Pending) -> bool {
        let mut lanes = lock(&self.inner.lanes);
        let lane = lanes.entry(topic.to_owned()).or_default();
        lane.waiting.push(pending);
        !std::mem::replace(&mut lane.sending, true)
    }
}

impl Inner {
    /// Sends a topic's waiting events round by round until none are left.
    async fn send_lane(&self, topic: String) {
        loop {
            let waiting = {
                let mut lanes = lock(&self.lanes);
                let Some(lane) = lanes.get_mut(&topic) else {
                    return;
                };
                if lane.waiting.is_empty() {
                    lanes.remove(&topic);
                    return;
                }
                std::mem::take(&mut lane.waiting)
            };
            match self.partition_count(&topic).await {
                Ok(partitions) => self.send_round(&topic, partitions, waiting).await,
                Err(err) => {
                    for pending in waiting {
                        let _ = pending.done.send(Err(err.clone()));
                    }
                }
            }
        }
    }

    /// Sends one round: per partition, the waiting events in order, split into messages.
    async fn send_round(&self, topic: &str, partitions: i32, waiting: Vec<Pending>) {
        let mut by_partition: HashMap<i32, Vec<Pending>> = HashMap::new();
        for pending in waiting {
            by_partition
                .entry(partition_for(&pending.key, partitions))
                .or_default()
                .push(pending);
        }
        let mut messages = Vec::new();
        for (partition, mut events) in by_partition {
            while !events.is_empty() {
                messages.push((partition, take_batch(&mut events)));
            }
        }
        // The producer queues each message when first polled, in this order; being idempotent,
        // it keeps a partition's messages in that order.
        let sends = messages
            .iter()
            .map(|(partition, batch)| self.send_batch(topic, *partition, batch));
        let results = futures::future::join_all(sends).await;
        for ((_, batch), result) in messages.into_iter().zip(results) {
            metrics::histogram!("kafka_batch_events").record(batch.len() as f64);
            for pending in batch {
                let _ = pending.done.send(result.clone());
            }
        }
    }

    async fn send_batch(
        &self,
        topic: &str,
        partition: i32,
        batch: &[Pending],
    ) -> Result<(), KafkaError> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let payload = if batch.len() == 1 {
            first.payload.clone()
        } else {
            join_array(batch.iter().map(|p| p.payload.as_slice()))
        };
        self.publisher
            .send_message(
                topic,
                Some(partition),
                &first.key,
                &payload,
                first.headers.clone(),
            )
            .await
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, KafkaError> {
        let cached = lock(&self.partitions).get(topic).copied();
        if let Some((count, at)) = cached
            && at.elapsed() < PARTITIONS_TTL
        {
            return Ok(count);
        }
        match self.publisher.partition_count(topic).await {
            Ok(count) => {
                lock(&self.partitions).insert(topic.to_owned(), (count, Instant::now()));
                Ok(count)
            }
            // A stale count beats none: partitions only change when an operator grows them.
            Err(err) => cached.map(|(count, _)| count).ok_or(err),
        }
    }
}

/// Takes the oldest waiting events, up to `MAX_EVENTS` and about `MAX_BYTES` (always at least one).
fn take_batch(waiting: &mut Vec<Pending>) -> Vec<Pending> {
    let mut bytes = 0;
    let count = waiting
        .iter()
        .take(MAX_EVENTS)
        .take_while(|p| {
            bytes += p.payload.len() + 1;
            bytes <= MAX_BYTES
        })
        .count()
        .max(1);
    waiting.drain(..count).collect()
}

/// A JSON array of already encoded JSON values.
fn join_array<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(size: usize) -> Pending {
        Pending {
            key: "k".into(),
            payload: vec![b'1'; size],
            headers: OwnedHeaders::new(),
            done: oneshot::channel().0,
        }
    }

    #[test]
    fn a_batch_is_bounded_by_count_and_bytes_and_never_empty() {
        let mut waiting: Vec<Pending> = (0..1_500).map(|_| pending(10)).collect();
        assert_eq!(take_batch(&mut waiting).len(), MAX_EVENTS);
        assert_eq!(waiting.len(), 500);

        let mut waiting: Vec<Pending> = (0..100).map(|_| pending(100 * 1024)).collect();
        assert_eq!(
            take_batch(&mut waiting).len(),
            2,
            "two of 100 KiB fit in 256 KiB"
        );

        let mut waiting = vec![pending(MAX_BYTES * 2), pending(1)];
        assert_eq!(
            take_batch(&mut waiting).len(),
            1,
            "an oversized event goes alone"
        );
        assert_eq!(waiting.len(), 1);
    }

    #[derive(Debug, Serialize, serde::Deserialize)]
    struct Seq {
        n: i32,
    }

    #[test]
    fn batches_are_json_arrays_the_consumers_decode_in_order() {
        let envelopes: Vec<Vec<u8>> = (0..3)
            .map(|n| {
                serde_json::to_vec(&Envelope::new(
                    crate::ids::SaleId::parse("s1").unwrap(),
                    time::OffsetDateTime::UNIX_EPOCH,
                    &format!("dedup-{n}"),
                    Seq { n },
                ))
                .unwrap()
            })
            .collect();
        let joined = join_array(envelopes.iter().map(Vec::as_slice));
        let decoded: Vec<Envelope<Seq>> = crate::kafka::decode_payload(&joined).unwrap();
        assert_eq!(
            decoded.iter().map(|e| e.event.n).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let single: Vec<Envelope<Seq>> = crate::kafka::decode_payload(&envelopes[1]).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].event.n, 1);
        assert!(crate::kafka::decode_payload::<Seq>(b"[{\"id\":1}]").is_err());
    }
}
