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

    /// A secret variable, or the default when unset.
    pub fn secret_or(&self, name: &str, default: &str) -> SecretString {
        SecretString::from(self.string_or(name, default))
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
    fn zero_durations_are_refused() {
        let env = Env::default().with("SOME_MS", "0");
        assert!(env.millis_or("SOME_MS", 5).is_err());
        assert_eq!(
            Env::default().millis_or("UNSET_MS_X", 5).unwrap(),
            Duration::from_millis(5)
        );
    }
}
