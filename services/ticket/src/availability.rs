//! Live seat counts per zone, read from the booking service that sells a show and cached
//! briefly. An unreachable or unknown sale is "unknown", never an error.

use std::{collections::HashMap, sync::Arc, time::Duration};

use serde::Deserialize;
use shared::ids::SaleId;

/// Live counts of one zone as booking reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Seats free to reserve.
    pub available: i64,
    /// Seats on hold.
    pub held: i64,
    /// Seats sold.
    pub sold: i64,
}

#[derive(Debug, Deserialize)]
struct ZoneReport {
    zone: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Debug, Deserialize)]
struct Report {
    zones: Vec<ZoneReport>,
}

/// Counts per zone id of one sale, or `None` when booking could not tell.
pub type SaleCounts = Option<Arc<HashMap<String, Counts>>>;

/// Reads availability from booking services.
#[derive(Clone)]
pub struct BookingClient {
    http: reqwest::Client,
    template: String,
    cache: moka::sync::Cache<SaleId, SaleCounts>,
}

impl BookingClient {
    /// A client for the booking URL `template` (`{sale}` is replaced); answers are reused for `ttl`.
    pub fn new(template: String, timeout: Duration, ttl: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .unwrap_or_default(),
            template,
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The availability URL of a sale.
    pub fn url(&self, sale: &SaleId) -> String {
        format!(
            "{}/api/v1/sales/{sale}/availability",
            self.template.replace("{sale}", sale.as_str())
        )
    }

    /// Live counts of a sale's zones, from the cache when fresh.
    pub async fn counts(&self, sale: &SaleId) -> SaleCounts {
        if let Some(cached) = self.cache.get(sale) {
            return cached;
        }
        let counts = self.fetch(sale).await.map(Arc::new);
        self.cache.insert(sale.clone(), counts.clone());
        counts
    }

    async fn fetch(&self, sale: &SaleId) -> Option<HashMap<String, Counts>> {
        let outcome = async {
            let response = self.http.get(self.url(sale)).send().await?;
            response.error_for_status()?.json::<Report>().await
        }
        .await;
        match outcome {
            Ok(report) => {
                metrics::counter!("ticket_availability_total", "outcome" => "known").increment(1);
                Some(
                    report
                        .zones
                        .into_iter()
                        .map(|z| (z.zone, z.counts))
                        .collect(),
                )
            }
            Err(err) => {
                tracing::warn!(sale.id = %sale, error = %err, "availability unknown");
                metrics::counter!("ticket_availability_total", "outcome" => "unknown").increment(1);
                None
            }
        }
    }
}
