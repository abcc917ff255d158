//! Conditional responses: strong ETags over the exact body, `If-None-Match` → 304.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// A short, URL-safe SHA-256 digest of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(bytes)[..18])
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, as RFC 9110 asks for GET).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

/// Who may keep a copy of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The same for every caller: shared caches may keep it.
    Public,
    /// Depends on the caller (a draft its owner sees).
    Private,
}

/// A JSON response with an ETag, or 304 when the client already has this body.
pub fn conditional_json(request: &HeaderMap, body: Vec<u8>, audience: Audience) -> Response {
    let etag = format!("\"{}\"", digest(&body));
    let cache_control = match audience {
        Audience::Public => "public, no-cache",
        Audience::Private => "private, no-cache",
    };
    let mut response = if matches(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

/// Serialises a value for [`conditional_json`].
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, crate::error::TicketError> {
    serde_json::to_vec(value).map_err(|e| crate::error::TicketError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_if_none_match_is_a_304_with_the_same_etag() {
        let body = br#"{"a":1}"#.to_vec();
        let first = conditional_json(&HeaderMap::new(), body.clone(), Audience::Public);
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{}", etag.to_str().unwrap())).unwrap(),
        );
        let second = conditional_json(&again, body, Audience::Public);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::ETAG], etag);
    }
}
