//! Which sales this process serves, resolved from configuration or the sale registry.

use redis::{AsyncCommands, aio::ConnectionManager};
use shared::{ids::SaleId, keys::SALES_REGISTRY};

use crate::config::SaleScope;

/// Resolves the current list of served sales.
#[derive(Clone)]
pub struct Sales {
    scope: SaleScope,
    conn: ConnectionManager,
}

impl Sales {
    /// Sales per `scope`, looked up through `conn`.
    pub fn new(scope: SaleScope, conn: ConnectionManager) -> Self {
        Self { scope, conn }
    }

    /// Whether requests for `sale` belong to this process.
    pub fn serves(&self, sale: &SaleId) -> bool {
        match &self.scope {
            SaleScope::All => true,
            SaleScope::Only(list) => list.contains(sale),
        }
    }

    /// The sales served right now, sorted.
    pub async fn current(&self) -> redis::RedisResult<Vec<SaleId>> {
        let mut sales = match &self.scope {
            SaleScope::Only(list) => list.clone(),
            SaleScope::All => {
                let mut conn = self.conn.clone();
                let members: Vec<String> = conn.smembers(SALES_REGISTRY).await?;
                members
                    .iter()
                    .filter_map(|s| SaleId::parse(s).ok())
                    .collect()
            }
        };
        sales.sort();
        Ok(sales)
    }
}
