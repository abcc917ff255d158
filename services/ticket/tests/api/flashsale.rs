//! A show is a sale: its FlashSale manifest (endpoint and CLI), the demo seed, and
//! provisioning's refusal of a sale that disagrees with its show.

use std::{process::Command, time::Duration};

use provisioning::{SaleSpec, catalog::CatalogCheck};
use serde_json::{Value, json};

use crate::helpers::{Stack, fields, problem};

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../operator/examples/demo-sale.yaml"
);

/// Runs the real `ticket` binary against the stack's database and cache.
fn ticket(s: &Stack, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ticket"))
        .args(args)
        .env("DATABASE_URL", &s.database_url)
        .env("TICKET_CACHE_NAMESPACE", &s.namespace)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ticket {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_shows_manifest_is_a_valid_flashsale_with_its_zones_and_window() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let show = s
        .show(
            &s.owner,
            &event,
            &venue,
            "2030-01-01T19:00:00Z",
            "spring-gig",
        )
        .await;
    let path = format!("/api/v1/shows/{}/flashsale", show["id"].as_str().unwrap());
    let body = problem(s.get(&s.owner, &path).await, 422, "show_not_ready_for_sale").await;
    assert_eq!(fields(&body), ["zones"]);

    s.zone(&s.owner, &show, "stalls", 300, 4500).await;
    s.zone(&s.owner, &show, "box", 12, 15000).await;
    let response = s.get(&s.owner, &path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let yaml = response.text().await.unwrap();
    assert!(
        yaml.starts_with("apiVersion: booking-rush.dev/v1alpha1\nkind: FlashSale\n"),
        "{yaml}"
    );
    let spec = SaleSpec::from_yaml(&yaml).unwrap();
    spec.validate().unwrap();
    assert_eq!(spec.sale_id.as_str(), "spring-gig");
    assert_eq!(spec.hold_ttl_seconds, 300);
    let organizer: uuid::Uuid =
        sqlx::query_scalar("SELECT owner_id FROM events WHERE event_id = $1::uuid")
            .bind(event["id"].as_str().unwrap())
            .fetch_one(&s.db)
            .await
            .unwrap();
    assert_eq!(
        spec.organizer_id,
        Some(organizer),
        "the event's organizer may refund the sale's payments"
    );
    assert_eq!(
        spec.starts_at,
        time::macros::datetime!(2026-01-01 00:00:00 UTC)
    );
    assert_eq!(
        spec.ends_at,
        time::macros::datetime!(2030-12-31 23:59:59 UTC)
    );
    let zones: Vec<(String, u32, i64, String, u32)> = spec
        .zones
        .iter()
        .map(|z| {
            (
                z.id.to_string(),
                z.seats,
                z.price_minor,
                z.currency.clone(),
                z.per_user_cap,
            )
        })
        .collect();
    assert_eq!(
        zones,
        [
            ("box".into(), 12, 15000, "EUR".into(), 4),
            ("stalls".into(), 300, 4500, "EUR".into(), 4)
        ]
    );
    // The CLI prints the same manifest.
    assert_eq!(
        ticket(
            &s,
            &["render-flashsale", "--show", show["id"].as_str().unwrap()]
        ),
        yaml
    );

    // Without a sale id or window there is nothing to render, and it says what is missing.
    s.patch(
        &s.owner,
        &format!("/api/v1/shows/{}", show["id"].as_str().unwrap()),
        json!({"saleId": null, "saleStartsAt": null}),
    )
    .await;
    let body = problem(s.get(&s.owner, &path).await, 422, "show_not_ready_for_sale").await;
    assert_eq!(fields(&body), ["saleId", "saleStartsAt"]);
}

#[tokio::test]
async fn the_demo_seed_is_idempotent_and_renders_back_to_the_demo_sale() {
    let s = Stack::spawn().await;
    ticket(&s, &["seed-demo", "-f", DEMO]);
    let first = Stack::json(s.get(&s.anonymous, "/api/v1/events/demo-night").await, 200).await;
    ticket(&s, &["seed-demo", "-f", DEMO]);
    let second = Stack::json(s.get(&s.anonymous, "/api/v1/events/demo-night").await, 200).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["shows"], second["shows"]);
    let listed = Stack::json(s.get(&s.anonymous, "/api/v1/events").await, 200).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "seeding twice made one event"
    );
    let zones: Vec<(&str, i64, i64)> = second["shows"][0]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                z["id"].as_str().unwrap(),
                z["capacity"].as_i64().unwrap(),
                z["priceMinor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        zones,
        [
            ("floor", 1000, 12000),
            ("balcony", 500, 8000),
            ("vip", 50, 25000)
        ]
    );

    let show = second["shows"][0]["id"].as_str().unwrap();
    let rendered = ticket(&s, &["render-flashsale", "--show", show]);
    let demo = std::fs::read_to_string(DEMO).unwrap();
    let without_comments: String = demo
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        rendered, without_comments,
        "the demo show renders back to the demo sale"
    );
    let terms = Stack::json(s.get(&s.anonymous, "/api/v1/catalog/sales/demo").await, 200).await;
    assert_eq!(terms["showId"], show);
}

#[tokio::test]
async fn provisioning_refuses_a_sale_that_disagrees_with_its_show_and_lists_every_difference() {
    let s = Stack::spawn().await;
    ticket(&s, &["seed-demo", "-f", DEMO]);
    let demo = SaleSpec::from_yaml(&std::fs::read_to_string(DEMO).unwrap()).unwrap();
    let check = CatalogCheck::new(&s.base, None, Duration::from_secs(5));
    check.check(&demo).await.unwrap();

    let mut changed = demo.clone();
    changed.zones[2].seats = 60;
    changed.zones[1].price_minor = 7500;
    changed.zones[0].per_user_cap = 8;
    changed.zones.pop();
    changed.ends_at = time::macros::datetime!(2031-01-31 00:00:00 UTC);
    changed.hold_ttl_seconds = 600;
    changed.zones.push(provisioning::ZoneSpec {
        id: shared::ids::ZoneId::parse("lawn").unwrap(),
        seats: 10,
        price_minor: 100,
        currency: "USD".into(),
        per_user_cap: 1,
    });
    let differences: Vec<String> = check
        .check(&changed)
        .await
        .unwrap_err()
        .into_iter()
        .map(|d| d.field)
        .collect();
    assert_eq!(
        differences,
        [
            "endsAt",
            "holdTtlSeconds",
            "zones[floor].perUserCap",
            "zones[balcony].priceMinor",
            "zones[lawn]",
            "zones[vip]"
        ]
    );
    // The refusal comes before anything is provisioned.
    let refused = crate::helpers::provisioner(Some(&s.base))
        .await
        .apply(&changed)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains(
            "zones[balcony].priceMinor: the sale has 7500, its show in the catalog has 8000"
        ),
        "{refused}"
    );

    // A sale no show names is allowed; an unreachable catalog is an error, not a pass.
    let mut unnamed = demo.clone();
    unnamed.sale_id = shared::ids::SaleId::parse("not-in-the-catalog").unwrap();
    check.check(&unnamed).await.unwrap();
    let down = CatalogCheck::new("http://127.0.0.1:1", None, Duration::from_secs(2));
    let errors = down.check(&demo).await.unwrap_err();
    assert_eq!(errors[0].field, "catalog");
}

#[tokio::test]
async fn an_unpublished_shows_terms_are_checked_only_with_its_organizers_token() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let show = s
        .show(
            &s.owner,
            &event,
            &venue,
            "2030-01-01T19:00:00Z",
            "draft-sale",
        )
        .await;
    s.zone(&s.owner, &show, "floor", 10, 100).await;
    let yaml = s
        .get(
            &s.owner,
            &format!("/api/v1/shows/{}/flashsale", show["id"].as_str().unwrap()),
        )
        .await
        .text()
        .await
        .unwrap();
    let mut spec = SaleSpec::from_yaml(&yaml).unwrap();
    spec.zones[0].seats = 11;
    let anonymous = CatalogCheck::new(&s.base, None, Duration::from_secs(5));
    anonymous.check(&spec).await.unwrap();
    let organizer = CatalogCheck::new(
        &s.base,
        s.owner.token.clone().map(Into::into),
        Duration::from_secs(5),
    );
    let differences = organizer.check(&spec).await.unwrap_err();
    assert_eq!(differences[0].field, "zones[floor].seats");
    let terms: Value = Stack::json(
        s.get(&s.admin, "/api/v1/catalog/sales/draft-sale").await,
        200,
    )
    .await;
    assert_eq!(terms["zones"][0]["seats"], 10);
}
