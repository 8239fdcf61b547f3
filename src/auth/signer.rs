//! Issuing tokens: [`SigningKey`], [`JwtSigner`] over a key ring with rotation, the JWKS
//! document, and [`KeySource`]s for private keys.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER as CRYPTO;
use jsonwebtoken::jwk::EllipticCurve;
use serde_json::{Map, Value};

use super::jwt::{JwtAlgorithm, KeyRing, MAX_TOKEN_LEN, VerifyingKey};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::secret::Secret;

/// The Engineering11 seed's default key ring name.
pub const DEFAULT_KEY_RING: &str = "jwt";
/// The Engineering11 seed's default signing key name.
pub const DEFAULT_SIGNING_KEY: &str = "base-signing-key";
/// The default token lifetime of a [`JwtSigner`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// A private key bound to one algorithm, with its `kid` and public half.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid())
            .field("alg", &self.public.algorithm())
            .finish_non_exhaustive()
    }
}

fn bad(reason: &'static str) -> ConfigError {
    ConfigError::new("jwt signing key", reason)
}

impl SigningKey {
    /// An RS256 key from a private key PEM (`RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn rsa_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|_| bad("not an RSA private key PEM"))?;
        let (n, e) = (CRYPTO.key_utils.rsa_pub_components_from_private_key)(key.as_bytes())
            .map_err(|_| bad("not an RSA private key"))?;
        Self::checked(key, VerifyingKey::rsa_raw(kid, &n, &e)?)
    }

    /// An ES256 key from a P-256 PKCS#8 private key PEM (`PRIVATE KEY`).
    pub fn ec_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_ec_pem(pem).map_err(|_| bad("not an EC private key PEM"))?;
        let (curve, x, y) = (CRYPTO.key_utils.ec_pub_components_from_private_key)(
            key.as_bytes(),
            JwtAlgorithm::ES256.jose(),
        )
        .map_err(|_| bad("not a P-256 private key"))?;
        if curve != EllipticCurve::P256 {
            return Err(bad("not a P-256 private key"));
        }
        let mut point = Vec::with_capacity(65);
        point.push(4);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        Self::checked(key, VerifyingKey::ec_point(kid, &point)?)
    }

    /// An EdDSA key from an Ed25519 PKCS#8 private key PEM (`PRIVATE KEY`).
    pub fn ed_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key =
            EncodingKey::from_ed_pem(pem).map_err(|_| bad("not an Ed25519 private key PEM"))?;
        let x = (CRYPTO.key_utils.ed_pub_components_from_private_key)(
            key.as_bytes(),
            &EllipticCurve::Ed25519,
        )
        .map_err(|_| bad("not an Ed25519 private key"))?;
        Self::checked(key, VerifyingKey::ed_raw(kid, &x)?)
    }

    /// Any of the above, by what the PEM holds.
    pub fn from_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        Self::rsa_pem(kid, pem)
            .or_else(|_| Self::ec_pem(kid, pem))
            .or_else(|_| Self::ed_pem(kid, pem))
            .map_err(|_| bad("not an RSA, P-256 or Ed25519 private key PEM"))
    }

    /// An HS256 key (a shared secret of at least 32 bytes). Prefer an asymmetric key:
    /// every verifier can also mint tokens.
    pub fn hs256(kid: &str, secret: &Secret) -> Result<Self, ConfigError> {
        Self::checked(
            EncodingKey::from_secret(secret.expose()),
            VerifyingKey::hs256(kid, secret)?,
        )
    }

    fn checked(key: EncodingKey, public: VerifyingKey) -> Result<Self, ConfigError> {
        let k = Self { key, public };
        // Sign and verify once, so a mismatched pair is a config error, not a 401 later.
        let sig = k
            .sign_bytes(b"tower-shield key check")
            .map_err(|_| bad("cannot sign"))?;
        if !k.public.verify_signature(b"tower-shield key check", &sig) {
            return Err(bad("the public key does not match"));
        }
        Ok(k)
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.public.algorithm()
    }

    /// The public half, for a verifier's [`KeyRing`].
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        // The named RustCrypto backend, never jsonwebtoken's process-wide default.
        let signer = (CRYPTO.signer_factory)(&self.algorithm().jose(), &self.key)
            .map_err(|_| SignError::Crypto)?;
        signer.try_sign(message).map_err(|_| SignError::Crypto)
    }

    /// Signs `claims` as they are (no `exp`/`iat` added) under this key.
    pub fn sign_claims(&self, claims: &Map<String, Value>) -> Result<String, SignError> {
        let header =
            serde_json::json!({"alg": self.algorithm().as_str(), "typ": "JWT", "kid": self.kid()});
        let h = serde_json::to_vec(&header).map_err(|_| SignError::Claims)?;
        let p = serde_json::to_vec(claims).map_err(|_| SignError::Claims)?;
        if p.len() > MAX_TOKEN_LEN / 2 {
            return Err(SignError::Claims);
        }
        let mut token = B64.encode(h);
        token.push('.');
        B64.encode_string(p, &mut token);
        let sig = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        B64.encode_string(sig, &mut token);
        Ok(token)
    }
}

/// Why signing failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The claims are not a JSON object, or too large.
    Claims,
    /// The crypto backend refused.
    Crypto,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Claims => "claims must be a JSON object of at most 4 KiB",
            Self::Crypto => "signing failed",
        })
    }
}

impl std::error::Error for SignError {}

/// Issues tokens with one active key of a [`KeyRing`]; earlier keys stay in the ring (and
/// in the JWKS) so tokens they signed keep verifying until [`retire`](Self::retire).
///
/// ```
/// use tower_shield::auth::{JwtLayer, JwtSigner, SigningKey};
/// use tower_shield::core::Secret;
///
/// let key = SigningKey::hs256("k1", &Secret::from("an HS256 secret of at least 32 bytes")).unwrap();
/// let signer = JwtSigner::new(key).unwrap().audience("api");
/// let token = signer.sign_for("user-1", &["read"]).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// // A layer over the same ring sees every rotation.
/// let _layer = JwtLayer::new(signer.key_ring());
/// ```
#[derive(Clone)]
pub struct JwtSigner {
    active: Arc<ArcSwap<SigningKey>>,
    ring: KeyRing,
    issuer: Option<Arc<str>>,
    audience: Vec<Arc<str>>,
    ttl: Duration,
    clock: SharedClock,
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner")
            .field("active", &self.active.load().kid())
            .field("ring", &self.ring)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl JwtSigner {
    /// Signs with `active`; its public key starts a new ring. Tokens live 15 minutes.
    pub fn new(active: SigningKey) -> Result<Self, ConfigError> {
        let ring = KeyRing::of([active.public.clone()])?;
        Ok(Self {
            active: Arc::new(ArcSwap::from_pointee(active)),
            ring,
            issuer: None,
            audience: Vec::new(),
            ttl: DEFAULT_TTL,
            clock: Arc::new(SystemClock),
        })
    }

    /// Loads `key` of `key_ring` from `source` (the seed's defaults: [`DEFAULT_KEY_RING`],
    /// [`DEFAULT_SIGNING_KEY`]); its `kid` is `"{key_ring}/{key}"`.
    pub fn from_source(
        source: &dyn KeySource,
        key_ring: &str,
        key: &str,
    ) -> Result<Self, KeySourceError> {
        let pem = source.private_key_pem(key_ring, key)?;
        let k = SigningKey::from_pem(&format!("{key_ring}/{key}"), pem.expose())
            .map_err(KeySourceError::Invalid)?;
        Self::new(k).map_err(KeySourceError::Invalid)
    }

    /// Sets `iss` on every token.
    pub fn issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds an audience (`aud`) to every token.
    pub fn audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// Token lifetime (default 15 minutes; 1 s..=30 days).
    pub fn ttl(mut self, ttl: Duration) -> Result<Self, ConfigError> {
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(30 * 86_400) {
            return Err(ConfigError::new("jwt ttl", "1 s..=30 days"));
        }
        self.ttl = ttl;
        Ok(self)
    }

    /// The clock for `iat`/`exp`.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The ring of public keys (shared: a `JwtLayer` built on it follows rotations).
    pub fn key_ring(&self) -> KeyRing {
        self.ring.clone()
    }

    /// The active key's id.
    pub fn active_kid(&self) -> String {
        self.active.load().kid().to_owned()
    }

    /// Makes `next` the signing key; the previous one keeps verifying until retired.
    pub fn rotate(&self, next: SigningKey) -> Result<(), ConfigError> {
        self.ring.insert(next.public.clone())?;
        self.active.store(Arc::new(next));
        Ok(())
    }

    /// Removes an earlier key: tokens it signed stop verifying. The active key cannot be retired.
    pub fn retire(&self, kid: &str) -> Result<bool, ConfigError> {
        if self.active.load().kid() == kid {
            return Err(ConfigError::new(
                "jwt retire",
                "cannot retire the active key",
            ));
        }
        Ok(self.ring.remove(kid))
    }

    /// Signs `claims`, adding `iat`, `exp` (now + ttl) and the configured `iss`/`aud`
    /// unless the claims already hold them.
    pub fn sign(&self, mut claims: Map<String, Value>) -> Result<String, SignError> {
        let now = self.clock.now().as_secs();
        claims.entry("iat").or_insert(now.into());
        claims
            .entry("exp")
            .or_insert(now.saturating_add(self.ttl.as_secs()).into());
        if let Some(iss) = &self.issuer {
            claims
                .entry("iss")
                .or_insert(Value::String(iss.to_string()));
        }
        match self.audience.as_slice() {
            [] => {}
            [one] => {
                claims
                    .entry("aud")
                    .or_insert(Value::String(one.to_string()));
            }
            many => {
                claims.entry("aud").or_insert(Value::Array(
                    many.iter().map(|a| Value::String(a.to_string())).collect(),
                ));
            }
        }
        self.active.load().sign_claims(&claims)
    }

    /// A token for `sub` with `scope` set to the space-joined `scopes`.
    pub fn sign_for(&self, sub: &str, scopes: &[&str]) -> Result<String, SignError> {
        let mut m = Map::new();
        m.insert("sub".into(), sub.into());
        if !scopes.is_empty() {
            m.insert("scope".into(), scopes.join(" ").into());
        }
        self.sign(m)
    }

    /// The JWKS document of every public key in the ring.
    pub fn jwks(&self) -> Value {
        self.ring.snapshot().jwks()
    }

    /// A `200 application/json` response with [`jwks`](Self::jwks) and
    /// `Cache-Control: public, max-age=300`, for `/.well-known/jwks.json`.
    pub fn jwks_response(&self) -> http::Response<Bytes> {
        let mut res = http::Response::new(Bytes::from(self.jwks().to_string()));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        res
    }
}

/// Why a private key could not be loaded.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySourceError {
    /// No such key (KEY_NOT_FOUND).
    NotFound(String),
    /// The source failed (I/O).
    Unavailable(String),
    /// The key is there but unusable.
    Invalid(ConfigError),
}

impl fmt::Display for KeySourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(k) => write!(f, "key not found: {k}"),
            Self::Unavailable(e) => write!(f, "key source unavailable: {e}"),
            Self::Invalid(e) => write!(f, "invalid key: {e}"),
        }
    }
}

impl std::error::Error for KeySourceError {}

/// Where private signing keys come from (files, the environment, a cloud secret
/// manager behind your own implementation). Keys are named by key ring and key, as in
/// the Engineering11 seed (`jwt` / `base-signing-key`).
pub trait KeySource: Send + Sync {
    /// The PEM of `key` in `key_ring`.
    fn private_key_pem(&self, key_ring: &str, key: &str) -> Result<Secret, KeySourceError>;
}

fn check_name(s: &str) -> Result<(), KeySourceError> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(KeySourceError::NotFound(s.chars().take(64).collect()));
    }
    Ok(())
}

/// Reads `{dir}/{key_ring}/{key}.pem` (names limited to `[A-Za-z0-9_-]`, so no path escapes).
#[derive(Clone, Debug)]
pub struct PemFileKeySource {
    dir: PathBuf,
}

impl PemFileKeySource {
    /// Keys under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl KeySource for PemFileKeySource {
    fn private_key_pem(&self, key_ring: &str, key: &str) -> Result<Secret, KeySourceError> {
        check_name(key_ring)?;
        check_name(key)?;
        let path = self.dir.join(key_ring).join(format!("{key}.pem"));
        match std::fs::read(&path) {
            Ok(b) if b.len() <= 64 * 1024 => Ok(Secret::new(b)),
            Ok(_) => Err(KeySourceError::Unavailable(
                "key file larger than 64 KiB".into(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(KeySourceError::NotFound(format!("{key_ring}/{key}")))
            }
            Err(e) => Err(KeySourceError::Unavailable(e.to_string())),
        }
    }
}

/// Reads the environment variable `{prefix}{KEY_RING}_{KEY}` (upper case, `-` as `_`),
/// e.g. `TOWER_SHIELD_JWT_BASE_SIGNING_KEY`; a literal `\n` in the value is a newline.
#[derive(Clone, Debug)]
pub struct EnvKeySource {
    prefix: String,
}

impl Default for EnvKeySource {
    fn default() -> Self {
        Self {
            prefix: "TOWER_SHIELD_".into(),
        }
    }
}

impl EnvKeySource {
    /// Variables named `{prefix}{KEY_RING}_{KEY}`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The variable name for a key.
    pub fn var_name(&self, key_ring: &str, key: &str) -> String {
        format!("{}{key_ring}_{key}", self.prefix)
            .to_ascii_uppercase()
            .replace('-', "_")
    }
}

impl KeySource for EnvKeySource {
    fn private_key_pem(&self, key_ring: &str, key: &str) -> Result<Secret, KeySourceError> {
        check_name(key_ring)?;
        check_name(key)?;
        let name = self.var_name(key_ring, key);
        match std::env::var(&name) {
            Ok(v) => Ok(Secret::from(v.replace("\\n", "\n"))),
            Err(_) => Err(KeySourceError::NotFound(name)),
        }
    }
}
