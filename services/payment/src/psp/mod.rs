//! The payment service provider (PSP): the contract the service needs, the HTTP client that
//! speaks it, webhook signatures, and the built-in simulator that plays the PSP.

pub mod http;
pub mod signature;
pub mod simulator;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the PSP is told about a charge, echoed back in its answers and webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeMetadata {
    /// Our payment id.
    pub payment_id: Uuid,
    /// The sale.
    pub sale_id: String,
    /// Which attempt of the payment this charge is.
    pub attempt: i32,
}

/// A request to charge a payment method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCharge {
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// The payment method token (never card data).
    pub payment_method: String,
    /// Merchant reference: the reservation id.
    pub reference: Uuid,
    /// Echoed back.
    pub metadata: ChargeMetadata,
}

/// Where a charge stands at the PSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Accepted, not decided yet.
    Processing,
    /// Funds reserved.
    Authorized,
    /// Money taken.
    Captured,
    /// Declined or failed; final.
    Failed,
}

/// A charge as the PSP reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    /// The PSP's id.
    pub id: String,
    /// Status.
    pub status: ChargeStatus,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Merchant reference.
    pub reference: Uuid,
    /// Echoed metadata.
    pub metadata: ChargeMetadata,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// A request to refund a captured charge in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRefund {
    /// Amount in minor units (the whole charge).
    pub amount_minor: i64,
    /// Why.
    pub reason: String,
}

/// Where a refund stands at the PSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Accepted, money not back yet.
    Pending,
    /// Money returned.
    Succeeded,
}

/// A refund as the PSP reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// The PSP's refund id.
    pub id: String,
    /// The charge refunded.
    pub charge_id: String,
    /// Status.
    pub status: RefundStatus,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Echoed metadata of the charge.
    pub metadata: ChargeMetadata,
}

/// What a PSP event reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventKind {
    /// Funds reserved.
    #[serde(rename = "charge.authorized")]
    ChargeAuthorized(Charge),
    /// Money taken.
    #[serde(rename = "charge.captured")]
    ChargeCaptured(Charge),
    /// Declined or failed.
    #[serde(rename = "charge.failed")]
    ChargeFailed(Charge),
    /// Money returned.
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded(Refund),
}

impl EventKind {
    /// The event type as the PSP names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ChargeAuthorized(_) => "charge.authorized",
            Self::ChargeCaptured(_) => "charge.captured",
            Self::ChargeFailed(_) => "charge.failed",
            Self::RefundSucceeded(_) => "refund.succeeded",
        }
    }

    /// The metadata of the charge concerned.
    pub fn metadata(&self) -> &ChargeMetadata {
        match self {
            Self::ChargeAuthorized(c) | Self::ChargeCaptured(c) | Self::ChargeFailed(c) => {
                &c.metadata
            }
            Self::RefundSucceeded(r) => &r.metadata,
        }
    }

    /// The id of the PSP object concerned.
    pub fn object_id(&self) -> &str {
        match self {
            Self::ChargeAuthorized(c) | Self::ChargeCaptured(c) | Self::ChargeFailed(c) => &c.id,
            Self::RefundSucceeded(r) => &r.id,
        }
    }

    /// The event a charge's current status implies, if it is news (used when polling).
    pub fn for_charge(charge: Charge) -> Option<Self> {
        match charge.status {
            ChargeStatus::Processing => None,
            ChargeStatus::Authorized => Some(Self::ChargeAuthorized(charge)),
            ChargeStatus::Captured => Some(Self::ChargeCaptured(charge)),
            ChargeStatus::Failed => Some(Self::ChargeFailed(charge)),
        }
    }
}

/// A webhook event from the PSP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique event id; redeliveries repeat it.
    pub id: String,
    /// When it happened (seconds since the epoch).
    pub created: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Why a PSP call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PspError {
    /// No answer in time: the call may or may not have taken effect.
    #[error("the PSP did not answer in time")]
    Timeout,
    /// The PSP could not be reached or failed on its side; retrying is safe.
    #[error("the PSP is unavailable: {0}")]
    Unavailable(String),
    /// The PSP refused the request; retrying the same request will not help.
    #[error("the PSP refused the request ({code}): {message}")]
    Refused {
        /// The PSP's error code.
        code: String,
        /// The PSP's message.
        message: String,
    },
}

/// The operations the payment service needs from a PSP. Every mutating call carries an
/// idempotency key: repeating it returns the first result and never moves money twice.
#[async_trait::async_trait]
pub trait Psp: Send + Sync {
    /// Starts a charge; the outcome arrives by webhook.
    async fn create_charge(&self, key: &str, request: &CreateCharge) -> Result<Charge, PspError>;
    /// Reads a charge.
    async fn charge(&self, id: &str) -> Result<Charge, PspError>;
    /// Starts a full refund of a captured charge; the outcome arrives by webhook.
    async fn create_refund(
        &self,
        key: &str,
        charge_id: &str,
        request: &CreateRefund,
    ) -> Result<Refund, PspError>;
    /// Reads a refund.
    async fn refund(&self, id: &str) -> Result<Refund, PspError>;
}
