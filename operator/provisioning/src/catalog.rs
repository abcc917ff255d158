//! The catalog check: a sale must sell exactly what the catalog show that names it describes —
//! the same zones, capacities, prices, currencies, per-buyer caps, sale window and hold time.
//! Enabled by `CATALOG_URL` (the ticket service, or the gateway in front of it); a sale no show
//! refers to is allowed; a configured catalog that does not answer stops provisioning.

use std::{collections::BTreeMap, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shared::config::{ConfigError, Env};
use time::OffsetDateTime;

use crate::{SaleSpec, SpecError};

/// One zone as the catalog describes it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogZone {
    /// Zone id.
    pub id: String,
    /// Seats.
    pub seats: i64,
    /// Price per seat in minor units.
    pub price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Most seats per buyer.
    pub per_user_cap: i64,
}

/// The terms of the catalog show a sale sells.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogTerms {
    /// When the sale opens, if the show has a window yet.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    /// When the sale closes, if the show has a window yet.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Hold lifetime in seconds.
    pub hold_ttl_seconds: i64,
    /// The show's zones.
    pub zones: Vec<CatalogZone>,
}

/// Every way `spec` disagrees with the catalog's `terms`, one problem per field.
pub fn differences(spec: &SaleSpec, terms: &CatalogTerms) -> Vec<SpecError> {
    let mut found = Vec::new();
    let mut differ = |field: String, sale: String, catalog: String| {
        found.push(SpecError {
            field,
            message: format!("the sale has {sale}, its show in the catalog has {catalog}"),
        });
    };
    let time = |t: Option<OffsetDateTime>| {
        t.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "no sale window".into())
    };
    if terms.starts_at != Some(spec.starts_at) {
        differ(
            "startsAt".into(),
            time(Some(spec.starts_at)),
            time(terms.starts_at),
        );
    }
    if terms.ends_at != Some(spec.ends_at) {
        differ(
            "endsAt".into(),
            time(Some(spec.ends_at)),
            time(terms.ends_at),
        );
    }
    if terms.hold_ttl_seconds != i64::from(spec.hold_ttl_seconds) {
        differ(
            "holdTtlSeconds".into(),
            spec.hold_ttl_seconds.to_string(),
            terms.hold_ttl_seconds.to_string(),
        );
    }
    let catalog: BTreeMap<&str, &CatalogZone> =
        terms.zones.iter().map(|z| (z.id.as_str(), z)).collect();
    for zone in &spec.zones {
        let id = zone.id.as_str();
        let Some(other) = catalog.get(id) else {
            differ(
                format!("zones[{id}]"),
                "this zone".into(),
                "no such zone".into(),
            );
            continue;
        };
        let at = |f: &str| format!("zones[{id}].{f}");
        if i64::from(zone.seats) != other.seats {
            differ(at("seats"), zone.seats.to_string(), other.seats.to_string());
        }
        if zone.price_minor != other.price_minor {
            differ(
                at("priceMinor"),
                zone.price_minor.to_string(),
                other.price_minor.to_string(),
            );
        }
        if zone.currency != other.currency {
            differ(
                at("currency"),
                zone.currency.clone(),
                other.currency.clone(),
            );
        }
        if i64::from(zone.per_user_cap) != other.per_user_cap {
            differ(
                at("perUserCap"),
                zone.per_user_cap.to_string(),
                other.per_user_cap.to_string(),
            );
        }
    }
    for id in catalog.keys() {
        if !spec.zones.iter().any(|z| z.id.as_str() == *id) {
            differ(
                format!("zones[{id}]"),
                "no such zone".into(),
                "this zone".into(),
            );
        }
    }
    found
}

/// Asks the catalog for the show a sale sells and compares.
#[derive(Clone)]
pub struct CatalogCheck {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

impl CatalogCheck {
    /// A check against the catalog at `base`, sending `token` (to see unpublished shows).
    pub fn new(base: &str, token: Option<SecretString>, timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Reads `CATALOG_URL` (unset: no check), `CATALOG_TOKEN` and `CATALOG_TIMEOUT_MS`.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(base) = env.get("CATALOG_URL") else {
            return Ok(None);
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConfigError {
                name: "CATALOG_URL".into(),
                reason: format!("{base:?} is not an http(s) URL"),
            });
        }
        let timeout = env.millis_or("CATALOG_TIMEOUT_MS", 5_000)?;
        let token = env.get("CATALOG_TOKEN").map(SecretString::from);
        Ok(Some(Self::new(&base, token, timeout)))
    }

    /// Refuses a sale that disagrees with its catalog show, listing every difference; a sale no
    /// show names passes; a catalog that cannot answer is an error too.
    pub async fn check(&self, spec: &SaleSpec) -> Result<(), Vec<SpecError>> {
        let url = format!("{}/api/v1/catalog/sales/{}", self.base, spec.sale_id);
        let unavailable = |reason: String| {
            vec![SpecError {
                field: "catalog".into(),
                message: format!("{url} could not be checked: {reason}"),
            }]
        };
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if body["code"] == "sale_not_found" {
                tracing::info!(sale.id = %spec.sale_id, "no catalog show names this sale");
                return Ok(());
            }
            return Err(unavailable(format!("404 {}", body["code"])));
        }
        if !status.is_success() {
            return Err(unavailable(format!("answered {status}")));
        }
        let terms: CatalogTerms = response
            .json()
            .await
            .map_err(|e| unavailable(format!("unreadable answer: {e}")))?;
        let found = differences(spec, &terms);
        if found.is_empty() { Ok(()) } else { Err(found) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_difference_is_named() {
        let spec = SaleSpec::from_yaml(
            r#"
saleId: demo
startsAt: 2026-01-01T00:00:00Z
endsAt: 2030-01-01T00:00:00Z
holdTtlSeconds: 300
zones:
  - { id: floor, seats: 100, priceMinor: 5000, currency: EUR, perUserCap: 4 }
  - { id: vip, seats: 10, priceMinor: 9000, currency: EUR, perUserCap: 2 }
"#,
        )
        .unwrap();
        let terms = CatalogTerms {
            starts_at: Some(spec.starts_at),
            ends_at: None,
            hold_ttl_seconds: 600,
            zones: vec![
                CatalogZone {
                    id: "floor".into(),
                    seats: 120,
                    price_minor: 5000,
                    currency: "USD".into(),
                    per_user_cap: 6,
                },
                CatalogZone {
                    id: "balcony".into(),
                    seats: 1,
                    price_minor: 1,
                    currency: "EUR".into(),
                    per_user_cap: 1,
                },
            ],
        };
        let fields: Vec<String> = differences(&spec, &terms)
            .into_iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(
            fields,
            [
                "endsAt",
                "holdTtlSeconds",
                "zones[floor].seats",
                "zones[floor].currency",
                "zones[floor].perUserCap",
                "zones[vip]",
                "zones[balcony]"
            ]
        );
        let same = CatalogTerms {
            starts_at: Some(spec.starts_at),
            ends_at: Some(spec.ends_at),
            hold_ttl_seconds: 300,
            zones: vec![
                CatalogZone {
                    id: "vip".into(),
                    seats: 10,
                    price_minor: 9000,
                    currency: "EUR".into(),
                    per_user_cap: 2,
                },
                CatalogZone {
                    id: "floor".into(),
                    seats: 100,
                    price_minor: 5000,
                    currency: "EUR".into(),
                    per_user_cap: 4,
                },
            ],
        };
        assert!(differences(&spec, &same).is_empty());
    }
}
