//! The sale's live state outside Kubernetes: Redis inventory and Kafka topics, provisioned through
//! the provisioning library and read back for the status. Clients connect lazily, so the
//! operator starts (and keeps managing workloads) while Redis or Kafka is down.

use std::{collections::HashMap, sync::Arc, time::Duration};

use provisioning::{ProvisionError, Provisioner, SaleSpec, catalog::CatalogCheck};
use rdkafka::{admin::AdminClient, client::DefaultClientContext, error::KafkaError};
use redis::aio::ConnectionManager;
use shared::{
    ids::SaleId,
    kafka::{EventPublisher, KafkaConfig},
    keys::SaleKeys,
    redis::RedisConfig,
};
use tokio::sync::OnceCell;

use crate::crd::ZoneInventory;

/// Why the backend could not be reached or changed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Provisioning refused or failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Kafka failed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The attempt took longer than allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl BackendError {
    /// A bounded label for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Provision(ProvisionError::Invalid(_)) => "InvalidSpec",
            Self::Provision(ProvisionError::SeatsBelowCommitted(_)) => "SeatsBelowCommitted",
            Self::Provision(ProvisionError::Redis(_)) | Self::Redis(_) => "RedisUnavailable",
            Self::Provision(ProvisionError::Kafka(KafkaError::AdminOp(_)))
            | Self::Kafka(KafkaError::AdminOp(_)) => "TopicsRefused",
            Self::Provision(ProvisionError::Kafka(_) | ProvisionError::Publish(_))
            | Self::Kafka(_) => "KafkaUnavailable",
            Self::Timeout(_) => "BackendTimeout",
        }
    }
}

struct Clients {
    provisioner: Provisioner,
    redis: ConnectionManager,
    admin: Arc<AdminClient<DefaultClientContext>>,
}

/// Lazily connected Redis and Kafka clients with a time bound on every operation.
#[derive(Clone)]
pub struct Backend {
    redis: RedisConfig,
    kafka: KafkaConfig,
    timeout: Duration,
    catalog: Option<CatalogCheck>,
    clients: Arc<OnceCell<Clients>>,
}

impl Backend {
    /// A backend that connects on first use; each operation gives up after `timeout`.
    pub fn new(redis: RedisConfig, kafka: KafkaConfig, timeout: Duration) -> Self {
        Self {
            redis,
            kafka,
            timeout,
            catalog: None,
            clients: Arc::new(OnceCell::new()),
        }
    }

    /// Checks every sale against its catalog show before provisioning it (when `Some`).
    pub fn with_catalog(mut self, catalog: Option<CatalogCheck>) -> Self {
        self.catalog = catalog;
        self
    }

    async fn clients(&self) -> Result<&Clients, BackendError> {
        self.clients
            .get_or_try_init(|| async {
                let redis = self.redis.connect().await?;
                let admin = self.kafka.admin()?;
                let admin_for_reads = Arc::new(self.kafka.admin()?);
                let publisher =
                    EventPublisher::new(self.kafka.producer()?, self.kafka.produce_timeout);
                Ok(Clients {
                    provisioner: Provisioner::new(redis.clone(), admin, publisher)
                        .with_catalog(self.catalog.clone()),
                    redis,
                    admin: admin_for_reads,
                })
            })
            .await
    }

    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(BackendError::Timeout(self.timeout)))
    }

    /// Creates or grows the topics and seeds or updates the inventory.
    pub async fn provision(&self, spec: &SaleSpec) -> Result<(), BackendError> {
        self.bounded(async {
            self.clients().await?.provisioner.apply(spec).await?;
            Ok(())
        })
        .await
    }

    /// Deletes the sale's Redis keys and topics.
    pub async fn delete(&self, sale: &SaleId) -> Result<(), BackendError> {
        self.bounded(async {
            self.clients().await?.provisioner.delete(sale).await?;
            Ok(())
        })
        .await
    }

    /// Reads the live inventory of the spec's zones; a zone missing from Redis is left out.
    pub async fn inventory(&self, spec: &SaleSpec) -> Result<Vec<ZoneInventory>, BackendError> {
        self.bounded(async {
            let mut conn = self.clients().await?.redis.clone();
            let keys = SaleKeys::new(&spec.sale_id);
            let mut pipe = redis::pipe();
            for zone in &spec.zones {
                pipe.cmd("HMGET").arg(keys.zone(&zone.id)).arg(&[
                    "capacity",
                    "available",
                    "held",
                    "sold",
                ]);
            }
            let rows: Vec<[Option<i64>; 4]> = pipe.query_async(&mut conn).await?;
            Ok(spec
                .zones
                .iter()
                .zip(rows)
                .filter_map(|(zone, row)| match row {
                    [Some(capacity), Some(available), held, sold] => Some(ZoneInventory {
                        zone: zone.id.to_string(),
                        capacity,
                        available,
                        held: held.unwrap_or_default(),
                        sold: sold.unwrap_or_default(),
                    }),
                    _ => None,
                })
                .collect())
        })
        .await
    }

    /// Partition counts of the sale's existing topics.
    pub async fn topic_partitions(
        &self,
        sale: &SaleId,
    ) -> Result<HashMap<String, usize>, BackendError> {
        self.bounded(async {
            let admin = &self.clients().await?.admin;
            Ok(shared::kafka::topic_partitions(admin, &provisioning::topics(sale)).await?)
        })
        .await
    }

    /// Checks that Redis answers (for `/readyz`).
    pub async fn ping_redis(&self) -> Result<(), BackendError> {
        self.bounded(async {
            shared::redis::ping(&self.clients().await?.redis).await?;
            Ok(())
        })
        .await
    }
}
