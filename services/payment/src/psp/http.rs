//! The PSP client: the provider's HTTP API (the simulator speaks the same), with a bearer API
//! key, an `Idempotency-Key` on every mutating call and a timeout on every call.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};

use super::{Charge, CreateCharge, CreateRefund, Psp, PspError, Refund};

/// A PSP reached over HTTP.
pub struct HttpPsp {
    client: reqwest::Client,
    base: String,
    api_key: SecretString,
}

impl HttpPsp {
    /// A client for the PSP at `base`; calls give up after `timeout`.
    pub fn new(base: &str, api_key: SecretString, timeout: Duration) -> Result<Self, PspError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| PspError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, PspError> {
        let response = request
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    PspError::Timeout
                } else {
                    PspError::Unavailable(e.to_string())
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| {
                if e.is_timeout() {
                    PspError::Timeout
                } else {
                    PspError::Unavailable(format!("unreadable answer: {e}"))
                }
            });
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let code = body["code"].as_str().unwrap_or("unknown").to_owned();
        let message = body["detail"].as_str().unwrap_or_default().to_owned();
        // Only a request the PSP judged invalid is a refusal (it fails the attempt); anything else
        // — a key still in use (409), a timeout (408), throttling, credentials, outages — may have
        // left a charge behind, so the attempt stays pending and is retried under the same key.
        if matches!(status.as_u16(), 400 | 402 | 422) {
            Err(PspError::Refused { code, message })
        } else {
            Err(PspError::Unavailable(format!("{status}: {code}")))
        }
    }

    fn post<B: Serialize>(&self, path: &str, key: &str, body: &B) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .json(body)
    }
}

#[async_trait::async_trait]
impl Psp for HttpPsp {
    async fn create_charge(&self, key: &str, request: &CreateCharge) -> Result<Charge, PspError> {
        self.send(self.post("/v1/charges", key, request)).await
    }

    async fn charge(&self, id: &str) -> Result<Charge, PspError> {
        self.send(self.client.get(format!("{}/v1/charges/{id}", self.base)))
            .await
    }

    async fn create_refund(
        &self,
        key: &str,
        charge_id: &str,
        request: &CreateRefund,
    ) -> Result<Refund, PspError> {
        self.send(self.post(&format!("/v1/charges/{charge_id}/refunds"), key, request))
            .await
    }

    async fn refund(&self, id: &str) -> Result<Refund, PspError> {
        self.send(self.client.get(format!("{}/v1/refunds/{id}", self.base)))
            .await
    }
}
