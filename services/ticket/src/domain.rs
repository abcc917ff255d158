//! Catalog input that can only be built valid; every check names the field at fault.

use shared::{
    ids::{SaleId, Slug, ZoneId},
    problem::FieldProblem,
};

/// Longest title or name.
pub const MAX_TITLE: usize = 200;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Longest street address.
pub const MAX_ADDRESS: usize = 500;
/// Longest city name.
pub const MAX_CITY: usize = 100;
/// Longest category.
pub const MAX_CATEGORY: usize = 40;
/// Most image URLs per event.
pub const MAX_IMAGES: usize = 10;
/// Longest image URL.
pub const MAX_URL: usize = 2_048;
/// Most seats in a zone (what provisioning accepts).
pub const MAX_CAPACITY: i64 = 1_000_000;
/// Highest per-buyer cap.
pub const MAX_PER_USER_CAP: i64 = 100;
/// Longest hold of an unpaid reservation, in seconds (what provisioning accepts).
pub const MAX_HOLD_TTL: i64 = 3_600;

/// Collects every problem of a request body before answering.
#[derive(Debug, Default)]
pub struct Checks {
    problems: Vec<FieldProblem>,
}

impl Checks {
    /// Records a problem with `field`.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// One line of text: trimmed, 1..=max characters, no control characters.
    pub fn line(&mut self, field: &str, raw: &str, max: usize) -> Option<String> {
        let text = raw.trim();
        if text.is_empty() {
            self.fail(field, "must not be empty");
            return None;
        }
        self.text(field, text, max, false)
    }

    /// Free text (may be empty, may hold line breaks), at most max characters.
    pub fn paragraph(&mut self, field: &str, raw: &str, max: usize) -> Option<String> {
        self.text(field, raw.trim(), max, true)
    }

    fn text(&mut self, field: &str, text: &str, max: usize, multiline: bool) -> Option<String> {
        if text.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
            return None;
        }
        if text
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        {
            self.fail(field, "must not contain control characters");
            return None;
        }
        Some(text.to_owned())
    }

    /// A URL slug.
    pub fn slug(&mut self, field: &str, raw: &str) -> Option<Slug> {
        Slug::parse(raw)
            .map_err(|e| self.fail(field, e.to_string()))
            .ok()
    }

    /// A category: a short slug such as `concert` or `stand-up`.
    pub fn category(&mut self, field: &str, raw: &str) -> Option<String> {
        let slug = self.slug(field, raw)?;
        if slug.as_str().len() > MAX_CATEGORY {
            self.fail(field, format!("must be at most {MAX_CATEGORY} characters"));
            return None;
        }
        Some(slug.to_string())
    }

    /// An IANA time zone name such as `Europe/Berlin`.
    pub fn timezone(&mut self, field: &str, raw: &str) -> Option<String> {
        let name = raw.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) if !name.is_empty() => Some(name.to_owned()),
            _ => {
                self.fail(
                    field,
                    "must be an IANA time zone name such as Europe/Berlin",
                );
                None
            }
        }
    }

    /// Image URLs: at most [`MAX_IMAGES`] absolute http(s) URLs.
    pub fn image_urls(&mut self, field: &str, raw: &[String]) -> Option<Vec<String>> {
        if raw.len() > MAX_IMAGES {
            self.fail(field, format!("at most {MAX_IMAGES} images"));
            return None;
        }
        let mut ok = true;
        for (i, url) in raw.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let parsed = reqwest::Url::parse(url.trim());
            if url.len() > MAX_URL {
                self.fail(&field, format!("must be at most {MAX_URL} characters"));
                ok = false;
            } else if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            {
                self.fail(&field, "must be an absolute http(s) URL");
                ok = false;
            }
        }
        ok.then(|| raw.iter().map(|u| u.trim().to_owned()).collect())
    }

    /// A sale id.
    pub fn sale_id(&mut self, field: &str, raw: &str) -> Option<SaleId> {
        SaleId::parse(raw)
            .map_err(|e| self.fail(field, e.to_string()))
            .ok()
    }

    /// A zone id.
    pub fn zone_id(&mut self, field: &str, raw: &str) -> Option<ZoneId> {
        ZoneId::parse(raw)
            .map_err(|e| self.fail(field, e.to_string()))
            .ok()
    }

    /// An integer within `range`.
    pub fn within(
        &mut self,
        field: &str,
        value: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        if range.contains(&value) {
            Some(value)
        } else {
            self.fail(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
            None
        }
    }

    /// An ISO 4217 currency code.
    pub fn currency(&mut self, field: &str, raw: &str) -> Option<String> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Some(raw.to_owned())
        } else {
            self.fail(field, "must be a three-letter ISO 4217 code such as EUR");
            None
        }
    }

    /// Whether nothing failed.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems found, as a 422.
    pub fn into_error(self) -> crate::error::TicketError {
        crate::error::TicketError::Invalid(self.problems)
    }

    /// The problems, or `Ok` when there are none.
    pub fn finish(self) -> Result<(), crate::error::TicketError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(crate::error::TicketError::Invalid(self.problems))
        }
    }
}

/// Deserialises a field that may be absent (keep), `null` (clear) or a value (set).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_its_field() {
        let mut checks = Checks::default();
        assert!(checks.line("title", "  ", 10).is_none());
        assert!(checks.line("name", "abcdefghijk", 10).is_none());
        assert!(checks.line("city", "a\u{7}b", 10).is_none());
        assert_eq!(
            checks.paragraph("description", "two\nlines", 20).as_deref(),
            Some("two\nlines")
        );
        assert!(checks.timezone("timezone", "Mars/Olympus").is_none());
        assert_eq!(
            checks.timezone("timezone", "Europe/Berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert!(checks.currency("currency", "eur").is_none());
        assert!(checks.within("capacity", -1, 1..=10).is_none());
        assert!(
            checks
                .image_urls("imageUrls", &["javascript:alert(1)".into()])
                .is_none()
        );
        let fields: Vec<String> = checks.problems.iter().map(|p| p.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "name",
                "city",
                "timezone",
                "currency",
                "capacity",
                "imageUrls[0]"
            ]
        );
    }
}
