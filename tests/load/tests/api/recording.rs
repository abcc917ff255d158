//! A run starts only once booking records its freshly provisioned sale: the wait that keeps the
//! recorder's catch-up on a just-created topic out of the measurement.

use std::time::Duration;

use loadtest::sale::{self, SaleShape};
use time::OffsetDateTime;

use crate::helpers::Stack;

fn shape(sale_id: shared::ids::SaleId) -> SaleShape {
    SaleShape {
        sale_id,
        zones: 1,
        seats_per_zone: 10,
        per_user_cap: 2,
        hold_ttl_seconds: 60,
        partitions: 1,
        price_minor: 100,
        queue: None,
        opens_in_seconds: 0,
    }
}

#[tokio::test]
async fn the_wait_ends_when_booking_records_this_provisioning_and_names_a_sale_it_never_records() {
    let stack = Stack::start("recording").await;
    let provisioner = sale::provisioner(&stack.backends.redis, &stack.backends.kafka)
        .await
        .unwrap();
    let db = stack
        .backends
        .postgres
        .pool(booking::startup::SCHEMA)
        .unwrap();

    let provisioned_at = OffsetDateTime::now_utc();
    provisioner
        .apply(&shape(stack.sale.clone()).spec().unwrap())
        .await
        .unwrap();
    sale::wait_until_recorded(&db, &stack.sale, provisioned_at, Duration::from_secs(60))
        .await
        .unwrap();
    let recorded = booking::store::configured_at(&db, &stack.sale)
        .await
        .unwrap()
        .expect("booking recorded the sale's configuration");
    assert!(recorded >= provisioned_at - Duration::from_millis(1));

    // A configuration recorded before a later provisioning does not end the wait for that one.
    let later = OffsetDateTime::now_utc();
    let err = sale::wait_until_recorded(&db, &stack.sale, later, Duration::from_secs(1))
        .await
        .expect_err("nothing was provisioned after `later`");
    assert!(err.to_string().contains(stack.sale.as_str()), "{err}");

    // A sale this booking does not serve is never recorded: the wait says which.
    let unserved = sale::new_sale_id("unserved").unwrap();
    provisioner
        .apply(&shape(unserved.clone()).spec().unwrap())
        .await
        .unwrap();
    let err = sale::wait_until_recorded(
        &db,
        &unserved,
        OffsetDateTime::now_utc() - Duration::from_secs(60),
        Duration::from_secs(3),
    )
    .await
    .expect_err("booking does not serve this sale");
    assert!(err.to_string().contains(unserved.as_str()), "{err}");
    sale::forget(&stack.backends.redis, &unserved)
        .await
        .unwrap();
}
