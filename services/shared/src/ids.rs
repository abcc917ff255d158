//! Identifiers that can only be built valid: sale and zone ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidId(String);

/// The pattern every sale and zone id matches (JSON Schema `pattern`, as `check_slug` enforces).
pub const SLUG_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

fn check_slug(kind: &str, raw: &str, max: usize) -> Result<(), InvalidId> {
    let ok_chars = raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = raw
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && raw
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if raw.is_empty() || raw.len() > max || !ok_chars || !ok_ends {
        return Err(InvalidId(format!(
            "{kind} must be 1-{max} characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                check_slug($kind, raw, $max)?;
                Ok(Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                check_slug($kind, &raw, $max)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": $max,
                    "pattern": SLUG_PATTERN,
                })
            }
        }
    };
}

slug_id!(
    /// A sale's id: a DNS label, so it can name the sale's Kubernetes objects and topics.
    SaleId, "sale id", 40
);
slug_id!(
    /// A zone's id within a sale.
    ZoneId, "zone id", 32
);
slug_id!(
    /// A URL slug, such as an event's.
    Slug, "slug", 80
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels_only() {
        assert!(SaleId::parse("demo-2026").is_ok());
        for bad in ["", "-x", "x-", "Demo", "a_b", "a{b}", &"a".repeat(41)] {
            assert!(SaleId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_schema_pattern_agrees_with_the_parser() {
        let schema = serde_json::to_value(schemars::schema_for!(SaleId)).unwrap();
        assert_eq!(schema["pattern"], SLUG_PATTERN);
        assert_eq!(schema["maxLength"], 40);
        let zone = serde_json::to_value(schemars::schema_for!(ZoneId)).unwrap();
        assert_eq!(zone["maxLength"], 32);
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<ZoneId>("\"floor\"").is_ok());
        assert!(serde_json::from_str::<ZoneId>("\"FLOOR!\"").is_err());
    }
}
