//! Publishing events in batches. Events for a topic that arrive while an earlier round to it
//! awaits the broker's acknowledgement are sent together in the next round: one message per
//! partition, holding a JSON array of envelopes (a lone event goes as a plain envelope). Each
//! event goes to the partition Kafka's default partitioner gives its key, events keep the order
//! in which `publish` was first polled, and every caller learns the outcome of the message that
//! carried its event.
//!
//! A topic's partition count is read from the cluster on first use and re-read in the background
//! every 30 s; until a count is known the events go one per message, placed by the producer.
//! `BatchPublisher::unbatched` keeps one event per message, for rolling out to consumers that
//! read only single envelopes.
//!
//! A broker that stores each message separately (tansu stores each in a row of its database)
//! then does its per-message work once per batch instead of once per event; a Kafka cluster
//! sees fewer, larger messages. At low load each round holds one event and nothing waits.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rdkafka::{error::KafkaError, message::OwnedHeaders, producer::DeliveryFuture};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::{
    events::Envelope,
    kafka::{EventPublisher, PublishError, acknowledged, partition_for, trace_headers},
};

/// At most this many events in one message.
const MAX_EVENTS: usize = 1_000;
/// At most about this many payload bytes in one message (well under Kafka's 1 MB default).
const MAX_BYTES: usize = 256 * 1024;
/// How long a topic's partition count is used before it is read again (in the background).
const PARTITIONS_TTL: Duration = Duration::from_secs(30);

/// Publishes enveloped events in batches; see the module documentation.
#[derive(Clone)]
pub struct BatchPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: EventPublisher,
    max_events: usize,
    lanes: Mutex<HashMap<String, Lane>>,
    partitions: Mutex<HashMap<String, PartitionCount>>,
}

/// The events waiting for one topic, and whether a task is sending them.
#[derive(Default)]
struct Lane {
    waiting: Vec<Pending>,
    sending: bool,
}

/// A topic's partition count as last read, and whether a background read is under way.
#[derive(Clone, Copy)]
struct PartitionCount {
    count: i32,
    read_at: Instant,
    refreshing: bool,
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
        Self::with_max_events(publisher, MAX_EVENTS)
    }

    /// One event per message, still placed and ordered as batches are: for a rollout while
    /// consumers that read only single envelopes still run.
    pub fn unbatched(publisher: EventPublisher) -> Self {
        Self::with_max_events(publisher, 1)
    }

    fn with_max_events(publisher: EventPublisher, max_events: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                publisher,
                max_events,
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
    async fn send_lane(self: Arc<Self>, topic: String) {
        let mut on_exit = IdleOnExit {
            inner: &self,
            topic: &topic,
            armed: true,
        };
        loop {
            let waiting = {
                let mut lanes = lock(&self.lanes);
                let Some(lane) = lanes.get_mut(&topic) else {
                    on_exit.armed = false;
                    return;
                };
                if lane.waiting.is_empty() {
                    lanes.remove(&topic);
                    on_exit.armed = false;
                    return;
                }
                std::mem::take(&mut lane.waiting)
            };
            match Arc::clone(&self).partition_count(&topic).await {
                Some(partitions) => self.send_round(&topic, partitions, waiting).await,
                None => self.send_unplaced(&topic, waiting).await,
            }
        }
    }

    /// Sends one round: per partition, the waiting events in order, split into messages.
    async fn send_round(&self, topic: &str, partitions: i32, waiting: Vec<Pending>) {
        let mut by_partition: HashMap<i32, VecDeque<Pending>> = HashMap::new();
        for pending in waiting {
            by_partition
                .entry(partition_for(&pending.key, partitions))
                .or_default()
                .push_back(pending);
        }
        let mut messages = Vec::new();
        for (partition, mut events) in by_partition {
            while !events.is_empty() {
                messages.push((Some(partition), take_batch(&mut events, self.max_events)));
            }
        }
        self.send_messages(topic, messages).await;
    }

    /// Without a partition count, sends each event alone and lets the producer place it by its
    /// key, as single messages always are.
    async fn send_unplaced(&self, topic: &str, waiting: Vec<Pending>) {
        let messages = waiting.into_iter().map(|p| (None, vec![p])).collect();
        self.send_messages(topic, messages).await;
    }

    /// Hands the messages to the producer in order (it keeps a partition's messages in the order
    /// they were queued), then tells each event how its message fared.
    async fn send_messages(&self, topic: &str, messages: Vec<(Option<i32>, Vec<Pending>)>) {
        let mut queued = Vec::with_capacity(messages.len());
        for (partition, batch) in messages {
            let delivery = self.queue_batch(topic, partition, &batch).await;
            queued.push((batch, delivery));
        }
        let outcomes = queued.into_iter().map(|(batch, delivery)| async move {
            let result = match delivery {
                Ok(delivery) => acknowledged(delivery).await,
                Err(err) => Err(err),
            };
            finish(batch, &result);
        });
        futures::future::join_all(outcomes).await;
    }

    async fn queue_batch(
        &self,
        topic: &str,
        partition: Option<i32>,
        batch: &[Pending],
    ) -> Result<DeliveryFuture, KafkaError> {
        let Some(first) = batch.first() else {
            return Err(KafkaError::Canceled);
        };
        metrics::histogram!("kafka_batch_events").record(batch.len() as f64);
        let joined;
        let payload = if batch.len() == 1 {
            &first.payload
        } else {
            joined = join_array(batch.iter().map(|p| p.payload.as_slice()));
            &joined
        };
        self.publisher
            .queue_message(topic, partition, &first.key, payload, first.headers.clone())
            .await
    }

    /// The topic's partition count: read once on first use, then re-read in the background
    /// when it is older than `PARTITIONS_TTL` while the known count goes on being used.
    async fn partition_count(self: Arc<Self>, topic: &str) -> Option<i32> {
        let known = {
            let mut partitions = lock(&self.partitions);
            match partitions.get_mut(topic) {
                Some(known) => {
                    if known.read_at.elapsed() >= PARTITIONS_TTL && !known.refreshing {
                        known.refreshing = true;
                        let inner = Arc::clone(&self);
                        let topic = topic.to_owned();
                        tokio::spawn(async move { inner.read_partition_count(&topic).await });
                    }
                    Some(known.count)
                }
                None => None,
            }
        };
        match known {
            Some(count) => Some(count),
            None => self.read_partition_count(topic).await,
        }
    }

    /// Reads and remembers the partition count; after a failure the known count (if any) is
    /// kept and read again a `PARTITIONS_TTL` later.
    async fn read_partition_count(&self, topic: &str) -> Option<i32> {
        let read = self.publisher.partition_count(topic).await;
        let mut partitions = lock(&self.partitions);
        match read {
            Ok(count) => {
                partitions.insert(
                    topic.to_owned(),
                    PartitionCount {
                        count,
                        read_at: Instant::now(),
                        refreshing: false,
                    },
                );
                Some(count)
            }
            Err(err) => {
                tracing::warn!(topic, error = %err, "reading the partition count failed");
                let known = partitions.get_mut(topic)?;
                known.read_at = Instant::now();
                known.refreshing = false;
                Some(known.count)
            }
        }
    }
}

/// Should a lane's task end early (cancelled at shutdown, or a panic), removes the lane: its
/// waiting events are dropped, so their publishers get an error instead of waiting forever, and
/// the next event starts a new task.
struct IdleOnExit<'a> {
    inner: &'a Inner,
    topic: &'a str,
    armed: bool,
}

impl Drop for IdleOnExit<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.inner.lanes).remove(self.topic);
        }
    }
}

/// Tells every event of a batch how its message fared.
fn finish(batch: impl IntoIterator<Item = Pending>, result: &Result<(), KafkaError>) {
    for pending in batch {
        let _ = pending.done.send(result.clone());
    }
}

/// Takes the oldest waiting events, up to `max_events` and about `MAX_BYTES` (always at least
/// one).
fn take_batch(waiting: &mut VecDeque<Pending>, max_events: usize) -> Vec<Pending> {
    let mut bytes = 0;
    let count = waiting
        .iter()
        .take(max_events)
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
        let mut waiting: VecDeque<Pending> = (0..1_500).map(|_| pending(10)).collect();
        assert_eq!(take_batch(&mut waiting, MAX_EVENTS).len(), MAX_EVENTS);
        assert_eq!(waiting.len(), 500);
        assert_eq!(take_batch(&mut waiting, 1).len(), 1, "unbatched");

        let mut waiting: VecDeque<Pending> = (0..100).map(|_| pending(100 * 1024)).collect();
        let batch = take_batch(&mut waiting, MAX_EVENTS);
        assert_eq!(batch.len(), 2, "two of 100 KiB fit in 256 KiB");

        let mut waiting = VecDeque::from([pending(MAX_BYTES * 2), pending(1)]);
        let batch = take_batch(&mut waiting, MAX_EVENTS);
        assert_eq!(batch.len(), 1, "an oversized event goes alone");
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
        let seqs: Vec<i32> = crate::kafka::decode_payload::<Seq>(&joined)
            .into_iter()
            .map(|e| e.unwrap().event.n)
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
        let single = crate::kafka::decode_payload::<Seq>(&envelopes[1]);
        assert_eq!(single.len(), 1);
        assert_eq!(single.into_iter().next().unwrap().unwrap().event.n, 1);

        // One bad element spoils only itself.
        let bad: &[u8] = b"{\"id\":1}";
        let mixed = join_array([envelopes[0].as_slice(), bad, &envelopes[2]].into_iter());
        let decoded = crate::kafka::decode_payload::<Seq>(&mixed);
        assert_eq!(decoded.len(), 3);
        assert!(decoded[0].is_ok() && decoded[1].is_err() && decoded[2].is_ok());
        // Not JSON at all: one error.
        let broken = crate::kafka::decode_payload::<Seq>(b"[nope");
        assert!(broken.len() == 1 && broken[0].is_err());
    }
}
