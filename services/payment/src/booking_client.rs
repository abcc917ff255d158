//! Reads a reservation from the sale's booking service, as the buyer (with the buyer's own token),
//! so booking's ownership check applies and the amount is booking's, never the client's.

use std::time::Duration;

use axum::http::HeaderValue;
use serde::Deserialize;
use shared::ids::SaleId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::PaymentError;

/// A reservation as booking shows it to its owner.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// Id.
    pub id: Uuid,
    /// Seats.
    pub quantity: u32,
    /// Price of all seats, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// held, confirmed, cancelled, expired, released or refunded.
    pub status: String,
    /// When an unpaid hold lapses.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Booking's HTTP API.
#[derive(Clone)]
pub struct BookingClient {
    http: reqwest::Client,
    template: String,
}

impl BookingClient {
    /// A client for booking at `template` (`{sale}` is replaced by the sale id).
    pub fn new(template: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(32)
            .build()
            .unwrap_or_default();
        Self {
            http,
            template: template.to_owned(),
        }
    }

    /// The caller's reservation; `None` when it is unknown or someone else's.
    pub async fn reservation(
        &self,
        sale: &SaleId,
        id: Uuid,
        authorization: &HeaderValue,
    ) -> Result<Option<Reservation>, PaymentError> {
        let base = self.template.replace("{sale}", sale.as_str());
        let response = self
            .http
            .get(format!("{base}/api/v1/sales/{sale}/reservations/{id}"))
            .header("authorization", authorization)
            .send()
            .await
            .map_err(|e| PaymentError::BookingUnavailable(e.to_string()))?;
        match response.status().as_u16() {
            200 => {
                response.json().await.map(Some).map_err(|e| {
                    PaymentError::BookingUnavailable(format!("unreadable answer: {e}"))
                })
            }
            404 => Ok(None),
            status => Err(PaymentError::BookingUnavailable(format!(
                "booking answered {status}"
            ))),
        }
    }
}
