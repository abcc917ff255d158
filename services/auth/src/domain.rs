//! Account input that can only be built valid: email, password, display name.

/// A syntactically valid, normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validates and normalises.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = raw.trim().to_lowercase();
        if normalised.len() > 254
            || !email_address::EmailAddress::is_valid(&normalised)
            || !normalised.contains('.')
        {
            return Err("not a valid email address".into());
        }
        Ok(Self(normalised))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password meeting the policy: 12-128 characters, not a single repeated character, not the email.
pub struct Password(String);

impl Password {
    /// Checks the policy.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, String> {
        let chars = raw.chars().count();
        if !(12..=128).contains(&chars) {
            return Err("must be 12 to 128 characters long".into());
        }
        let mut distinct: Vec<char> = raw.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 {
            return Err("must use at least 4 different characters".into());
        }
        if email.is_some_and(|e| {
            raw.to_lowercase()
                .contains(e.as_str().split('@').next().unwrap_or_default())
        }) {
            return Err("must not contain the email's name".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: at most 80 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 80 || trimmed.chars().any(char::is_control) {
        return Err("must be at most 80 characters without control characters".into());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_validated() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in ["", "ann", "ann@", "@x.com", "a b@x.com", "ann@localhost"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_password_policy_holds() {
        let email = Email::parse("ann@example.com").unwrap();
        assert!(Password::parse("correct horse battery", Some(&email)).is_ok());
        assert!(Password::parse("short", None).is_err());
        assert!(Password::parse("aaaaaaaaaaaaaaaa", None).is_err());
        assert!(Password::parse("ann-is-my-password", Some(&email)).is_err());
        assert!(Password::parse(&"x1y2".repeat(40), None).is_err());
    }
}
