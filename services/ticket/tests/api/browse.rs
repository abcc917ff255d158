//! Public browsing: filters, text search, sorts, and cursor pages that stay stable.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{Stack, fields, problem};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_owned())
        .collect()
}

async fn page(s: &Stack, query: &str) -> Value {
    Stack::json(
        s.get(&s.anonymous, &format!("/api/v1/events?{query}"))
            .await,
        200,
    )
    .await
}

/// Every slug of a listing, following cursors `limit` at a time.
async fn all_pages(s: &Stack, query: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let p = page(s, &q).await;
        assert!(p["items"].as_array().unwrap().len() <= limit);
        seen.extend(ids(&p));
        match p["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn filters_and_search_return_exactly_the_matching_published_events() {
    let s = Stack::spawn().await;
    let berlin = s.venue(&s.owner, "Tempodrom", "Berlin").await;
    let paris = s.venue(&s.other, "Olympia", "Paris").await;
    s.published(
        &s.owner,
        "jazz-night",
        "Jazz Night",
        "concert",
        &berlin,
        "2030-03-01T19:00:00Z",
    )
    .await;
    s.published(
        &s.owner,
        "comedy-hour",
        "Comedy Hour",
        "comedy",
        &berlin,
        "2030-05-01T19:00:00Z",
    )
    .await;
    s.published(
        &s.other,
        "jazz-brunch",
        "Sunday Jazz Brunch",
        "concert",
        &paris,
        "2030-04-01T11:00:00Z",
    )
    .await;
    s.published(
        &s.other,
        "opera-gala",
        "Opera Gala",
        "opera",
        &paris,
        "2030-07-01T19:00:00Z",
    )
    .await;
    // A draft never shows up, whatever matches.
    s.event(&s.owner, "jazz-draft", "Jazz Draft", "concert")
        .await;

    assert_eq!(
        ids(&page(&s, "").await),
        ["jazz-night", "jazz-brunch", "comedy-hour", "opera-gala"],
        "soonest first by default"
    );
    assert_eq!(
        ids(&page(&s, "category=concert").await),
        ["jazz-night", "jazz-brunch"]
    );
    assert_eq!(
        ids(&page(&s, "city=paris").await),
        ["jazz-brunch", "opera-gala"]
    );
    let venue = berlin["id"].as_str().unwrap();
    assert_eq!(
        ids(&page(&s, &format!("venue={venue}")).await),
        ["jazz-night", "comedy-hour"]
    );
    assert_eq!(
        ids(&page(&s, "from=2030-03-15T00:00:00Z&to=2030-06-01T00:00:00Z").await),
        ["jazz-brunch", "comedy-hour"]
    );
    assert_eq!(
        ids(&page(&s, "q=jazz").await),
        ["jazz-night", "jazz-brunch"]
    );
    assert_eq!(
        ids(&page(&s, "q=BRUN").await),
        ["jazz-brunch"],
        "prefixes match, case-insensitively"
    );
    assert_eq!(
        ids(&page(&s, "q=remember%20opera").await),
        ["opera-gala"],
        "descriptions are searched"
    );
    assert_eq!(
        ids(&page(&s, "q=jazz&city=berlin&category=concert").await),
        ["jazz-night"]
    );
    assert!(ids(&page(&s, "q=nothing-like-this").await).is_empty());
    assert_eq!(
        ids(&page(&s, "sort=title").await),
        ["comedy-hour", "jazz-night", "opera-gala", "jazz-brunch"]
    );
    let newest = ids(&page(&s, "sort=newest").await);
    assert_eq!(
        newest,
        ["opera-gala", "jazz-brunch", "comedy-hour", "jazz-night"]
    );
    let first = &page(&s, "q=jazz").await["items"][0];
    assert_eq!(first["firstShowAt"], "2030-03-01T19:00:00Z");
    assert_eq!(
        first["imageUrls"],
        json!(["https://img.example/poster.jpg"])
    );

    // Public venues are those where a published event plays.
    s.venue(&s.owner, "Empty Hall", "Berlin").await;
    let venues = Stack::json(s.get(&s.anonymous, "/api/v1/venues?city=BERLIN").await, 200).await;
    let names: Vec<&str> = venues["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tempodrom"]);
}

#[tokio::test]
async fn cursor_pages_cover_every_event_once_and_stay_stable_while_events_are_added() {
    let s = Stack::spawn().await;
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let slug = format!("show-{i}");
        // Two events share each start time, so the id breaks ties.
        let starts = format!("2030-0{}-01T19:00:00Z", 1 + i / 2);
        s.published(
            &s.owner,
            &slug,
            &format!("Event {i}"),
            "concert",
            &venue,
            &starts,
        )
        .await;
        expected.push(slug);
    }
    for sort in ["date", "title", "newest"] {
        let all = all_pages(&s, &format!("sort={sort}"), 3).await;
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 7, "{sort}: {all:?}");
        assert_eq!(unique.len(), 7, "{sort}: duplicates in {all:?}");
        let single = ids(&page(&s, &format!("sort={sort}&limit=100")).await);
        assert_eq!(all, single, "{sort}: pages differ from one big page");
    }

    // Page 2 after an event sorting before the cursor was added: nothing repeats or goes missing.
    let first = page(&s, "limit=3").await;
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    s.published(
        &s.owner,
        "early-bird",
        "Early Bird",
        "concert",
        &venue,
        "2029-01-01T19:00:00Z",
    )
    .await;
    let second = page(&s, &format!("limit=3&cursor={cursor}")).await;
    let mut walked = ids(&first);
    walked.extend(ids(&second));
    assert_eq!(walked, expected[..6].to_vec());
    assert_eq!(ids(&page(&s, "limit=1").await), ["early-bird"]);
}

#[tokio::test]
async fn bad_query_parameters_are_400s_naming_the_parameter() {
    let s = Stack::spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("sort=price", "sort"),
        ("from=yesterday", "from"),
        ("from=2030-02-01T00:00:00Z&to=2030-01-01T00:00:00Z", "to"),
        ("venue=not-a-uuid", "venue"),
        ("cursor=garbage", "cursor"),
        ("q=%26%7C%21", "q"),
    ] {
        let body = problem(
            s.get(&s.anonymous, &format!("/api/v1/events?{query}"))
                .await,
            400,
            "invalid_query",
        )
        .await;
        assert_eq!(fields(&body), [field], "{query}");
    }
    let long = "x".repeat(201);
    let body = problem(
        s.get(&s.anonymous, &format!("/api/v1/events?q={long}"))
            .await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(fields(&body), ["q"]);
    // A cursor of one sort is refused by another.
    let venue = s.venue(&s.owner, "Arena", "Berlin").await;
    for i in 0..2 {
        s.published(
            &s.owner,
            &format!("e-{i}"),
            "E",
            "concert",
            &venue,
            "2030-01-01T19:00:00Z",
        )
        .await;
    }
    let cursor = page(&s, "limit=1&sort=title").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = problem(
        s.get(
            &s.anonymous,
            &format!("/api/v1/events?cursor={cursor}&sort=date"),
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(fields(&body), ["cursor"]);
}
