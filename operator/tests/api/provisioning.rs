//! Provisioning through the operator's backend against the real Redis and broker.

use operator::backend::BackendError;
use provisioning::ProvisionError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use shared::{ids::ZoneId, keys::SaleKeys};

use crate::{
    helpers::{forget, redis, spec},
    testsupport::{PrivateBroker, backend_with_kafka, local_backend, unique_sale},
};

async fn hold(sale: &provisioning::SaleSpec, seats: i64) {
    let zone = SaleKeys::new(&sale.sale_id).zone(&ZoneId::parse("floor").unwrap());
    let _: () = redis::pipe()
        .hincr(&zone, "available", -seats)
        .hincr(&zone, "held", seats)
        .query_async(&mut redis().await)
        .await
        .unwrap();
}

#[tokio::test]
async fn topics_are_created_then_grown_and_never_shrunk() {
    let backend = local_backend();
    let sale = unique_sale("topics");
    backend.provision(&spec(&sale, 10, 2)).await.unwrap();
    let id = spec(&sale, 10, 2).sale_id;
    let topics = backend.topic_partitions(&id).await.unwrap();
    assert_eq!(topics.len(), 2, "{topics:?}");
    assert!(topics.values().all(|&n| n == 2), "{topics:?}");

    // Kafka grows topics; a broker without CreatePartitions (tansu, the local broker) refuses,
    // and then provisioning stops with that refusal before touching the inventory.
    let grown = match backend.provision(&spec(&sale, 12, 4)).await {
        Ok(()) => 4,
        Err(BackendError::Provision(ProvisionError::Kafka(KafkaError::AdminOp(
            RDKafkaErrorCode::UnsupportedFeature,
        )))) => {
            let zone = &backend.inventory(&spec(&sale, 10, 2)).await.unwrap()[0];
            assert_eq!(zone.capacity, 10, "the refused apply did not seed");
            2
        }
        Err(other) => panic!("growing partitions failed: {other:?}"),
    };
    let topics = backend.topic_partitions(&id).await.unwrap();
    assert!(topics.values().all(|&n| n == grown), "{topics:?}");

    backend.provision(&spec(&sale, 10, 1)).await.unwrap();
    let topics = backend.topic_partitions(&id).await.unwrap();
    assert!(
        topics.values().all(|&n| n == grown),
        "a smaller count never shrinks: {topics:?}"
    );
    forget(&spec(&sale, 10, 1)).await;
}

#[tokio::test]
async fn inventory_is_seeded_once_and_a_reapply_keeps_live_counters() {
    let backend = local_backend();
    let sale = spec(&unique_sale("seed"), 100, 1);
    backend.provision(&sale).await.unwrap();
    let seeded = backend.inventory(&sale).await.unwrap();
    assert_eq!(
        (seeded[0].capacity, seeded[0].available, seeded[0].held),
        (100, 100, 0)
    );

    hold(&sale, 7).await;
    backend.provision(&sale).await.unwrap();
    let again = backend.inventory(&sale).await.unwrap();
    assert_eq!(
        (again[0].capacity, again[0].available, again[0].held),
        (100, 93, 7)
    );
    forget(&sale).await;
}

#[tokio::test]
async fn seats_added_during_a_live_sale_add_exactly_the_difference() {
    let backend = local_backend();
    let sale_id = unique_sale("grow");
    let before = spec(&sale_id, 100, 1);
    backend.provision(&before).await.unwrap();
    hold(&before, 30).await;

    let after = spec(&sale_id, 150, 1);
    backend.provision(&after).await.unwrap();
    let zone = &backend.inventory(&after).await.unwrap()[0];
    assert_eq!(
        (zone.capacity, zone.available, zone.held, zone.sold),
        (150, 120, 30, 0)
    );
    assert_eq!(zone.available + zone.held + zone.sold, zone.capacity);
    forget(&after).await;
}

#[tokio::test]
async fn fewer_seats_than_held_and_sold_are_refused_and_nothing_changes() {
    let backend = local_backend();
    let sale_id = unique_sale("shrink");
    let before = spec(&sale_id, 100, 1);
    backend.provision(&before).await.unwrap();
    hold(&before, 30).await;

    let err = backend.provision(&spec(&sale_id, 20, 1)).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Provision(ProvisionError::SeatsBelowCommitted(zones)) if zones == &[("floor".to_owned(), 30)]),
        "{err:?}"
    );
    assert_eq!(err.reason(), "SeatsBelowCommitted");
    let zone = &backend.inventory(&before).await.unwrap()[0];
    assert_eq!((zone.capacity, zone.available, zone.held), (100, 70, 30));

    // Down to exactly held + sold is allowed.
    backend.provision(&spec(&sale_id, 30, 1)).await.unwrap();
    let zone = &backend.inventory(&before).await.unwrap()[0];
    assert_eq!((zone.capacity, zone.available, zone.held), (30, 0, 30));
    forget(&before).await;
}

#[tokio::test]
async fn cleanup_removes_every_key_the_registry_entry_and_the_topics() {
    // Deleting topics on tansu deletes all of its topics: this test has a broker of its own.
    let broker = PrivateBroker::start();
    let backend = backend_with_kafka(&broker.brokers);
    let sale = spec(&unique_sale("cleanup"), 10, 1);
    backend.provision(&sale).await.unwrap();
    hold(&sale, 2).await;
    backend.delete(&sale.sale_id).await.unwrap();

    assert!(backend.inventory(&sale).await.unwrap().is_empty());
    let mut conn = redis().await;
    let pattern = SaleKeys::new(&sale.sale_id).all_pattern();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    let registered: bool = redis::cmd("SISMEMBER")
        .arg(shared::keys::SALES_REGISTRY)
        .arg(sale.sale_id.as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!registered);
    let topics = backend.topic_partitions(&sale.sale_id).await.unwrap();
    assert!(topics.is_empty(), "{topics:?}");
    // Deleting again is harmless.
    backend.delete(&sale.sale_id).await.unwrap();
}

#[tokio::test]
async fn an_invalid_spec_is_refused_before_anything_is_touched() {
    let backend = local_backend();
    let mut sale = spec(&unique_sale("invalid"), 10, 1);
    sale.ends_at = sale.starts_at;
    let err = backend.provision(&sale).await.unwrap_err();
    assert_eq!(err.reason(), "InvalidSpec");
    assert!(
        err.to_string().contains("endsAt: must be after startsAt"),
        "{err}"
    );
    assert!(backend.inventory(&sale).await.unwrap().is_empty());
}
