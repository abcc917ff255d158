//! Kafka producer and consumer set-up, and publishing/reading enveloped events with trace context.

use std::{collections::HashMap, sync::Arc, time::Duration};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
    util::Timeout,
};
use serde::{Serialize, de::DeserializeOwned};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::{ConfigError, Env},
    events::Envelope,
};

/// How to reach the Kafka cluster.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// How long a produce may take before it counts as failed.
    pub produce_timeout: Duration,
    /// How long the producer gathers messages into one request (librdkafka `linger.ms`).
    pub linger_ms: u32,
    /// Further librdkafka producer properties (`name=value` pairs), applied last.
    pub producer_options: Vec<(String, String)>,
    /// Further librdkafka consumer properties (`name=value` pairs), applied last.
    pub consumer_options: Vec<(String, String)>,
    /// librdkafka debug contexts (e.g. `cgrp,fetch`), off when empty.
    pub debug: Option<String>,
}

/// Producer properties that carry the delivery guarantees and cannot be overridden.
const FIXED_PRODUCER: &[&str] = &["acks", "enable.idempotence", "partitioner"];
/// Consumer properties that carry the commit-after-processing guarantee and cannot be overridden.
const FIXED_CONSUMER: &[&str] = &[
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
];

/// Parses the `name=value,name=value` of setting `setting`, refusing the `fixed` properties.
fn client_options(
    setting: &str,
    raw: Option<&str>,
    fixed: &[&str],
) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |reason: String| ConfigError {
        name: setting.into(),
        reason,
    };
    let mut options = Vec::new();
    for pair in raw
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("{pair:?} is not name=value")))?;
        let name = name.trim();
        if fixed.contains(&name) {
            return Err(bad(format!(
                "{name} is fixed: events are acknowledged by all replicas, never duplicated, \
                 and consumed offsets are committed only after processing"
            )));
        }
        options.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(options)
}

impl KafkaConfig {
    /// Reads `KAFKA_BROKERS`, `KAFKA_PRODUCE_TIMEOUT_MS`, `KAFKA_LINGER_MS`,
    /// `KAFKA_PRODUCER_OPTIONS`, `KAFKA_CONSUMER_OPTIONS` and `KAFKA_DEBUG`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            brokers: env.string_or("KAFKA_BROKERS", "127.0.0.1:9092"),
            produce_timeout: env.millis_or("KAFKA_PRODUCE_TIMEOUT_MS", 5_000)?,
            linger_ms: env.parse_or("KAFKA_LINGER_MS", 2)?,
            producer_options: client_options(
                "KAFKA_PRODUCER_OPTIONS",
                env.get("KAFKA_PRODUCER_OPTIONS").as_deref(),
                FIXED_PRODUCER,
            )?,
            consumer_options: client_options(
                "KAFKA_CONSUMER_OPTIONS",
                env.get("KAFKA_CONSUMER_OPTIONS").as_deref(),
                FIXED_CONSUMER,
            )?,
            debug: env.get("KAFKA_DEBUG"),
        })
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("broker.address.family", "v4");
        if let Some(debug) = &self.debug {
            config.set("debug", debug);
        }
        config
    }

    /// A producer that waits for all in-sync replicas and never duplicates on retry.
    ///
    /// Batches go uncompressed: events are a few hundred bytes and a batch holds few of them at
    /// the rates where latency matters, where librdkafka's fresh LZ4 state for every request
    /// cost more than the bytes it saved. `KAFKA_PRODUCER_OPTIONS=compression.type=lz4` turns
    /// compression back on.
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        let timeout_ms = self.produce_timeout.as_millis().to_string();
        let mut config = self.base();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("partitioner", "consistent_random")
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.num.messages", "10000")
            .set("message.timeout.ms", &timeout_ms)
            .set("compression.type", "none");
        for (name, value) in &self.producer_options {
            config.set(name, value);
        }
        config.create()
    }

    /// A consumer in `group` that commits offsets only when told to.
    pub fn consumer(&self, group: &str) -> Result<StreamConsumer, KafkaError> {
        let mut config = self.base();
        config
            .set("session.timeout.ms", "10000")
            .set("topic.metadata.refresh.interval.ms", "5000");
        for (name, value) in &self.consumer_options {
            config.set(name, value);
        }
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create()
    }

    /// An admin client for topic management.
    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
        self.base().create()
    }
}

/// Creates each topic with at least `partitions` partitions, growing existing ones; never shrinks.
pub async fn ensure_topics(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    topics: &[String],
    partitions: i32,
) -> Result<(), KafkaError> {
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic, ?code, "topic creation failed");
                });
            }
        }
    }
    let current = topic_partitions(admin, topics).await?;
    let grow: Vec<NewPartitions<'_>> = topics
        .iter()
        .filter(|t| {
            current
                .get(t.as_str())
                .is_some_and(|&n| (n as i32) < partitions)
        })
        .map(|t| NewPartitions::new(t, partitions as usize))
        .collect();
    if !grow.is_empty() {
        for result in admin.create_partitions(&grow, &options).await? {
            if let Err((topic, code)) = result {
                tracing::error!(topic, ?code, "partition growth failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}

/// Partition count per existing topic.
pub async fn topic_partitions(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    topics: &[String],
) -> Result<HashMap<String, usize>, KafkaError> {
    let mut out = HashMap::new();
    for topic in topics {
        let admin = Arc::clone(admin);
        let name = topic.clone();
        let count = tokio::task::spawn_blocking(move || partitions_of(admin.inner(), &name))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        if let Some(count) = count {
            out.insert(topic.clone(), count);
        }
    }
    Ok(out)
}

/// Reads a topic's partition count from the cluster (blocking); `None` when it does not exist.
fn partitions_of<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<Option<usize>, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(5)))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Deletes topics; missing ones are fine.
pub async fn delete_topics(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
) -> Result<(), KafkaError> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.delete_topics(&names, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The event could not be encoded.
    #[error("encoding the event failed: {0}")]
    Encode(#[from] serde_json::Error),
    /// The broker did not acknowledge the event.
    #[error("the broker did not acknowledge the event: {0}")]
    Kafka(#[from] KafkaError),
}

/// Publishes enveloped events, carrying the current trace context in message headers.
#[derive(Clone)]
pub struct EventPublisher {
    producer: FutureProducer,
    timeout: Duration,
}

impl EventPublisher {
    /// Wraps a producer.
    pub fn new(producer: FutureProducer, timeout: Duration) -> Self {
        Self { producer, timeout }
    }

    /// Publishes one event and waits for the broker's acknowledgement (acks=all).
    pub async fn publish<E: Serialize>(
        &self,
        topic: &str,
        key: &str,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        self.send(topic, None, key, envelope).await
    }

    /// Publishes one event to one partition and waits for the acknowledgement.
    pub async fn publish_to_partition<E: Serialize>(
        &self,
        topic: &str,
        partition: i32,
        key: &str,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        self.send(topic, Some(partition), key, envelope).await
    }

    /// Publishes an already encoded event (an outbox row) and waits for the acknowledgement.
    pub async fn publish_encoded(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(), PublishError> {
        self.send_bytes(topic, None, key, payload).await
    }

    async fn send<E: Serialize>(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &str,
        envelope: &Envelope<E>,
    ) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(envelope)?;
        self.send_bytes(topic, partition, key, &payload).await
    }

    async fn send_bytes(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &str,
        payload: &[u8],
    ) -> Result<(), PublishError> {
        let delivery = self
            .queue_message(topic, partition, key, payload, trace_headers())
            .await?;
        Ok(acknowledged(delivery).await?)
    }

    /// Hands one message to the producer, waiting only while its queue is full (up to the
    /// produce timeout), and returns the acknowledgement to wait for. Messages queued one after
    /// another keep that order within their partition.
    pub(crate) async fn queue_message(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<DeliveryFuture, KafkaError> {
        let deadline = std::time::Instant::now() + self.timeout;
        let mut record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        record.partition = partition;
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if std::time::Instant::now() < deadline =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// How many partitions `topic` has, from the cluster's metadata.
    pub async fn partition_count(&self, topic: &str) -> Result<i32, KafkaError> {
        let producer = self.producer.clone();
        let name = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            partitions_of(rdkafka::producer::Producer::client(&producer), &name)
        })
        .await
        .map_err(|_| KafkaError::Canceled)??
        .map(|count| count as i32)
        .ok_or(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ))
    }

    /// The underlying producer.
    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Waits for in-flight messages to be delivered.
    pub fn flush(&self, timeout: Duration) {
        if let Err(err) =
            rdkafka::producer::Producer::flush(&self.producer, Timeout::After(timeout))
        {
            tracing::warn!(error = %err, "producer flush incomplete at shutdown");
        }
    }
}

/// Waits for the broker's answer to a queued message.
pub(crate) async fn acknowledged(delivery: DeliveryFuture) -> Result<(), KafkaError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((err, _))) => Err(err),
        Err(_) => Err(KafkaError::Canceled),
    }
}

/// The partition librdkafka's default partitioner (`consistent_random`: CRC-32 of the key modulo
/// the partition count; not overridable here) gives a keyed message, so batches sent to an explicit
/// partition land where single messages with the same key do.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let partitions = u32::try_from(partitions.max(1)).unwrap_or(1);
    (crc32fast::hash(key.as_bytes()) % partitions) as i32
}

struct HeaderInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Headers carrying the current span's trace context (none outside a traced span).
pub(crate) fn trace_headers() -> OwnedHeaders {
    let mut carrier = HashMap::new();
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut carrier));
    carrier.iter().fold(OwnedHeaders::new(), |headers, (k, v)| {
        headers.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        })
    })
}

struct MessageExtractor(HashMap<String, String>);

impl Extractor for MessageExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Makes `span` a child of the trace context carried in a message's headers.
pub fn link_span_to_message(span: &tracing::Span, message: &BorrowedMessage<'_>) {
    let Some(headers) = message.headers() else {
        return;
    };
    let carrier: HashMap<String, String> = headers
        .iter()
        .filter_map(|h| Some((h.key.to_owned(), String::from_utf8(h.value?.to_vec()).ok()?)))
        .collect();
    let parent = TraceContextPropagator::new().extract(&MessageExtractor(carrier));
    let _ = span.set_parent(parent);
}

/// Decodes an enveloped event from a message payload.
pub fn decode<E: DeserializeOwned>(
    message: &BorrowedMessage<'_>,
) -> Result<Envelope<E>, serde_json::Error> {
    serde_json::from_slice(message.payload().unwrap_or_default())
}

/// Decodes every enveloped event a message carries (one envelope, or a batch of them), each on
/// its own: an event that does not decode spoils none of the others.
pub fn decode_all<E: DeserializeOwned>(
    message: &BorrowedMessage<'_>,
) -> Vec<Result<Envelope<E>, serde_json::Error>> {
    decode_payload(message.payload().unwrap_or_default())
}

/// Decodes a message payload: a JSON envelope, or a JSON array of envelopes (a batch), one
/// result per event.
///
/// A batch is read in one pass; only when that fails is it split into its elements and each read
/// on its own, so one bad event spoils only itself.
pub fn decode_payload<E: DeserializeOwned>(
    payload: &[u8],
) -> Vec<Result<Envelope<E>, serde_json::Error>> {
    if payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        if let Ok(envelopes) = serde_json::from_slice::<Vec<Envelope<E>>>(payload) {
            return envelopes.into_iter().map(Ok).collect();
        }
        match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(payload) {
            Ok(items) => items
                .into_iter()
                .map(|item| serde_json::from_str(item.get()))
                .collect(),
            Err(err) => vec![Err(err)],
        }
    } else {
        vec![serde_json::from_slice(payload)]
    }
}

/// Checks that the broker answers a metadata request within two seconds.
pub async fn ping(producer: &FutureProducer) -> Result<(), KafkaError> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || {
        rdkafka::producer::Producer::client(&producer)
            .fetch_metadata(None, Timeout::After(Duration::from_secs(2)))
            .map(|_| ())
    })
    .await
    .map_err(|_| KafkaError::Canceled)?
}

/// Commits a consumer's stored offsets synchronously.
pub fn commit(consumer: &StreamConsumer) -> Result<(), KafkaError> {
    match consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_options_parse_and_the_guarantees_cannot_be_switched_off() {
        let options = client_options(
            "KAFKA_PRODUCER_OPTIONS",
            Some("linger.ms=5, queue.buffering.max.kbytes=65536"),
            FIXED_PRODUCER,
        )
        .unwrap();
        assert_eq!(
            options,
            vec![
                ("linger.ms".to_owned(), "5".to_owned()),
                ("queue.buffering.max.kbytes".to_owned(), "65536".to_owned())
            ]
        );
        assert!(
            client_options("KAFKA_PRODUCER_OPTIONS", None, FIXED_PRODUCER)
                .unwrap()
                .is_empty()
        );
        for bad in [
            "acks=1",
            "enable.idempotence=false",
            "partitioner=murmur2",
            "linger.ms",
        ] {
            let err =
                client_options("KAFKA_PRODUCER_OPTIONS", Some(bad), FIXED_PRODUCER).unwrap_err();
            assert!(err.to_string().contains("KAFKA_PRODUCER_OPTIONS"), "{err}");
        }
        let consumer = client_options(
            "KAFKA_CONSUMER_OPTIONS",
            Some("fetch.wait.max.ms=100,fetch.min.bytes=65536"),
            FIXED_CONSUMER,
        )
        .unwrap();
        assert_eq!(consumer.len(), 2);
        for bad in [
            "enable.auto.commit=true",
            "group.id=x",
            "auto.offset.reset=latest",
        ] {
            let err =
                client_options("KAFKA_CONSUMER_OPTIONS", Some(bad), FIXED_CONSUMER).unwrap_err();
            assert!(err.to_string().contains("KAFKA_CONSUMER_OPTIONS"), "{err}");
        }
    }
}
