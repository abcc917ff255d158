//! Public browsing: published events filtered, searched, sorted and paged with keyset cursors.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{error::TicketError, store::EventRow};

/// Longest search text.
pub const MAX_QUERY: usize = 200;
/// Largest page.
pub const MAX_LIMIT: i64 = 100;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 20;

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// By the first matching show, soonest first (the default).
    Date,
    /// By title, A to Z.
    Title,
    /// Most recently published first.
    Newest,
}

/// The query string of the public listing, as received.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseParams {
    /// Words to search for in titles and descriptions (prefixes match).
    pub q: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only events with a show in this city (case-insensitive).
    pub city: Option<String>,
    /// Only events with a show at this venue.
    pub venue: Option<String>,
    /// Only shows starting at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only shows starting before this time (RFC 3339).
    pub to: Option<String>,
    /// `date` (default), `title` or `newest`.
    pub sort: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated listing query; its JSON form is the cache key.
#[derive(Debug, Clone, Serialize)]
pub struct Browse {
    tsquery: Option<String>,
    category: Option<String>,
    city: Option<String>,
    venue: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    sort: Sort,
    limit: i64,
    after: Option<Cursor>,
}

/// Where the previous page ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    /// The sort the cursor belongs to.
    s: Sort,
    /// The sort key of the last item.
    k: String,
    /// The id of the last item.
    id: Uuid,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads the text form.
    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Reads an RFC 3339 query parameter.
pub fn parse_time(field: &'static str, raw: &str) -> Result<OffsetDateTime, TicketError> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
        TicketError::InvalidQuery(
            field,
            "must be an RFC 3339 time such as 2026-05-01T00:00:00Z".into(),
        )
    })
}

/// Reads a `limit` query parameter.
pub fn parse_limit(raw: Option<&str>) -> Result<i64, TicketError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                TicketError::InvalidQuery("limit", format!("must be between 1 and {MAX_LIMIT}"))
            }),
    }
}

/// Turns search words into a prefix-matching `tsquery` (`jazz:* & night:*`); `None` without words.
fn to_tsquery(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(10)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

impl Browse {
    /// Validates the query string, naming the parameter at fault.
    pub fn parse(params: &BrowseParams) -> Result<Self, TicketError> {
        fn blank(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let tsquery = match blank(&params.q) {
            None => None,
            Some(q) if q.chars().count() > MAX_QUERY => {
                return Err(TicketError::InvalidQuery(
                    "q",
                    format!("must be at most {MAX_QUERY} characters"),
                ));
            }
            Some(q) => Some(to_tsquery(q).ok_or_else(|| {
                TicketError::InvalidQuery("q", "must contain a letter or digit".into())
            })?),
        };
        let category = blank(&params.category).map(str::to_lowercase);
        let city = blank(&params.city).map(str::to_owned);
        if city.as_ref().is_some_and(|c| c.chars().count() > 100) {
            return Err(TicketError::InvalidQuery(
                "city",
                "must be at most 100 characters".into(),
            ));
        }
        let venue = blank(&params.venue)
            .map(|v| {
                v.parse::<Uuid>().map_err(|_| {
                    TicketError::InvalidQuery("venue", "must be a venue id (a UUID)".into())
                })
            })
            .transpose()?;
        let from = blank(&params.from)
            .map(|v| parse_time("from", v))
            .transpose()?;
        let to = blank(&params.to).map(|v| parse_time("to", v)).transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            return Err(TicketError::InvalidQuery("to", "must be after from".into()));
        }
        let sort = match blank(&params.sort) {
            None | Some("date") => Sort::Date,
            Some("title") => Sort::Title,
            Some("newest") => Sort::Newest,
            Some(_) => {
                return Err(TicketError::InvalidQuery(
                    "sort",
                    "must be date, title or newest".into(),
                ));
            }
        };
        let limit = parse_limit(blank(&params.limit))?;
        let after = blank(&params.cursor)
            .map(|raw| {
                Cursor::decode(raw)
                    .filter(|c| c.s == sort && Self::key_is_valid(sort, &c.k))
                    .ok_or_else(|| {
                        TicketError::InvalidQuery(
                            "cursor",
                            "is not a cursor of this listing; pass nextCursor unchanged with the same sort".into(),
                        )
                    })
            })
            .transpose()?;
        Ok(Self {
            tsquery,
            category,
            city,
            venue,
            from,
            to,
            sort,
            limit,
            after,
        })
    }

    fn key_is_valid(sort: Sort, key: &str) -> bool {
        match sort {
            Sort::Title => true,
            Sort::Date | Sort::Newest => OffsetDateTime::parse(key, &Rfc3339).is_ok(),
        }
    }

    /// The cache key of this query.
    pub fn cache_key(&self) -> String {
        format!(
            "events:{}",
            crate::http::digest(&serde_json::to_vec(self).unwrap_or_default())
        )
    }

    /// One page of published events and the cursor of the next page.
    pub async fn run(&self, pool: &PgPool) -> Result<(Vec<Listed>, Option<String>), sqlx::Error> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT e.event_id, e.owner_id, e.slug, e.title, e.description, e.category, e.image_urls,
                    e.status, e.published_at, e.created_at, e.updated_at, m.first_show
             FROM events e
             CROSS JOIN LATERAL (
                 SELECT min(s.starts_at) AS first_show
                 FROM shows s JOIN venues v ON v.venue_id = s.venue_id
                 WHERE s.event_id = e.event_id",
        );
        if let Some(from) = self.from {
            q.push(" AND s.starts_at >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            q.push(" AND s.starts_at < ").push_bind(to);
        }
        if let Some(city) = &self.city {
            q.push(" AND lower(v.city) = lower(")
                .push_bind(city.clone())
                .push(")");
        }
        if let Some(venue) = self.venue {
            q.push(" AND s.venue_id = ").push_bind(venue);
        }
        q.push(") m WHERE e.status = 'published' AND m.first_show IS NOT NULL");
        if let Some(category) = &self.category {
            q.push(" AND e.category = ").push_bind(category.clone());
        }
        if let Some(tsquery) = &self.tsquery {
            q.push(" AND e.search @@ to_tsquery('simple', ")
                .push_bind(tsquery.clone())
                .push(")");
        }
        if let Some(after) = &self.after {
            match self.sort {
                Sort::Date => {
                    let at = OffsetDateTime::parse(&after.k, &Rfc3339)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    q.push(" AND (m.first_show, e.event_id) > (")
                        .push_bind(at)
                        .push(", ")
                        .push_bind(after.id)
                        .push(")");
                }
                Sort::Title => {
                    q.push(" AND (lower(e.title), e.event_id) > (")
                        .push_bind(after.k.clone())
                        .push(", ")
                        .push_bind(after.id)
                        .push(")");
                }
                Sort::Newest => {
                    let at = OffsetDateTime::parse(&after.k, &Rfc3339)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    q.push(" AND (e.published_at, e.event_id) < (")
                        .push_bind(at)
                        .push(", ")
                        .push_bind(after.id)
                        .push(")");
                }
            }
        }
        q.push(match self.sort {
            Sort::Date => " ORDER BY m.first_show, e.event_id",
            Sort::Title => " ORDER BY lower(e.title), e.event_id",
            Sort::Newest => " ORDER BY e.published_at DESC, e.event_id DESC",
        });
        q.push(" LIMIT ").push_bind(self.limit + 1);
        let mut rows: Vec<Listed> = q.build_query_as().fetch_all(pool).await?;
        let next = if rows.len() as i64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(|last| self.cursor_after(last))
        } else {
            None
        };
        Ok((rows, next))
    }

    fn cursor_after(&self, last: &Listed) -> String {
        let time = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let k = match self.sort {
            Sort::Date => time(last.first_show),
            Sort::Title => last.event.title.to_lowercase(),
            Sort::Newest => time(
                last.event
                    .published_at
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            ),
        };
        Cursor {
            s: self.sort,
            k,
            id: last.event.event_id,
        }
        .encode()
    }
}

/// A listed event with the start of its first matching show.
#[derive(Debug, sqlx::FromRow)]
pub struct Listed {
    /// The event.
    #[sqlx(flatten)]
    pub event: EventRow,
    /// Start of its first show matching the filters.
    pub first_show: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_become_a_safe_prefix_query() {
        assert_eq!(
            to_tsquery("Jazz & night!'):*").as_deref(),
            Some("jazz:* & night:*")
        );
        assert_eq!(to_tsquery("'&|!"), None);
    }

    #[test]
    fn a_cursor_round_trips_and_belongs_to_its_sort() {
        let cursor = Cursor {
            s: Sort::Title,
            k: "a".into(),
            id: Uuid::nil(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
        let params = BrowseParams {
            cursor: Some(cursor.encode()),
            ..Default::default()
        };
        assert!(matches!(
            Browse::parse(&params),
            Err(TicketError::InvalidQuery("cursor", _))
        ));
    }

    #[test]
    fn a_range_that_ends_before_it_starts_names_to() {
        let params = BrowseParams {
            from: Some("2026-02-01T00:00:00Z".into()),
            to: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(matches!(
            Browse::parse(&params),
            Err(TicketError::InvalidQuery("to", _))
        ));
    }
}
