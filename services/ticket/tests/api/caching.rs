//! The read-through cache (invalidated by every write) and conditional requests.

use serde_json::{Value, json};

use crate::helpers::Stack;

async fn get_with(s: &Stack, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = s.http.get(s.url(path));
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    request.send().await.unwrap()
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_matching_etag_gets_a_304_until_the_event_changes() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let (event, _) = s
        .published(
            &s.owner,
            "etag-gig",
            "ETag Gig",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    let detail = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    for path in [
        detail.as_str(),
        "/api/v1/events/etag-gig",
        "/api/v1/events?q=etag",
        "/api/v1/venues",
    ] {
        let first = get_with(&s, path, None).await;
        assert_eq!(first.status(), 200, "{path}");
        let tag = etag(&first);
        assert!(
            first.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-cache")
        );
        let again = get_with(&s, path, Some(&tag)).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(etag(&again), tag);
        assert!(again.bytes().await.unwrap().is_empty());
        let other = get_with(&s, path, Some("\"something-else\"")).await;
        assert_eq!(other.status(), 200, "{path}");
    }
    let before = etag(&get_with(&s, &detail, None).await);
    assert_eq!(
        s.patch(&s.owner, &detail, json!({"title": "ETag Gig, Revised"}))
            .await
            .status(),
        200
    );
    let after = get_with(&s, &detail, Some(&before)).await;
    assert_eq!(after.status(), 200, "a stale ETag must not get a 304");
    assert_ne!(etag(&after), before);
    assert_eq!(
        after.json::<Value>().await.unwrap()["title"],
        "ETag Gig, Revised"
    );
}

#[tokio::test]
async fn public_reads_come_from_the_cache_and_every_write_invalidates_them() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let (event, show) = s
        .published(
            &s.owner,
            "cached-gig",
            "Cached Gig",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    let e = event["id"].as_str().unwrap();
    let detail = format!("/api/v1/events/{e}");
    let list = "/api/v1/events?category=concert";
    let read = |path: String| {
        let s = &s;
        async move { Stack::json(s.get(&s.anonymous, &path).await, 200).await }
    };
    assert_eq!(read(detail.clone()).await["title"], "Cached Gig");
    assert_eq!(read(list.into()).await["items"][0]["title"], "Cached Gig");

    // Changed behind the service's back: the cached copies are still served...
    sqlx::query("UPDATE events SET title = 'Changed Underneath' WHERE event_id = $1")
        .bind(uuid::Uuid::parse_str(e).unwrap())
        .execute(&s.db)
        .await
        .unwrap();
    assert_eq!(read(detail.clone()).await["title"], "Cached Gig");
    assert_eq!(read(list.into()).await["items"][0]["title"], "Cached Gig");

    // ...until any write through the API invalidates them, even one to another object.
    let zone_path = format!("/api/v1/shows/{}/zones/floor", show["id"].as_str().unwrap());
    let zone = json!({"name": "Floor", "capacity": 250, "priceMinor": 6500, "currency": "EUR", "perUserCap": 4});
    assert_eq!(s.put(&s.owner, &zone_path, zone).await.status(), 200);
    let fresh = read(detail.clone()).await;
    assert_eq!(fresh["title"], "Changed Underneath");
    assert_eq!(fresh["shows"][0]["zones"][0]["capacity"], 250);
    assert_eq!(fresh["shows"][0]["zones"][0]["priceMinor"], 6500);
    assert_eq!(
        read(list.into()).await["items"][0]["title"],
        "Changed Underneath"
    );

    // Cancelling removes it from every public read at once.
    assert_eq!(
        s.post(&s.owner, &format!("{detail}/cancel"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(s.get(&s.anonymous, &detail).await.status(), 404);
    assert!(
        read(list.into()).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
