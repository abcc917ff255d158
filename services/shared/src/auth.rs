//! Access tokens: EdDSA/ES256 JWTs with a `kid`, verified by every service against a JWKS
//! (from a URL or a local file), and the `AuthUser` extractor built on that.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    jwk::{Jwk, JwkSet},
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

use crate::{
    config::{ConfigError, Env},
    problem::Problem,
};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Buys tickets.
    Customer,
    /// Runs events and sales.
    Organizer,
    /// Operates the platform.
    Admin,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's role.
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Token id.
    pub jti: Uuid,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

impl Claims {
    /// Claims for `sub` valid from now for `ttl`.
    pub fn new(sub: Uuid, role: Role, ttl: Duration, issuer: &str, audience: &str) -> Self {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Self {
            sub,
            role,
            exp: now + ttl.as_secs() as i64,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4(),
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
        }
    }
}

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS document served over HTTP.
    Url(String),
    /// A JWKS document on disk.
    File(PathBuf),
    /// A directory of signing keys (`<kid>.pem`), for the service that signs.
    Dir(PathBuf),
}

/// Token verification settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where the public keys are.
    pub keys: KeySource,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
}

/// Default issuer of access tokens.
pub const DEFAULT_ISSUER: &str = "booking-rush-auth";
/// Default audience of access tokens.
pub const DEFAULT_AUDIENCE: &str = "booking-rush";

impl AuthConfig {
    /// Reads `AUTH_JWKS_URL` or `AUTH_JWKS_FILE` (default `.dev/keys/jwks.json`), `AUTH_ISSUER`, `AUTH_AUDIENCE`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let keys = match env.get("AUTH_JWKS_URL") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                KeySource::Url(url)
            }
            Some(url) => {
                return Err(ConfigError {
                    name: "AUTH_JWKS_URL".into(),
                    reason: format!("{url:?} is not an http(s) URL"),
                });
            }
            None => KeySource::File(
                env.string_or("AUTH_JWKS_FILE", ".dev/keys/jwks.json")
                    .into(),
            ),
        };
        Ok(Self {
            keys,
            issuer: env.string_or("AUTH_ISSUER", DEFAULT_ISSUER),
            audience: env.string_or("AUTH_AUDIENCE", DEFAULT_AUDIENCE),
        })
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is malformed or its signature, algorithm or claims are wrong.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token's `kid` is not a known key.
    #[error("unknown signing key")]
    UnknownKey,
    /// The keys could not be loaded.
    #[error("verification keys unavailable: {0}")]
    KeysUnavailable(String),
}

struct VerificationKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

struct KeyCache {
    keys: HashMap<String, Arc<VerificationKey>>,
    fetched_at: Option<Instant>,
}

/// How long a verified token stays in the cache at most.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Lifetimes of cached verifications: each token's falls in the second half of the TTL, placed by
/// the token's hash. Buyers who arrive together (a sale's opening) are verified together; with one
/// lifetime for all, their entries would also lapse together and send every one of them back to
/// a signature check in the same instant, in the middle of the rush.
struct SpreadExpiry {
    ttl: Duration,
    hasher: crate::KeyHasher,
}

impl moka::Expiry<String, Arc<Claims>> for SpreadExpiry {
    fn expire_after_create(
        &self,
        token: &String,
        _claims: &Arc<Claims>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(spread(self.ttl, self.hasher.hash_one(token)))
    }
}

/// A lifetime from `ttl / 2` to `ttl`, placed by `hash`.
fn spread(ttl: Duration, hash: u64) -> Duration {
    let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
    ttl / 2 + ttl.mul_f64(fraction / 2.0)
}

/// Verifies access tokens; keys are cached and reloaded (rate-limited) when an unknown `kid` shows up.
pub struct TokenVerifier {
    config: AuthConfig,
    cache: RwLock<KeyCache>,
    /// Held while keys are fetched: a verification meeting an unknown `kid` during a fetch waits
    /// for that fetch's keys instead of being refused by the rate limit the fetch just set.
    reloading: Mutex<()>,
    /// Tokens already verified, so the hot path pays for a signature check once per token. Only
    /// verified tokens are stored; with std's SipHash on these several-hundred-byte keys a cached
    /// check in the gateway took about 2,400 instructions, with `KeyHasher` about 1,400.
    /// The claims are shared, so a hit hands out a pointer rather than copying the issuer and
    /// audience strings.
    verified: moka::sync::Cache<String, Arc<Claims>, crate::KeyHasher>,
    http: reqwest::Client,
    refetch_every: Duration,
}

impl TokenVerifier {
    /// A verifier; keys load on first use.
    pub fn new(config: AuthConfig) -> Self {
        Self::with_verified_ttl(config, VERIFIED_TTL)
    }

    /// A verifier whose verified tokens stay cached for at most `ttl`.
    fn with_verified_ttl(config: AuthConfig, ttl: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            config,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
            }),
            reloading: Mutex::new(()),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .expire_after(SpreadExpiry {
                    ttl,
                    hasher: crate::KeyHasher::default(),
                })
                .build_with_hasher(crate::KeyHasher::default()),
            http,
            refetch_every: Duration::from_secs(10),
        }
    }

    /// Loads the keys now, so a service fails at start when they are missing.
    pub async fn preload(&self) -> Result<usize, TokenError> {
        self.reload(true).await
    }

    /// Verifies a compact JWT and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            // Expiry is re-checked on every hit; the cache never extends a token's life.
            if claims.exp > time::OffsetDateTime::now_utc().unix_timestamp() {
                return Ok(claims);
            }
            self.verified.invalidate(token);
        }
        let claims = Arc::new(self.verify_uncached(token).await?);
        self.verified.insert(token.to_owned(), Arc::clone(&claims));
        Ok(claims)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("the token names no key (kid)".into()))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.reload(false).await?;
                self.key(&kid).await.ok_or(TokenError::UnknownKey)?
            }
        };
        if header.alg != key.algorithm {
            return Err(TokenError::Invalid(
                "algorithm does not match the key".into(),
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    async fn key(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.cache.read().await.keys.get(kid).cloned()
    }

    async fn reload(&self, force: bool) -> Result<usize, TokenError> {
        // One fetch at a time. The cache's lock is not held during it, so a slow key endpoint
        // never stalls verification with known keys; only callers that need a reload wait here,
        // and one that waited finds the keys the fetch before it brought.
        let _reloading = self.reloading.lock().await;
        {
            let mut cache = self.cache.write().await;
            if !force
                && cache
                    .fetched_at
                    .is_some_and(|at| at.elapsed() < self.refetch_every)
            {
                return Ok(cache.keys.len());
            }
            cache.fetched_at = Some(Instant::now());
        }
        let set = self.fetch().await?;
        let keys: HashMap<String, Arc<VerificationKey>> =
            set.keys.iter().filter_map(verification_key).collect();
        let count = keys.len();
        self.cache.write().await.keys = keys;
        Ok(count)
    }

    async fn fetch(&self) -> Result<JwkSet, TokenError> {
        let unavailable = |e: &dyn std::fmt::Display| TokenError::KeysUnavailable(e.to_string());
        match &self.config.keys {
            KeySource::Url(url) => {
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| unavailable(&e))?;
                let response = response.error_for_status().map_err(|e| unavailable(&e))?;
                response.json().await.map_err(|e| unavailable(&e))
            }
            KeySource::File(path) => {
                let raw = tokio::fs::read(path)
                    .await
                    .map_err(|e| unavailable(&format!("{}: {e}", path.display())))?;
                serde_json::from_slice(&raw)
                    .map_err(|e| unavailable(&format!("{}: {e}", path.display())))
            }
            KeySource::Dir(path) => {
                let keys: Vec<serde_json::Value> = crate::keys_dir::KeyDir::new(path)
                    .load()?
                    .iter()
                    .map(TokenSigner::jwk)
                    .collect();
                serde_json::from_value(serde_json::json!({ "keys": keys }))
                    .map_err(|e| unavailable(&e))
            }
        }
    }
}

fn verification_key(jwk: &Jwk) -> Option<(String, Arc<VerificationKey>)> {
    let kid = jwk.common.key_id.clone()?;
    let algorithm = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Arc::new(VerificationKey { key, algorithm })))
}

/// Signs access tokens with an Ed25519 key.
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
    public: [u8; 32],
    private_pem: String,
}

impl TokenSigner {
    /// A fresh random key called `kid`.
    pub fn generate(kid: &str) -> Result<Self, TokenError> {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        Self::from_pem(kid, pem.as_bytes())
    }

    /// A signer from a PKCS#8 PEM Ed25519 private key.
    pub fn from_pem(kid: &str, pem: &[u8]) -> Result<Self, TokenError> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let text =
            std::str::from_utf8(pem).map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map_err(|e| TokenError::KeysUnavailable(format!("not a PKCS#8 Ed25519 key: {e}")))?;
        let key = EncodingKey::from_ed_pem(pem)
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            key,
            public: signing.verifying_key().to_bytes(),
            private_pem: text.to_owned(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM (to store it).
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(self.public),
        })
    }

    /// A JWKS document holding this key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk()] })
    }

    /// Signs claims into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// The authenticated caller, taken from a verified bearer token and never from other headers.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
    /// Role.
    pub role: Role,
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthenticated(
                "missing_token",
                "send an access token as `Authorization: Bearer <token>`",
            )
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthenticated(
                    "invalid_token",
                    "the Authorization header is not `Bearer <token>`",
                )
            })?;
        match verifier.verify(token).await {
            Ok(claims) => Ok(Self {
                id: claims.sub,
                role: claims.role,
            }),
            Err(TokenError::KeysUnavailable(reason)) => {
                tracing::error!(%reason, "token verification keys unavailable");
                Err(Problem::unavailable(
                    "auth_keys_unavailable",
                    "tokens cannot be verified right now",
                ))
            }
            Err(err) => {
                tracing::debug!(error = %err, "token refused");
                Err(Problem::unauthenticated(
                    "invalid_token",
                    "the access token is invalid or expired",
                ))
            }
        }
    }
}

/// `Option<AuthUser>`: `None` without an `Authorization` header; a presented token must be valid.
impl<S> axum::extract::OptionalFromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verifier_for(signer: &TokenSigner) -> (TokenVerifier, tempdir::Dir) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("jwks.json");
        std::fs::write(&path, signer.jwks().to_string()).unwrap();
        let verifier = TokenVerifier::new(AuthConfig {
            keys: KeySource::File(path),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        });
        (verifier, dir)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let path = std::env::temp_dir().join(format!("br-auth-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn claims(ttl: Duration) -> Claims {
        Claims::new(
            Uuid::new_v4(),
            Role::Customer,
            ttl,
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
    }

    #[tokio::test]
    async fn a_signed_token_verifies_and_a_stored_key_round_trips() {
        let signer = TokenSigner::generate("k1").unwrap();
        let reloaded = TokenSigner::from_pem("k1", signer.private_pem().as_bytes()).unwrap();
        let (verifier, _dir) = verifier_for(&signer).await;
        let c = claims(Duration::from_secs(60));
        assert_eq!(
            *verifier.verify(&reloaded.sign(&c).unwrap()).await.unwrap(),
            c
        );
    }

    /// Tokens verified at once while the first of them fetches the keys from a slow endpoint
    /// (a service's first requests, or the first after a key rotation) all wait for that fetch.
    #[tokio::test]
    async fn verifications_arriving_during_a_key_fetch_wait_for_its_keys() {
        let signer = TokenSigner::generate("k1").unwrap();
        let jwks = signer.jwks();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    axum::Json(jwks)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let verifier = Arc::new(TokenVerifier::new(AuthConfig {
            keys: KeySource::Url(format!("http://127.0.0.1:{port}/jwks.json")),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        }));
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let verifier = Arc::clone(&verifier);
                let token = signer.sign(&claims(Duration::from_secs(60))).unwrap();
                tokio::spawn(async move { verifier.verify(&token).await.map(|_| ()) })
            })
            .collect();
        let mut refused = Vec::new();
        for check in checks {
            if let Err(err) = check.await.unwrap() {
                refused.push(err.to_string());
            }
        }
        assert!(refused.is_empty(), "refused during the fetch: {refused:?}");
    }

    #[test]
    fn cached_lifetimes_fall_in_the_second_half_of_the_ttl() {
        let ttl = Duration::from_secs(60);
        assert_eq!(spread(ttl, 0), Duration::from_secs(30));
        assert!(spread(ttl, u64::MAX) <= ttl);
        assert!(spread(ttl, u64::MAX) > Duration::from_millis(59_999));
        assert_eq!(spread(ttl, 1 << 63), Duration::from_secs(45));
    }

    /// Tokens verified together (buyers arriving at a sale's opening) leave the cache one by one
    /// over the second half of its lifetime, not all in the same instant.
    #[tokio::test]
    async fn tokens_verified_together_do_not_lapse_together() {
        let config = AuthConfig {
            keys: KeySource::File("unused-jwks.json".into()),
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
        };
        let verifier = TokenVerifier::with_verified_ttl(config, Duration::from_secs(4));
        let tokens: Vec<String> = (0..100).map(|i| format!("token-{i}")).collect();
        let started = Instant::now();
        // As `verify` stores them, without the signature checks' time between them.
        for token in &tokens {
            let claims = Arc::new(claims(Duration::from_secs(60)));
            verifier.verified.insert(token.clone(), claims);
        }
        let cached = |verifier: &TokenVerifier| {
            tokens
                .iter()
                .filter(|t| verifier.verified.contains_key(*t))
                .count()
        };
        tokio::time::sleep_until((started + Duration::from_secs(1)).into()).await;
        assert_eq!(cached(&verifier), 100, "none lapses in the first half");
        tokio::time::sleep_until((started + Duration::from_secs(3)).into()).await;
        let left = cached(&verifier);
        assert!(
            (10..=90).contains(&left),
            "{left} of 100 still cached three quarters of the way through"
        );
        tokio::time::sleep_until((started + Duration::from_millis(4_500)).into()).await;
        assert_eq!(cached(&verifier), 0, "all lapse within the TTL");
    }

    #[tokio::test]
    async fn wrong_key_expired_and_wrong_audience_are_refused() {
        let signer = TokenSigner::generate("k1").unwrap();
        let (verifier, _dir) = verifier_for(&signer).await;
        let impostor = TokenSigner::generate("k1").unwrap();
        assert!(
            verifier
                .verify(&impostor.sign(&claims(Duration::from_secs(60))).unwrap())
                .await
                .is_err()
        );

        let mut expired = claims(Duration::from_secs(60));
        expired.exp -= 3600;
        assert!(
            verifier
                .verify(&signer.sign(&expired).unwrap())
                .await
                .is_err()
        );

        let mut other_aud = claims(Duration::from_secs(60));
        other_aud.aud = "someone-else".into();
        assert!(
            verifier
                .verify(&signer.sign(&other_aud).unwrap())
                .await
                .is_err()
        );

        let unknown = TokenSigner::generate("k2").unwrap();
        assert!(matches!(
            verifier
                .verify(&unknown.sign(&claims(Duration::from_secs(60))).unwrap())
                .await,
            Err(TokenError::UnknownKey)
        ));
    }
}
