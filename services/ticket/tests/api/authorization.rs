//! The authorization matrix: owner, other organizer, customer, anonymous and admin, for every
//! write and for reads of unpublished content.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Caller, Stack, problem};

/// Every write of the catalog, against a draft event with a show and a zone.
fn writes(event: &Value, show: &Value, venue: &Value) -> Vec<(Method, String, Option<Value>)> {
    let e = event["id"].as_str().unwrap();
    let s = show["id"].as_str().unwrap();
    let v = venue["id"].as_str().unwrap();
    vec![
        (
            Method::PATCH,
            format!("/api/v1/events/{e}"),
            Some(json!({"title": "Renamed"})),
        ),
        (
            Method::POST,
            format!("/api/v1/events/{e}/shows"),
            Some(json!({"venueId": v, "startsAt": "2030-06-01T19:00:00Z"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/shows/{s}"),
            Some(json!({"holdTtlSeconds": 120})),
        ),
        (
            Method::PUT,
            format!("/api/v1/shows/{s}/zones/balcony"),
            Some(
                json!({"name": "Balcony", "capacity": 10, "priceMinor": 100, "currency": "EUR", "perUserCap": 2}),
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/venues/{v}"),
            Some(json!({"name": "Renamed Hall"})),
        ),
    ]
}

async fn status(
    s: &Stack,
    who: &Caller,
    (method, path, body): &(Method, String, Option<Value>),
) -> u16 {
    s.send(who, method.clone(), path, body.clone())
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn only_organizers_and_admins_create_and_anonymous_callers_must_log_in() {
    let s = Stack::spawn().await;
    let venue = json!({"name": "Hall", "address": "1 Main Street", "city": "Berlin", "timezone": "Europe/Berlin"});
    let event = json!({"slug": "gala", "title": "Gala", "category": "concert"});
    for (path, body) in [("/api/v1/venues", &venue), ("/api/v1/events", &event)] {
        problem(
            s.post(&s.customer, path, body.clone()).await,
            403,
            "forbidden",
        )
        .await;
        problem(
            s.post(&s.anonymous, path, body.clone()).await,
            401,
            "missing_token",
        )
        .await;
        assert_eq!(s.post(&s.owner, path, body.clone()).await.status(), 201);
        assert_eq!(s.post(&s.admin, path, body.clone()).await.status(), 201);
    }
    for path in ["/api/v1/catalog/events", "/api/v1/catalog/venues"] {
        problem(s.get(&s.customer, path).await, 403, "forbidden").await;
        problem(s.get(&s.anonymous, path).await, 401, "missing_token").await;
    }
}

#[tokio::test]
async fn unpublished_content_is_a_404_to_everyone_but_its_organizer_and_admins() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Hidden Hall", "Berlin").await;
    let event = s
        .event(&s.owner, "secret-gig", "Secret Gig", "concert")
        .await;
    let show = s
        .show(
            &s.owner,
            &event,
            &venue,
            "2030-06-01T19:00:00Z",
            "secret-sale",
        )
        .await;
    s.zone(&s.owner, &show, "floor", 10, 1000).await;
    let e = event["id"].as_str().unwrap();
    let sh = show["id"].as_str().unwrap();
    let v = venue["id"].as_str().unwrap();
    let reads = [
        (format!("/api/v1/events/{e}"), "event_not_found"),
        ("/api/v1/events/secret-gig".to_owned(), "event_not_found"),
        (format!("/api/v1/shows/{sh}"), "show_not_found"),
        (format!("/api/v1/venues/{v}"), "venue_not_found"),
        (
            "/api/v1/catalog/sales/secret-sale".to_owned(),
            "sale_not_found",
        ),
    ];
    for (path, code) in &reads {
        for who in [&s.owner, &s.admin] {
            assert_eq!(s.get(who, path).await.status(), 200, "{path}");
        }
        for who in [&s.other, &s.customer, &s.anonymous] {
            problem(s.get(who, path).await, 404, code).await;
        }
    }
    // The FlashSale manifest is for its organizer and admins only.
    let flashsale = format!("/api/v1/shows/{sh}/flashsale");
    assert_eq!(s.get(&s.owner, &flashsale).await.status(), 200);
    assert_eq!(s.get(&s.admin, &flashsale).await.status(), 200);
    problem(s.get(&s.other, &flashsale).await, 404, "show_not_found").await;
    problem(s.get(&s.customer, &flashsale).await, 404, "show_not_found").await;
    problem(s.get(&s.anonymous, &flashsale).await, 401, "missing_token").await;

    // Listings: a draft shows up in its organizer's workspace only.
    let public: Value = s
        .get(&s.anonymous, "/api/v1/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["items"].as_array().unwrap().len(), 0);
    let mine: Value = s
        .get(&s.owner, "/api/v1/catalog/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["id"], event["id"]);
    let theirs: Value = s
        .get(&s.other, "/api/v1/catalog/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let all: Value = s
        .get(&s.admin, "/api/v1/catalog/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"][0]["id"], event["id"]);
}

#[tokio::test]
async fn writes_to_a_draft_are_404_to_strangers_401_to_anonymous_and_allowed_to_owner_and_admin() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Draft Hall", "Berlin").await;
    let event = s.event(&s.owner, "draft-gig", "Draft Gig", "concert").await;
    let show = s
        .show(
            &s.owner,
            &event,
            &venue,
            "2030-06-01T19:00:00Z",
            "draft-sale",
        )
        .await;
    for write in writes(&event, &show, &venue) {
        for who in [&s.other, &s.customer] {
            assert_eq!(
                status(&s, who, &write).await,
                404,
                "{} {}",
                write.0,
                write.1
            );
        }
        assert_eq!(status(&s, &s.anonymous, &write).await, 401, "{}", write.1);
        assert!(
            (200..300).contains(&status(&s, &s.owner, &write).await),
            "owner: {} {}",
            write.0,
            write.1
        );
        assert!(
            (200..300).contains(&status(&s, &s.admin, &write).await),
            "admin: {} {}",
            write.0,
            write.1
        );
    }
    // Nothing a refused caller sent was applied: the title is the owner's, not a stranger's.
    let current: Value = s
        .get(
            &s.owner,
            &format!("/api/v1/events/{}", event["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["title"], "Renamed");

    // Deleting: strangers cannot, the owner can (zone, show, event, venue in that order).
    let sh = show["id"].as_str().unwrap();
    let e = event["id"].as_str().unwrap();
    let v = venue["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/shows/{sh}/zones/balcony"),
        format!("/api/v1/shows/{sh}"),
        format!("/api/v1/events/{e}"),
    ] {
        for who in [&s.other, &s.customer] {
            assert_eq!(s.delete(who, &path).await.status(), 404, "{path}");
        }
        assert_eq!(s.delete(&s.anonymous, &path).await.status(), 401, "{path}");
        assert_eq!(s.delete(&s.owner, &path).await.status(), 204, "{path}");
    }
    problem(
        s.delete(&s.other, &format!("/api/v1/venues/{v}")).await,
        404,
        "venue_not_found",
    )
    .await;
    assert_eq!(
        s.delete(&s.admin, &format!("/api/v1/venues/{v}"))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn writes_to_published_content_are_403_to_those_who_can_read_it() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Open Hall", "Berlin").await;
    let (event, show) = s
        .published(
            &s.owner,
            "open-gig",
            "Open Gig",
            "concert",
            &venue,
            "2030-06-01T19:00:00Z",
        )
        .await;
    for write in writes(&event, &show, &venue) {
        for who in [&s.other, &s.customer] {
            problem(
                s.send(who, write.0.clone(), &write.1, write.2.clone())
                    .await,
                403,
                "forbidden",
            )
            .await;
        }
        assert_eq!(status(&s, &s.anonymous, &write).await, 401, "{}", write.1);
    }
    let e = event["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/events/{e}/cancel"),
        format!("/api/v1/events/{e}/publish"),
    ] {
        for who in [&s.other, &s.customer] {
            problem(s.post(who, &path, json!({})).await, 403, "forbidden").await;
        }
    }
    problem(
        s.get(
            &s.other,
            &format!("/api/v1/shows/{}/flashsale", show["id"].as_str().unwrap()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Everyone reads it; the owner and admins change it; a published event is cancelled, not deleted.
    for who in [&s.owner, &s.other, &s.customer, &s.anonymous, &s.admin] {
        assert_eq!(
            s.get(who, &format!("/api/v1/events/{e}")).await.status(),
            200
        );
    }
    assert_eq!(
        s.patch(
            &s.admin,
            &format!("/api/v1/events/{e}"),
            json!({"title": "By Admin"})
        )
        .await
        .status(),
        200
    );
    problem(
        s.delete(&s.owner, &format!("/api/v1/events/{e}")).await,
        409,
        "event_not_draft",
    )
    .await;
    assert_eq!(
        s.post(&s.owner, &format!("/api/v1/events/{e}/cancel"), json!({}))
            .await
            .status(),
        200
    );
    problem(
        s.get(&s.customer, &format!("/api/v1/events/{e}")).await,
        404,
        "event_not_found",
    )
    .await;
    problem(
        s.patch(
            &s.owner,
            &format!("/api/v1/events/{e}"),
            json!({"title": "Again"}),
        )
        .await,
        409,
        "event_cancelled",
    )
    .await;
}

#[tokio::test]
async fn an_organizer_cannot_place_a_show_at_another_organizers_venue() {
    let s = Stack::spawn().await;
    let theirs = s.venue(&s.other, "Their Hall", "Paris").await;
    let event = s
        .event(&s.owner, "borrowed", "Borrowed Hall", "concert")
        .await;
    let body = problem(
        s.post(
            &s.owner,
            &format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap()),
            json!({"venueId": theirs["id"], "startsAt": "2030-06-01T19:00:00Z"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(crate::helpers::fields(&body), ["venueId"]);
}
