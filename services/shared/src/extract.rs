//! Request extractors that report bad input as problem+json naming the field.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body whose deserialisation errors name the JSON path at fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .with_detail("send the body as application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                return Problem::new(e.status(), "body_too_large", "Body too large").with_detail(
                    format!(
                        "the body may be at most {} bytes",
                        crate::server::BODY_LIMIT
                    ),
                );
            }
            Problem::new(e.status(), "unreadable_body", "Unreadable body")
                .with_detail(e.body_text())
        })?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// Parses JSON, reporting the path of the first problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        let problem = if inner.is_syntax() || inner.is_eof() {
            Problem::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {message}"),
            )
        } else {
            Problem::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Invalid request body",
            )
            .with_detail("the body does not match the expected shape")
        };
        let field = if path == "." { "body".to_owned() } else { path };
        problem.with_field(field, message)
    })
}

/// A query string whose errors name the parameter at fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query).map(ValidQuery)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| Problem::bad_request("invalid_query", "unreadable query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        Problem::bad_request("invalid_query", "the query string is invalid")
            .with_field("query", e.body_text())
    })
}

/// The page size of a list query: 1-100, 20 when absent; else a 400 naming `limit`.
pub fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(20);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(
            Problem::bad_request("invalid_query", "limit must be between 1 and 100")
                .with_field("limit", format!("got {limit}")),
        )
    }
}

/// Cuts `rows` (fetched as `limit + 1`) to one page; the cursor of the next page when there is one.
pub fn next_cursor<T, C>(rows: &mut Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> C) -> Option<C> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    }
}

/// A client's `Idempotency-Key` header: 1-128 visible ASCII characters, required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("Idempotency-Key must be 1-128 visible ASCII characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IdempotencyKey {
    /// The `Idempotency-Key` header of a request, or a 400 naming what is wrong with it.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Self, Problem> {
        let raw = headers.get("idempotency-key").ok_or_else(|| {
            Problem::bad_request(
                "missing_idempotency_key",
                "send a unique Idempotency-Key header with this request",
            )
            .with_field("Idempotency-Key", "required")
        })?;
        let text = raw.to_str().map_err(|_| {
            Problem::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
            .with_field("Idempotency-Key", "not visible ASCII")
        })?;
        Self::parse(text).map_err(|m| {
            Problem::bad_request("invalid_idempotency_key", m.clone())
                .with_field("Idempotency-Key", m)
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        zone: String,
        quantity: u32,
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let problem = parse_json::<Body>(br#"{"zone":"a","quantity":-1}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "quantity");
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    #[test]
    fn broken_json_is_a_400() {
        let problem = parse_json::<Body>(b"{\"zone\":").unwrap_err();
        assert_eq!(problem.status, 400);
        assert_eq!(problem.code, "malformed_json");
    }
}
