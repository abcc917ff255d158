//! A directory of Ed25519 signing keys, one `<kid>.pem` per key: the newest signs, all verify.

use std::path::{Path, PathBuf};

use crate::auth::{TokenError, TokenSigner};

/// Signing keys kept as `<kid>.pem` files; kids sort by creation time.
#[derive(Debug, Clone)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    /// The directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the keys live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key, oldest first.
    pub fn load(&self) -> Result<Vec<TokenSigner>, TokenError> {
        let unreadable = |e: std::io::Error| {
            TokenError::KeysUnavailable(format!("{}: {e}", self.path.display()))
        };
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&self.path)
            .map_err(unreadable)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter_map(|path| {
                let kid = path.file_name()?.to_str()?.strip_suffix(".pem")?.to_owned();
                Some((kid, path))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(kid, path)| {
                TokenSigner::from_pem(&kid, &std::fs::read(&path).map_err(unreadable)?)
            })
            .collect()
    }

    /// Adds a new key, which becomes the signing key, and rewrites `jwks.json`.
    pub fn rotate(&self) -> Result<String, TokenError> {
        let failed = |e: std::io::Error| {
            TokenError::KeysUnavailable(format!("{}: {e}", self.path.display()))
        };
        std::fs::create_dir_all(&self.path).map_err(failed)?;
        // Fixed-width nanoseconds: kids sort by creation time, so the newest key signs.
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let kid = format!("k{now:020}");
        let signer = TokenSigner::generate(&kid)?;
        let pem = self.path.join(format!("{kid}.pem"));
        write_private(&pem, signer.private_pem()).map_err(failed)?;
        self.write_jwks()?;
        Ok(kid)
    }

    /// Creates the first key unless one exists; returns the signing kid.
    pub fn ensure(&self) -> Result<String, TokenError> {
        match self.load() {
            Ok(keys) if !keys.is_empty() => {
                self.write_jwks()?;
                Ok(keys[keys.len() - 1].kid().to_owned())
            }
            _ => self.rotate(),
        }
    }

    /// Removes a key (after its tokens have expired) and rewrites `jwks.json`.
    pub fn retire(&self, kid: &str) -> Result<(), TokenError> {
        std::fs::remove_file(self.path.join(format!("{kid}.pem")))
            .map_err(|e| TokenError::KeysUnavailable(format!("{kid}: {e}")))?;
        self.write_jwks()
    }

    /// Writes `jwks.json` with every public key, for services that verify from a file.
    pub fn write_jwks(&self) -> Result<(), TokenError> {
        let keys: Vec<serde_json::Value> = self.load()?.iter().map(TokenSigner::jwk).collect();
        let body = serde_json::to_vec_pretty(&serde_json::json!({ "keys": keys }))
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        std::fs::write(self.path.join("jwks.json"), body)
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_keys_and_signs_with_the_newest() {
        let dir =
            KeyDir::new(std::env::temp_dir().join(format!("br-keys-{}", uuid::Uuid::new_v4())));
        let first = dir.ensure().unwrap();
        assert_eq!(dir.ensure().unwrap(), first);
        let second = dir.rotate().unwrap();
        let keys = dir.load().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.last().unwrap().kid(), second);
        let jwks: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("jwks.json")).unwrap()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        dir.retire(&first).unwrap();
        assert_eq!(dir.load().unwrap().len(), 1);
        std::fs::remove_dir_all(dir.path()).unwrap();
    }
}
