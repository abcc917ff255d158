//! Typed configuration read from environment variables, with local defaults and errors that name the variable.

use std::{fmt::Display, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: String,
    /// What is wrong with its value.
    pub reason: String,
}

/// Reads variables from the process environment, or from a fixed list (in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Vec<(String, String)>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self::default()
    }

    /// The process environment with these variables taking precedence.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.overrides.push((name.to_owned(), value.into()));
        self
    }

    /// The raw value of a variable, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.trim().is_empty())
    }

    /// A parsed variable, or the default when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
                name: name.to_owned(),
                reason: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }

    /// A string variable, or the default when unset.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// An http(s) base URL (trailing slashes dropped), or the default when unset.
    pub fn http_url_or(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let value = self.string_or(name, default);
        if !(value.starts_with("http://") || value.starts_with("https://")) {
            return Err(ConfigError {
                name: name.into(),
                reason: format!("{value:?} is not an http(s) URL"),
            });
        }
        Ok(value.trim_end_matches('/').to_owned())
    }

    /// A secret variable, or the default when unset.
    pub fn secret_or(&self, name: &str, default: &str) -> SecretString {
        SecretString::from(self.string_or(name, default))
    }

    /// A secret from `name`, else from the file named by `{name}_FILE` (default `default_file`);
    /// a missing default file is created with a fresh random secret, so a local stack works
    /// without any secret in the repository. Set `name` (from a secret store) in production.
    pub fn secret_or_local_file(
        &self,
        name: &str,
        default_file: &str,
    ) -> Result<SecretString, ConfigError> {
        if let Some(value) = self.get(name) {
            return Ok(SecretString::from(value));
        }
        let file_var = format!("{name}_FILE");
        let path = std::path::PathBuf::from(self.string_or(&file_var, default_file));
        let fail = |reason: String| ConfigError {
            name: file_var.clone(),
            reason: format!("{}: {reason}", path.display()),
        };
        if !path.exists() && self.get(&file_var).is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            }
            let fresh: String = {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            };
            // Whoever creates the file first wins; a concurrent starter reads the same secret.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(fresh.as_bytes())
                        .map_err(|e| fail(e.to_string()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        let raw = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
        let secret = raw.trim();
        if secret.len() < 16 {
            return Err(fail("a secret must be at least 16 characters".into()));
        }
        Ok(SecretString::from(secret.to_owned()))
    }

    /// A duration given in milliseconds, or the default when unset; zero is refused.
    pub fn millis_or(&self, name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse_or(name, default_ms)?;
        if ms == 0 {
            return Err(ConfigError {
                name: name.to_owned(),
                reason: "must be greater than zero".into(),
            });
        }
        Ok(Duration::from_millis(ms))
    }
}

/// Where a service listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Interface to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
}

impl HttpConfig {
    /// Reads `{PREFIX}_HOST` and `{PREFIX}_PORT`.
    pub fn from_env(env: &Env, prefix: &str, default_port: u16) -> Result<Self, ConfigError> {
        Ok(Self {
            host: env.string_or(&format!("{prefix}_HOST"), "127.0.0.1"),
            port: env.parse_or(&format!("{prefix}_PORT"), default_port)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_variable() {
        let env = Env::default().with("SOME_PORT", "eighty");
        let err = env.parse_or::<u16>("SOME_PORT", 1).unwrap_err();
        assert!(err.to_string().contains("SOME_PORT"), "{err}");
    }

    #[test]
    fn a_local_secret_file_is_created_once_and_an_explicit_value_wins() {
        use secrecy::ExposeSecret;
        let dir = std::env::temp_dir().join(format!("br-secret-{}", uuid::Uuid::new_v4()));
        let file = dir.join("s");
        let path = file.to_str().unwrap();
        let first = Env::default()
            .secret_or_local_file("UNSET_SECRET_X", path)
            .unwrap();
        let second = Env::default()
            .secret_or_local_file("UNSET_SECRET_X", path)
            .unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
        let explicit = Env::default()
            .with("SOME_SECRET_X", "from-the-environment")
            .secret_or_local_file("SOME_SECRET_X", path)
            .unwrap();
        assert_eq!(explicit.expose_secret(), "from-the-environment");
        let short = Env::default()
            .with("SHORT_SECRET_X_FILE", path)
            .secret_or_local_file("SHORT_SECRET_X", path);
        assert!(short.is_ok());
        std::fs::write(&file, "tiny").unwrap();
        let err = Env::default()
            .secret_or_local_file("UNSET_SECRET_X", path)
            .unwrap_err();
        assert!(err.to_string().contains("UNSET_SECRET_X_FILE"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn zero_durations_are_refused() {
        let env = Env::default().with("SOME_MS", "0");
        assert!(env.millis_or("SOME_MS", 5).is_err());
        assert_eq!(
            Env::default().millis_or("UNSET_MS_X", 5).unwrap(),
            Duration::from_millis(5)
        );
    }
}
