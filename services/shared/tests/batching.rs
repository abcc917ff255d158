//! Batched publishing against the real broker: where events land, in what order, in how many
//! messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use rdkafka::{
    Message,
    consumer::{Consumer, StreamConsumer},
    producer::FutureRecord,
    util::Timeout,
};
use serde::{Deserialize, Serialize};
use shared::{
    batching::BatchPublisher,
    config::Env,
    events::Envelope,
    ids::SaleId,
    kafka::{EventPublisher, KafkaConfig, decode_payload, ensure_topics, partition_for},
};
use time::OffsetDateTime;
use uuid::Uuid;

const PARTITIONS: i32 = 3;

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    key: String,
    seq: u32,
}

fn kafka() -> KafkaConfig {
    KafkaConfig::from_env(&Env::default()).expect("Kafka settings")
}

async fn new_topic(name: &str) -> String {
    let topic = format!("test-{name}-{}", Uuid::new_v4());
    let admin = Arc::new(kafka().admin().expect("admin client"));
    ensure_topics(&admin, std::slice::from_ref(&topic), PARTITIONS)
        .await
        .expect("topic created");
    topic
}

fn envelope(key: &str, seq: u32) -> Envelope<Step> {
    Envelope::new(
        SaleId::parse("batching").expect("sale id"),
        OffsetDateTime::now_utc(),
        &format!("{key}/{seq}"),
        Step {
            key: key.to_owned(),
            seq,
        },
    )
}

/// Publishes steps `0..steps` of every key, step by step across the keys, starting each publish
/// in that order while up to 200 are in flight, so rounds go out while later events arrive.
async fn publish_all(publisher: &BatchPublisher, topic: &str, keys: &[String], steps: u32) {
    let order: Vec<(&String, u32)> = (0..steps)
        .flat_map(|seq| keys.iter().map(move |key| (key, seq)))
        .collect();
    let results: Vec<_> = futures::stream::iter(order)
        .map(|(key, seq)| async move {
            let event = envelope(key, seq);
            publisher.publish(topic, key, &event).await
        })
        .buffered(200)
        .collect()
        .await;
    for result in results {
        result.expect("acknowledged");
    }
}

/// Every message of `topic` until `events` events were read: (partition, events it carried).
async fn read_messages(topic: &str, events: usize) -> Vec<(i32, Vec<Envelope<Step>>)> {
    let consumer: StreamConsumer = kafka()
        .consumer(&format!("reader-{}", Uuid::new_v4()))
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut messages = Vec::new();
    let mut read = 0;
    while read < events {
        let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {read} of {events} events arrived"))
            .expect("message");
        let decoded: Vec<Envelope<Step>> = decode_payload(message.payload().unwrap_or_default())
            .into_iter()
            .map(|event| event.expect("decodable"))
            .collect();
        read += decoded.len();
        messages.push((message.partition(), decoded));
    }
    messages
}

#[tokio::test]
async fn partition_for_agrees_with_the_producers_default_partitioner() {
    let topic = new_topic("partitioner").await;
    let producer = kafka().producer().expect("producer");
    let mut used = std::collections::HashSet::new();
    // Fixed keys (the topic is new each run), chosen so that they land on every partition: with
    // random keys a run could, rarely, leave one out and fail the last check.
    for i in 0..30 {
        let key = format!("reservation-{i}");
        let partition = producer
            .send(
                FutureRecord::to(&topic).key(&key).payload("x"),
                Timeout::After(Duration::from_secs(10)),
            )
            .await
            .expect("delivered")
            .partition;
        assert_eq!(partition, partition_for(&key, PARTITIONS), "key {key}");
        used.insert(partition);
    }
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "the keys spread over every partition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_share_messages_and_keep_each_keys_order_and_partition() {
    let topic = new_topic("batched").await;
    let publisher = BatchPublisher::new(EventPublisher::new(
        kafka().producer().expect("producer"),
        Duration::from_secs(10),
    ));
    let keys: Vec<String> = (0..40).map(|_| Uuid::new_v4().to_string()).collect();
    let steps = 25;
    publish_all(&publisher, &topic, &keys, steps).await;

    let total = keys.len() * steps as usize;
    let messages = read_messages(&topic, total).await;
    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    for (partition, events) in &messages {
        for event in events {
            assert_eq!(
                *partition,
                partition_for(&event.event.key, PARTITIONS),
                "an event in a batch landed where its key does not belong"
            );
            seen.entry(event.event.key.clone())
                .or_default()
                .push(event.event.seq);
        }
    }
    assert_eq!(seen.len(), keys.len());
    for (key, seqs) in &seen {
        assert_eq!(
            *seqs,
            (0..steps).collect::<Vec<_>>(),
            "key {key}: events lost, repeated or out of order"
        );
    }
    assert!(
        messages.len() < total / 4,
        "{} messages for {total} events: not batched",
        messages.len()
    );
    assert!(
        messages.len() > 2 * PARTITIONS as usize,
        "{} messages: the events went out in too few rounds to test order across rounds",
        messages.len()
    );
}

/// Control for the test above: the same publishing with one event per message (the rollout
/// setting) makes one message per event, so the message count there comes from batching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbatched_every_event_is_its_own_message_in_its_keys_partition() {
    let topic = new_topic("unbatched").await;
    let publisher = BatchPublisher::unbatched(EventPublisher::new(
        kafka().producer().expect("producer"),
        Duration::from_secs(10),
    ));
    let keys: Vec<String> = (0..10).map(|_| Uuid::new_v4().to_string()).collect();
    publish_all(&publisher, &topic, &keys, 5).await;
    let messages = read_messages(&topic, 50).await;
    assert_eq!(messages.len(), 50);
    for (partition, events) in &messages {
        assert_eq!(events.len(), 1);
        assert_eq!(*partition, partition_for(&events[0].event.key, PARTITIONS));
    }
}

#[tokio::test]
async fn a_missing_topic_fails_every_waiting_event() {
    let publisher = BatchPublisher::new(EventPublisher::new(
        kafka().producer().expect("producer"),
        Duration::from_secs(5),
    ));
    let topic = format!("test-missing-{}", Uuid::new_v4());
    let (publisher, topic) = (&publisher, &topic);
    let results = futures::future::join_all((0..3).map(|seq| async move {
        let event = envelope("k", seq);
        publisher.publish(topic, "k", &event).await
    }))
    .await;
    assert!(results.iter().all(Result::is_err), "{results:?}");
}
