//! Webhook signatures: `Psp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the signature.
pub const HEADER: &str = "psp-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("the Psp-Signature header is missing")]
    Missing,
    /// The header is not `t=…,v1=…`.
    #[error("the Psp-Signature header is malformed")]
    Malformed,
    /// The timestamp is outside the tolerance (a replay, or a clock far off).
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    /// No signature matches the body.
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a header value against `body`, accepting timestamps within `tolerance_s` of `now`.
/// Several `v1` entries are allowed (secret rotation); the comparison is constant-time.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance_s.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    if candidates
        .iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_body_verifies_and_any_change_is_refused() {
        let header = sign(b"secret-secret-secret", 1_000, b"{\"a\":1}");
        assert_eq!(
            verify(
                b"secret-secret-secret",
                Some(&header),
                b"{\"a\":1}",
                1_010,
                300
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                b"secret-secret-secret",
                Some(&header),
                b"{\"a\":2}",
                1_010,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"another-secret-xx",
                Some(&header),
                b"{\"a\":1}",
                1_010,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"secret-secret-secret",
                Some(&header),
                b"{\"a\":1}",
                1_400,
                300
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"secret-secret-secret", None, b"{}", 1_000, 300),
            Err(SignatureError::Missing)
        );
        for bad in ["garbage", "t=abc,v1=00", "t=1000", "v1=zz,t=1000"] {
            assert_eq!(
                verify(b"secret-secret-secret", Some(bad), b"{}", 1_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MAX, -1] {
            let header = sign(b"secret-secret-secret", t, b"{}");
            assert_eq!(
                verify(
                    b"secret-secret-secret",
                    Some(&header),
                    b"{}",
                    1_000_000,
                    300
                ),
                Err(SignatureError::Stale),
                "t={t}"
            );
        }
    }
}
