//! Bad input gets a 4xx problem+json that names what is wrong, and changes nothing.

use serde_json::{Value, json};

use crate::helpers::{Stack, fields, problem};

#[tokio::test]
async fn missing_fields_are_each_named() {
    let s = Stack::spawn().await;
    let body = problem(
        s.post(&s.owner, "/api/v1/venues", json!({})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["name", "address", "city", "timezone"]);
    let body = problem(
        s.post(&s.owner, "/api/v1/events", json!({"description": "x"}))
            .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["slug", "title", "category"]);
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let shows = format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap());
    let body = problem(
        s.post(&s.owner, &shows, json!({})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["venueId", "startsAt"]);
    let venue = s.venue(&s.owner, "Hall", "Berlin").await;
    let show = s
        .show(&s.owner, &event, &venue, "2030-01-01T19:00:00Z", "gig-sale")
        .await;
    let zone = format!("/api/v1/shows/{}/zones/floor", show["id"].as_str().unwrap());
    let body = problem(s.put(&s.owner, &zone, json!({})).await, 422, "invalid_body").await;
    assert_eq!(
        fields(&body),
        ["name", "capacity", "priceMinor", "perUserCap", "currency"]
    );
}

#[tokio::test]
async fn an_end_before_its_start_is_refused() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Hall", "Berlin").await;
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let shows = format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap());
    let body = problem(
        s.post(
            &s.owner,
            &shows,
            json!({"venueId": venue["id"], "startsAt": "2030-01-01T19:00:00Z",
            "saleStartsAt": "2029-12-01T00:00:00Z", "saleEndsAt": "2029-11-01T00:00:00Z"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["saleEndsAt"]);
    let body = problem(
        s.post(
            &s.owner,
            &shows,
            json!({"venueId": venue["id"], "startsAt": "2030-01-01T19:00:00Z",
            "doorsAt": "2030-01-01T20:00:00Z"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["doorsAt"]);
    // A PATCH that moves the end before the stored start is refused the same way.
    let show = s
        .show(&s.owner, &event, &venue, "2030-01-01T19:00:00Z", "gig-sale")
        .await;
    let body = problem(
        s.patch(
            &s.owner,
            &format!("/api/v1/shows/{}", show["id"].as_str().unwrap()),
            json!({"saleEndsAt": "2025-01-01T00:00:00Z"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["saleEndsAt"]);
    let body = problem(
        s.post(
            &s.owner,
            &shows,
            json!({"venueId": venue["id"], "startsAt": "next friday"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["startsAt"]);
}

#[tokio::test]
async fn negative_capacity_price_or_cap_and_bad_currencies_are_refused() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Hall", "Berlin").await;
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let show = s
        .show(&s.owner, &event, &venue, "2030-01-01T19:00:00Z", "gig-sale")
        .await;
    let zone = format!("/api/v1/shows/{}/zones/floor", show["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"capacity": -1}), "capacity"),
        (json!({"capacity": 0}), "capacity"),
        (json!({"capacity": 1_000_001}), "capacity"),
        (json!({"priceMinor": -100}), "priceMinor"),
        (json!({"perUserCap": 0}), "perUserCap"),
        (json!({"currency": "euro"}), "currency"),
        (json!({"name": "   "}), "name"),
    ] {
        let mut zone_body = json!({"name": "Floor", "capacity": 10, "priceMinor": 100, "currency": "EUR", "perUserCap": 2});
        for (k, v) in body.as_object().unwrap() {
            zone_body[k] = v.clone();
        }
        let problem = problem(s.put(&s.owner, &zone, zone_body).await, 422, "invalid_body").await;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    let bad_zone = format!(
        "/api/v1/shows/{}/zones/Not_A_Zone",
        show["id"].as_str().unwrap()
    );
    let body = problem(
        s.put(&s.owner, &bad_zone, json!({"name": "X", "capacity": 1, "priceMinor": 1, "currency": "EUR", "perUserCap": 1})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["zone"]);
    let body = problem(
        s.put(&s.owner, &zone, json!({"name": "Floor", "capacity": "many", "priceMinor": 1, "currency": "EUR", "perUserCap": 1})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["capacity"]);
    // Nothing half-written: the show still has no zone.
    let current = Stack::json(
        s.get(
            &s.owner,
            &format!("/api/v1/shows/{}", show["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert!(current["zones"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_slugs_and_sale_ids_are_conflicts_naming_the_field() {
    let s = Stack::spawn().await;
    s.event(&s.owner, "gala", "Gala", "concert").await;
    let body = problem(
        s.post(
            &s.owner,
            "/api/v1/events",
            json!({"slug": "gala", "title": "Gala Again", "category": "concert"}),
        )
        .await,
        409,
        "slug_taken",
    )
    .await;
    assert_eq!(fields(&body), ["slug"]);
    // Slugs are per organizer while drafts; once one is published, the slug is that event's.
    let venue = s.venue(&s.other, "Hall", "Berlin").await;
    let (theirs, _) = s
        .published(
            &s.other,
            "gala",
            "Their Gala",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    assert_eq!(theirs["status"], "published");
    let mine = s.event(&s.owner, "mine", "Mine", "concert").await;
    let body = problem(
        s.patch(
            &s.owner,
            &format!("/api/v1/events/{}", mine["id"].as_str().unwrap()),
            json!({"slug": "gala"}),
        )
        .await,
        409,
        "slug_taken",
    )
    .await;
    assert_eq!(fields(&body), ["slug"]);
    let public = Stack::json(s.get(&s.anonymous, "/api/v1/events/gala").await, 200).await;
    assert_eq!(public["title"], "Their Gala");

    let my_venue = s.venue(&s.owner, "My Hall", "Berlin").await;
    s.show(
        &s.owner,
        &mine,
        &my_venue,
        "2030-01-01T19:00:00Z",
        "one-sale",
    )
    .await;
    let body = problem(
        s.post(&s.owner, &format!("/api/v1/events/{}/shows", mine["id"].as_str().unwrap()),
            json!({"venueId": my_venue["id"], "startsAt": "2030-02-01T19:00:00Z", "saleId": "one-sale"}))
        .await,
        409,
        "sale_id_taken",
    )
    .await;
    assert_eq!(fields(&body), ["saleId"]);
}

#[tokio::test]
async fn oversized_or_malformed_text_is_refused() {
    let s = Stack::spawn().await;
    for (body, field) in [
        (
            json!({"slug": "a", "title": "t".repeat(201), "category": "concert"}),
            "title",
        ),
        (
            json!({"slug": "a", "title": "T", "category": "concert", "description": "d".repeat(10_001)}),
            "description",
        ),
        (
            json!({"slug": "Not A Slug", "title": "T", "category": "concert"}),
            "slug",
        ),
        (
            json!({"slug": "a", "title": "T", "category": "c".repeat(41)}),
            "category",
        ),
        (
            json!({"slug": "a", "title": "T", "category": "concert", "imageUrls": ["ftp://x/y.png"]}),
            "imageUrls[0]",
        ),
        (
            json!({"slug": "a", "title": "T", "category": "concert", "imageUrls": vec!["https://x.example/a.png"; 11]}),
            "imageUrls",
        ),
        (
            json!({"slug": "a", "title": "T", "category": "concert", "price": 5}),
            "price",
        ),
    ] {
        let problem = problem(
            s.post(&s.owner, "/api/v1/events", body.clone()).await,
            422,
            "invalid_body",
        )
        .await;
        let named = fields(&problem);
        assert!(
            named.len() == 1 && named[0].starts_with(field),
            "{field}: {named:?}"
        );
    }
    let body = problem(
        s.post(&s.owner, "/api/v1/venues", json!({"name": "N", "address": "a".repeat(501), "city": "Berlin", "timezone": "Mars/Olympus"})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(fields(&body), ["address", "timezone"]);
    let broken = s
        .http
        .post(s.url("/api/v1/events"))
        .bearer_auth(s.owner.token.as_ref().unwrap())
        .header("content-type", "application/json")
        .body("{\"slug\":")
        .send()
        .await
        .unwrap();
    problem(broken, 400, "malformed_json").await;
    let huge = s
        .http
        .post(s.url("/api/v1/events"))
        .bearer_auth(s.owner.token.as_ref().unwrap())
        .json(&json!({"slug": "a", "title": "T", "category": "c", "description": "d".repeat(100_000)}))
        .send()
        .await
        .unwrap();
    problem(huge, 413, "body_too_large").await;
    // None of it was stored.
    let mine: Value = Stack::json(s.get(&s.owner, "/api/v1/catalog/events").await, 200).await;
    assert!(mine["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn publishing_an_incomplete_event_lists_what_is_missing() {
    let s = Stack::spawn().await;
    let event = s.event(&s.owner, "gig", "Gig", "concert").await;
    let publish = format!("/api/v1/events/{}/publish", event["id"].as_str().unwrap());
    let body = problem(
        s.post(&s.owner, &publish, json!({})).await,
        422,
        "event_incomplete",
    )
    .await;
    assert_eq!(fields(&body), ["shows"]);
    let venue = s.venue(&s.owner, "Hall", "Berlin").await;
    let show = Stack::json(
        s.post(
            &s.owner,
            &format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap()),
            json!({"venueId": venue["id"], "startsAt": "2030-01-01T19:00:00Z"}),
        )
        .await,
        201,
    )
    .await;
    let id = show["id"].as_str().unwrap();
    let body = problem(
        s.post(&s.owner, &publish, json!({})).await,
        422,
        "event_incomplete",
    )
    .await;
    assert_eq!(
        fields(&body),
        [
            format!("shows[{id}].saleId"),
            format!("shows[{id}].saleStartsAt"),
            format!("shows[{id}].saleEndsAt"),
            format!("shows[{id}].zones"),
        ]
    );
    s.patch(&s.owner, &format!("/api/v1/shows/{id}"),
        json!({"saleId": "gig-sale", "saleStartsAt": "2029-01-01T00:00:00Z", "saleEndsAt": "2029-12-31T00:00:00Z"}))
        .await;
    s.zone(&s.owner, &show, "floor", 10, 100).await;
    assert_eq!(s.post(&s.owner, &publish, json!({})).await.status(), 200);
    // A published event keeps what it needs: its last zone and its sale window stay.
    problem(
        s.delete(&s.owner, &format!("/api/v1/shows/{id}/zones/floor"))
            .await,
        422,
        "event_incomplete",
    )
    .await;
    let body = problem(
        s.patch(
            &s.owner,
            &format!("/api/v1/shows/{id}"),
            json!({"saleEndsAt": null}),
        )
        .await,
        422,
        "event_incomplete",
    )
    .await;
    assert_eq!(fields(&body), [format!("shows[{id}].saleEndsAt")]);
    problem(
        s.delete(&s.owner, &format!("/api/v1/shows/{id}")).await,
        422,
        "event_incomplete",
    )
    .await;
    let still = Stack::json(
        s.get(&s.anonymous, &format!("/api/v1/shows/{id}")).await,
        200,
    )
    .await;
    assert_eq!(still["zones"][0]["id"], "floor");
}
