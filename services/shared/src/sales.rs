//! Which sales a per-sale service serves: a fixed list (in a cluster) or every provisioned sale (locally).

use redis::{AsyncCommands, aio::ConnectionManager};

use crate::{
    config::{ConfigError, Env},
    ids::SaleId,
    keys::SALES_REGISTRY,
};

/// Which sales this process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleScope {
    /// Every provisioned sale (local mode).
    All,
    /// Only these (a per-sale deployment).
    Only(Vec<SaleId>),
}

impl SaleScope {
    /// Reads `name`: `*` (the default) for every provisioned sale, or a comma-separated list.
    pub fn from_env(env: &Env, name: &str) -> Result<Self, ConfigError> {
        match env.string_or(name, "*").trim() {
            "*" => Ok(Self::All),
            list => list
                .split(',')
                .map(|s| SaleId::parse(s.trim()))
                .collect::<Result<_, _>>()
                .map(Self::Only)
                .map_err(|e| ConfigError {
                    name: name.into(),
                    reason: e.to_string(),
                }),
        }
    }
}

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

    /// Parses a sale id from a request path, if this process serves that sale.
    pub fn resolve(&self, raw: &str) -> Option<SaleId> {
        SaleId::parse(raw).ok().filter(|sale| self.serves(sale))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_list_is_validated_and_names_its_variable() {
        let env = Env::default().with("SOME_SALES", "demo, other");
        assert_eq!(
            SaleScope::from_env(&env, "SOME_SALES").unwrap(),
            SaleScope::Only(vec![
                SaleId::parse("demo").unwrap(),
                SaleId::parse("other").unwrap()
            ])
        );
        let bad = Env::default().with("SOME_SALES", "Demo!");
        assert!(
            SaleScope::from_env(&bad, "SOME_SALES")
                .unwrap_err()
                .to_string()
                .contains("SOME_SALES")
        );
        assert_eq!(
            SaleScope::from_env(&Env::default(), "UNSET_SALES_X").unwrap(),
            SaleScope::All
        );
    }
}
