//! The signing keys in use: loaded from the key directory and re-read periodically, so a rotation
//! takes effect without a restart.

use std::{sync::Arc, time::Duration};

use shared::{auth::TokenSigner, keys_dir::KeyDir};
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

/// The current keys: the newest signs, all are published.
#[derive(Clone)]
pub struct KeyRing {
    dir: KeyDir,
    keys: Arc<RwLock<Vec<Arc<TokenSigner>>>>,
}

impl KeyRing {
    /// Loads the directory, creating a first key if it holds none.
    pub fn open(dir: KeyDir) -> anyhow::Result<Self> {
        dir.ensure()?;
        let keys = dir.load()?.into_iter().map(Arc::new).collect();
        Ok(Self {
            dir,
            keys: Arc::new(RwLock::new(keys)),
        })
    }

    /// The signing key.
    pub async fn signer(&self) -> Option<Arc<TokenSigner>> {
        self.keys.read().await.last().cloned()
    }

    /// The JWKS document of every key.
    pub async fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.keys.read().await.iter().map(|k| k.jwk()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Re-reads the directory every `every` until `shutdown`.
    pub async fn refresh(self, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.dir.load() {
                Ok(keys) if !keys.is_empty() => {
                    let mut current = self.keys.write().await;
                    let changed = current.len() != keys.len()
                        || current.iter().zip(&keys).any(|(a, b)| a.kid() != b.kid());
                    if changed {
                        tracing::info!(kids = ?keys.iter().map(TokenSigner::kid).collect::<Vec<_>>(), "signing keys reloaded");
                        *current = keys.into_iter().map(Arc::new).collect();
                    }
                }
                Ok(_) => tracing::warn!("key directory is empty; keeping the loaded keys"),
                Err(err) => {
                    tracing::warn!(error = %err, "reading signing keys failed; keeping the loaded keys")
                }
            }
        }
    }
}
