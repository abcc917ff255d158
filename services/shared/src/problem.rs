//! The one error shape of every service: RFC 9457 problem+json with a stable `code`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// Where in the request: a JSON path, a header or a query parameter name.
    pub field: String,
    /// What is wrong there.
    pub message: String,
}

/// An RFC 9457 problem document; its `type` is the URN `urn:booking-rush:problem:{code}`.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Short, human summary of the problem type.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong in this occurrence.
    pub detail: Option<String>,
    /// Problems with individual fields.
    pub errors: Vec<FieldProblem>,
    /// Seconds after which a retry may succeed; sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with a status, a stable code and a title.
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            title,
            status: status.as_u16(),
            code,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Adds the occurrence's detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a field problem.
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// Adds a `Retry-After` hint.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 for a request that cannot be read.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request").with_detail(detail)
    }

    /// 401: no valid access token.
    pub fn unauthenticated(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, "Authentication required").with_detail(detail)
    }

    /// 404 for an unknown resource.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found").with_detail(detail)
    }

    /// 500 that reveals nothing about its cause; log the cause where this is made.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }

    /// 503 for a dependency that is down; the client may retry.
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable")
            .with_detail(detail)
            .with_retry_after(1)
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The documented shape of [`Problem`] (its serialisation is hand-written).
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[expect(dead_code, reason = "documentation only")]
pub struct ProblemSchema {
    /// `urn:booking-rush:problem:{code}`.
    #[schema(rename = "type")]
    kind: String,
    /// Short summary of the problem type.
    title: String,
    /// HTTP status.
    status: u16,
    /// Stable machine-readable code.
    code: String,
    /// What went wrong in this occurrence.
    detail: Option<String>,
    /// Problems with individual fields.
    errors: Option<Vec<FieldProblem>>,
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &format!("urn:booking-rush:problem:{}", self.code))?;
        map.serialize_entry("title", self.title)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("code", self.code)?;
        if let Some(detail) = &self.detail {
            map.serialize_entry("detail", detail)?;
        }
        if !self.errors.is_empty() {
            map.serialize_entry("errors", &self.errors)?;
        }
        map.end()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turns axum's own rejections (unknown route, wrong method) into problems.
pub async fn fallback_not_found() -> Problem {
    Problem::not_found("route_not_found", "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_problem_json_with_retry_after() {
        let response = Problem::unavailable("broker_unavailable", "try again").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
