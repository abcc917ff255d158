//! The PSP's webhook: signature and timestamp checked, each event id applied once, the state
//! change and its outgoing event committed together before the 200.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::problem::{Problem, ProblemSchema};

use crate::{
    error::PaymentError,
    psp::{Event, signature},
    routes::payments::served_sale,
    state::AppState,
    store,
};

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/sales/{sale}/payments/webhook", post(webhook))
}

/// Receives a PSP event (no bearer token: the HMAC signature is the authentication).
#[utoipa::path(
    post, path = "/api/v1/sales/{sale}/payments/webhook", tag = "psp",
    params(
        ("sale" = String, Path, description = "Sale id"),
        ("Psp-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"),
    ),
    request_body(content = Value, description = "A PSP event: id, created, type, data"),
    responses(
        (status = 200, description = "Applied, or already applied before"),
        (status = 400, description = "Unreadable event", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "Missing, stale or wrong signature", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "Not stored; the PSP retries", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw))]
pub async fn webhook(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), axum::response::Response> {
    use axum::response::IntoResponse;
    served_sale(&state, &sale_raw).map_err(IntoResponse::into_response)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tolerance = state.config.psp.webhook_tolerance.as_secs() as i64;
    signature::verify(
        state.config.psp.webhook_secret.expose_secret().as_bytes(),
        headers.get(signature::HEADER).and_then(|v| v.to_str().ok()),
        &body,
        now,
        tolerance,
    )
    .map_err(|err| {
        metrics::counter!("payment_webhooks_total", "outcome" => "bad_signature").increment(1);
        tracing::warn!(error = %err, "webhook refused");
        Problem::unauthenticated("invalid_signature", err.to_string()).into_response()
    })?;
    let event: Event = serde_json::from_slice(&body).map_err(|err| {
        metrics::counter!("payment_webhooks_total", "outcome" => "unreadable").increment(1);
        Problem::bad_request("invalid_event", format!("unreadable event: {err}")).into_response()
    })?;
    let applied = store::apply_event(&state.db, &event)
        .await
        .map_err(|e| PaymentError::from(e).into_response())?;
    metrics::counter!("payment_webhooks_total", "outcome" => applied.label()).increment(1);
    tracing::info!(event.id = %event.id, event.type = event.kind.type_name(),
        payment.id = %event.kind.metadata().payment_id, outcome = applied.label(), "PSP event");
    Ok((
        StatusCode::OK,
        Json(json!({ "received": true, "outcome": applied.label() })),
    ))
}
