//! The queue pass: an opaque random string (not a token of any kind) that an admitted buyer sends
//! in the `Queue-Pass` header to reserve. Redis holds whose it is and until when.

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use shared::problem::Problem;

/// The header a queue pass travels in.
pub const HEADER: &str = "queue-pass";

/// Longest pass accepted.
const MAX_LEN: usize = 128;

/// A well-formed queue pass: 1-128 characters of the URL-safe base64 alphabet.
#[derive(Clone, PartialEq, Eq)]
pub struct QueuePass(String);

impl std::fmt::Debug for QueuePass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueuePass(…)")
    }
}

impl QueuePass {
    /// A fresh pass: 256 random bits.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Checks the shape (it becomes part of a Redis key, so nothing else gets through).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("Queue-Pass must be the pass the queue handed out (1-128 characters of A-Z, a-z, 0-9, '-' and '_')".into())
        }
    }

    /// The pass.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pass a request carries, if any; a malformed one is a 400 naming the header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Problem> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let invalid = |message: String| {
            Problem::bad_request("invalid_queue_pass", message.clone())
                .with_field("Queue-Pass", message)
        };
        let text = value
            .to_str()
            .map_err(|_| invalid("Queue-Pass must be visible ASCII".into()))?;
        Self::parse(text.trim()).map(Some).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passes_are_well_formed_and_distinct() {
        let a = QueuePass::generate();
        let b = QueuePass::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(QueuePass::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn anything_that_could_reach_another_key_is_refused() {
        for bad in ["", "a}b", "{x}", "a b", "a:b", "é", &"a".repeat(129)] {
            assert!(QueuePass::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
