//! Bearer JSON Web Tokens: keys bound to algorithms, the pure verification, and [`JwtLayer`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::header::{AUTHORIZATION, COOKIE, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, Uri};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER as CRYPTO;
use jsonwebtoken::{Algorithm, DecodingKey};
use pin_project_lite::pin_project;
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::jwks::RemoteJwks;
use super::verified::{self, Entry, MAX_VERIFIED_CACHE, TokenDigest, VerifiedCache};
use crate::core::body::{BodyMode, InnerBody, ShieldBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::ext::{Principal, PrincipalKind};
use crate::core::reject::{Rejection, RejectionKind, Renderer};
use crate::core::secret::Secret;

/// Longest token read (bytes); longer ones are refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Most keys a [`KeyRing`] (or a fetched JWKS) holds; further keys are refused or skipped.
pub const MAX_KEYS: usize = 64;
/// Most permissions taken from one token's `scope` / `scp` / `permissions` claims.
pub const MAX_SCOPES: usize = 64;
/// The default clock tolerance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The largest leeway [`JwtLayer::leeway`] accepts.
pub const MAX_LEEWAY: Duration = Duration::from_secs(600);
/// Shortest HS256 shared secret accepted (bytes), as RFC 7518 section 3.2 demands.
pub const MIN_HS256_SECRET: usize = 32;

/// A signature algorithm a key is bound to.
///
/// `none` does not exist here: an unsigned token can never be accepted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default, and the Engineering11 seed's).
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA-256 with a shared secret; only with a key made by [`VerifyingKey::hs256`].
    HS256,
}

impl JwtAlgorithm {
    /// The JOSE name, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }

    /// Parses a JOSE `alg` exactly (case-sensitive); `None` for `none` and anything unsupported.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            "HS256" => Some(Self::HS256),
            _ => None,
        }
    }

    pub(crate) const fn jose(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
            Self::HS256 => Algorithm::HS256,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public parts of a key, for publishing it as a JWK.
#[derive(Clone)]
enum Public {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { point: Vec<u8> },
    Ed { x: Vec<u8> },
    Secret,
}

/// One verification key: a `kid`, the one algorithm it may verify, and the key.
///
/// Binding the algorithm to the key is what stops algorithm confusion: a token whose
/// header names another algorithm than its key's is refused before any cryptography.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Arc<str>,
    alg: JwtAlgorithm,
    key: DecodingKey,
    public: Public,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn cfg_err(reason: impl Into<std::borrow::Cow<'static, str>>) -> ConfigError {
    ConfigError::new("jwt key", reason)
}

fn check_kid(kid: &str) -> Result<Arc<str>, ConfigError> {
    if kid.is_empty() || kid.len() > 256 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(cfg_err("kid must be 1..=256 visible ASCII characters"));
    }
    Ok(kid.into())
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

impl VerifyingKey {
    /// An RS256 key from a public key PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`); at least 2048 bits.
    pub fn rsa_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key =
            DecodingKey::from_rsa_pem(pem).map_err(|_| cfg_err("not an RSA public key PEM"))?;
        let der = key
            .try_get_as_bytes()
            .map_err(|_| cfg_err("not an RSA public key PEM"))?;
        let (n, e) = (CRYPTO.key_utils.rsa_pub_components_from_public_key)(der)
            .map_err(|_| cfg_err("not an RSA public key"))?;
        Self::rsa_raw(kid, &n, &e)
    }

    /// An RS256 key from its big-endian modulus and exponent; at least 2048 bits.
    pub fn rsa_raw(kid: &str, n: &[u8], e: &[u8]) -> Result<Self, ConfigError> {
        let (n, e) = (strip_zeros(n), strip_zeros(e));
        if n.len() < 256 || n.len() > 1024 {
            return Err(cfg_err("RSA modulus must be 2048..=8192 bits"));
        }
        if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b & 1 == 0) {
            return Err(cfg_err("RSA exponent must be odd and at most 64 bits"));
        }
        Self::checked(
            kid,
            JwtAlgorithm::RS256,
            DecodingKey::from_rsa_raw_components(n, e),
            Public::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            },
        )
    }

    /// An ES256 key from a P-256 public key PEM (`PUBLIC KEY`).
    pub fn ec_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|_| cfg_err("not an EC public key PEM"))?;
        let point = key
            .try_get_as_bytes()
            .map_err(|_| cfg_err("not an EC public key PEM"))?;
        Self::ec_point(kid, point)
    }

    /// An ES256 key from an uncompressed SEC1 P-256 point (`04 || x || y`, 65 bytes).
    pub fn ec_point(kid: &str, point: &[u8]) -> Result<Self, ConfigError> {
        if point.len() != 65 || point.first() != Some(&4) {
            return Err(cfg_err(
                "ES256 needs an uncompressed P-256 point (65 bytes)",
            ));
        }
        Self::checked(
            kid,
            JwtAlgorithm::ES256,
            DecodingKey::from_ec_der(point),
            Public::Ec {
                point: point.to_vec(),
            },
        )
    }

    /// An EdDSA key from an Ed25519 public key PEM (`PUBLIC KEY`).
    pub fn ed_pem(kid: &str, pem: &[u8]) -> Result<Self, ConfigError> {
        let key =
            DecodingKey::from_ed_pem(pem).map_err(|_| cfg_err("not an Ed25519 public key PEM"))?;
        let x = key
            .try_get_as_bytes()
            .map_err(|_| cfg_err("not an Ed25519 public key PEM"))?;
        Self::ed_raw(kid, x)
    }

    /// An EdDSA key from the 32 bytes of an Ed25519 public key.
    pub fn ed_raw(kid: &str, x: &[u8]) -> Result<Self, ConfigError> {
        // Checked here: the backend slices the first 32 bytes without a length check.
        if x.len() != 32 {
            return Err(cfg_err("an Ed25519 public key is 32 bytes"));
        }
        Self::checked(
            kid,
            JwtAlgorithm::EdDSA,
            DecodingKey::from_ed_der(x),
            Public::Ed { x: x.to_vec() },
        )
    }

    /// An HS256 key: a shared secret of at least [`MIN_HS256_SECRET`] bytes. Anyone who
    /// can verify such tokens can also mint them; prefer an asymmetric key. It is never
    /// published in a JWKS, and JWKS documents can never supply one.
    pub fn hs256(kid: &str, secret: &Secret) -> Result<Self, ConfigError> {
        if secret.len() < MIN_HS256_SECRET {
            return Err(cfg_err("an HS256 secret must be at least 32 bytes"));
        }
        Self::checked(
            kid,
            JwtAlgorithm::HS256,
            DecodingKey::from_secret(secret.expose()),
            Public::Secret,
        )
    }

    fn checked(
        kid: &str,
        alg: JwtAlgorithm,
        key: DecodingKey,
        public: Public,
    ) -> Result<Self, ConfigError> {
        let kid = check_kid(kid)?;
        (CRYPTO.verifier_factory)(&alg.jose(), &key)
            .map_err(|_| cfg_err("the key does not fit its algorithm"))?;
        Ok(Self {
            kid,
            alg,
            key,
            public,
        })
    }

    /// A key from one JWK object (`kty` `RSA`, `EC` with `crv` `P-256`, or `OKP` with `crv`
    /// `Ed25519`; `alg`, when present, must be the key type's; `use`, when present, `sig`).
    /// Symmetric (`oct`) JWKs are refused: a shared secret never comes from a document.
    pub fn from_jwk(jwk: &Value) -> Result<Self, ConfigError> {
        let s = |k: &str| jwk.get(k).and_then(Value::as_str);
        let kid = s("kid").ok_or_else(|| cfg_err("a JWK needs a kid"))?;
        if s("use").is_some_and(|u| u != "sig") {
            return Err(cfg_err("JWK use is not sig"));
        }
        let b64 = |k: &str| -> Result<Vec<u8>, ConfigError> {
            let v = s(k).ok_or_else(|| cfg_err("a JWK member is missing"))?;
            if v.len() > 2048 {
                return Err(cfg_err("a JWK member is too long"));
            }
            B64.decode(v.trim_end_matches('='))
                .map_err(|_| cfg_err("a JWK member is not base64url"))
        };
        let key = match (s("kty"), s("crv")) {
            (Some("RSA"), _) => Self::rsa_raw(kid, &b64("n")?, &b64("e")?)?,
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(cfg_err("P-256 coordinates are 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::ec_point(kid, &point)?
            }
            (Some("OKP"), Some("Ed25519")) => Self::ed_raw(kid, &b64("x")?)?,
            _ => return Err(cfg_err("unsupported JWK key type")),
        };
        match s("alg") {
            Some(a) if JwtAlgorithm::parse(a) != Some(key.alg) => {
                Err(cfg_err("JWK alg does not match its key type"))
            }
            _ => Ok(key),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }

    /// The public JWK, or `None` for a shared secret (never published).
    pub fn to_jwk(&self) -> Option<Value> {
        let mut m = Map::new();
        let put = |m: &mut Map<String, Value>, k: &str, v: &str| {
            m.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        match &self.public {
            Public::Rsa { n, e } => {
                put(&mut m, "kty", "RSA");
                put(&mut m, "n", &B64.encode(n));
                put(&mut m, "e", &B64.encode(e));
            }
            Public::Ec { point } => {
                put(&mut m, "kty", "EC");
                put(&mut m, "crv", "P-256");
                put(&mut m, "x", &B64.encode(point.get(1..33)?));
                put(&mut m, "y", &B64.encode(point.get(33..65)?));
            }
            Public::Ed { x } => {
                put(&mut m, "kty", "OKP");
                put(&mut m, "crv", "Ed25519");
                put(&mut m, "x", &B64.encode(x));
            }
            Public::Secret => return None,
        }
        put(&mut m, "kid", &self.kid);
        put(&mut m, "alg", self.alg.as_str());
        put(&mut m, "use", "sig");
        Some(Value::Object(m))
    }

    /// `true` when `signature` is this key's signature of `message` under its algorithm.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        // The backend is named (RustCrypto), never jsonwebtoken's process-wide default,
        // which is a panicking stub when some other crate enables a second backend.
        match (CRYPTO.verifier_factory)(&self.alg.jose(), &self.key) {
            Ok(v) => v.verify(message, &signature.to_vec()).is_ok(),
            Err(_) => false,
        }
    }
}

/// A set of verification keys by `kid`, shared and updatable at run time (rotation).
///
/// Clones share one set: a [`JwtSigner`](super::JwtSigner) and a [`JwtLayer`] built from
/// the same ring see each rotation at once. At most [`MAX_KEYS`] keys.
#[derive(Clone, Default)]
pub struct KeyRing {
    inner: Arc<ArcSwap<KeySet>>,
}

/// An immutable snapshot of keys by `kid`.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<Arc<str>, Arc<VerifyingKey>>,
}

impl KeySet {
    /// A set of `keys`; a duplicate `kid` or more than [`MAX_KEYS`] keys is an error.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, ConfigError> {
        let mut set = Self::default();
        for k in keys {
            set.insert(k)?;
        }
        Ok(set)
    }

    fn insert(&mut self, key: VerifyingKey) -> Result<(), ConfigError> {
        if self.by_kid.len() >= MAX_KEYS {
            return Err(cfg_err("too many keys"));
        }
        if self.by_kid.contains_key(&key.kid) {
            return Err(cfg_err("duplicate kid"));
        }
        self.by_kid.insert(key.kid.clone(), Arc::new(key));
        Ok(())
    }

    /// The key with `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.by_kid.get(kid)
    }

    /// The key a token without `kid` means: the only key of `alg`, if there is exactly one.
    pub fn only_of(&self, alg: JwtAlgorithm) -> Option<&Arc<VerifyingKey>> {
        let mut it = self.by_kid.values().filter(|k| k.alg == alg);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    /// The keys, sorted by `kid`.
    pub fn keys(&self) -> Vec<Arc<VerifyingKey>> {
        let mut v: Vec<_> = self.by_kid.values().cloned().collect();
        v.sort_by(|a, b| a.kid.cmp(&b.kid));
        v
    }

    /// The JWKS document `{"keys": [...]}` of the public keys (shared secrets left out).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys().iter().filter_map(|k| k.to_jwk()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Parses a JWKS document, skipping (and logging) keys it cannot use and keeping at
    /// most [`MAX_KEYS`]. An error only when the document is not a JWKS at all.
    pub fn from_jwks(json: &[u8]) -> Result<Self, ConfigError> {
        let doc: Value =
            serde_json::from_slice(json).map_err(|_| ConfigError::new("jwks", "not JSON"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError::new("jwks", "no keys array"))?;
        let mut set = Self::default();
        for jwk in keys {
            match VerifyingKey::from_jwk(jwk) {
                Ok(k) => {
                    if let Err(e) = set.insert(k) {
                        tracing::warn!(error = %e, "jwks: key skipped");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "jwks: key skipped"),
            }
        }
        Ok(set)
    }
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ring of `keys` (builder style).
    pub fn of(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, ConfigError> {
        let set = KeySet::new(keys)?;
        Ok(Self {
            inner: Arc::new(ArcSwap::from_pointee(set)),
        })
    }

    /// Adds `key` (builder style).
    pub fn with(self, key: VerifyingKey) -> Result<Self, ConfigError> {
        self.insert(key)?;
        Ok(self)
    }

    /// Adds `key` now; every clone sees it.
    pub fn insert(&self, key: VerifyingKey) -> Result<(), ConfigError> {
        let mut next = KeySet::clone(&self.inner.load());
        next.insert(key)?;
        self.inner.store(Arc::new(next));
        Ok(())
    }

    /// Removes (retires) the key `kid`; tokens signed by it stop verifying. `true` when it was there.
    pub fn remove(&self, kid: &str) -> bool {
        let mut next = KeySet::clone(&self.inner.load());
        let was = next.by_kid.remove(kid).is_some();
        self.inner.store(Arc::new(next));
        was
    }

    /// The keys right now.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.inner.load_full()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.inner.load();
        f.debug_struct("KeyRing")
            .field(
                "kids",
                &set.keys().iter().map(|k| k.kid.clone()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a token was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwtError {
    /// No token anywhere.
    Missing,
    /// Two different tokens (e.g. a header and a cookie that disagree).
    Ambiguous,
    /// Not three base64url parts, bad JSON, too long, or a `crit` header.
    Malformed,
    /// `alg` is `none`, unsupported or not allowed.
    Algorithm,
    /// No key with that `kid` (or no `kid` and not exactly one key of the algorithm).
    UnknownKey,
    /// The header's `alg` is not the algorithm its key is bound to.
    KeyAlgorithmMismatch,
    /// The signature is wrong.
    Signature,
    /// No `exp`, or a registered claim has the wrong type.
    Claims,
    /// `exp` plus leeway has passed.
    Expired,
    /// `nbf` minus leeway is still ahead.
    NotYetValid,
    /// `iss` is not an accepted issuer.
    Issuer,
    /// `aud` names none of the accepted audiences (or the token has one and none is configured).
    Audience,
    /// The claims check or a required scope refused an otherwise valid token (403).
    InsufficientScope,
    /// The keys could not be loaded (a JWKS outage with no earlier good set): 503.
    KeysUnavailable,
}

impl JwtError {
    /// The `error_description` sent in `WWW-Authenticate` and the body message.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Missing => "A bearer token is required",
            Self::Expired => "The token has expired",
            Self::NotYetValid => "The token is not valid yet",
            Self::InsufficientScope => "The token does not grant access to this resource",
            Self::KeysUnavailable => "Token keys are unavailable, try again later",
            // Everything else looks alike from outside: no oracle for which check failed.
            _ => "The token is invalid",
        }
    }

    /// The rejection the layer answers with: 401 `invalid_token` (`TOKEN_EXPIRED` for an
    /// expired one), 401 with a bare `Bearer` challenge when no token was sent, 403
    /// `insufficient_scope`, or 503.
    pub fn to_rejection(self) -> Rejection {
        let challenge = |err: &str| {
            HeaderValue::from_str(&format!(
                "Bearer error=\"{err}\", error_description=\"{}\"",
                self.description()
            ))
            .unwrap_or(HeaderValue::from_static("Bearer"))
        };
        match self {
            Self::Missing => Rejection::new(RejectionKind::InvalidToken, self.description())
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            Self::InsufficientScope => {
                Rejection::new(RejectionKind::InsufficientPermissions, self.description())
                    .with_header(WWW_AUTHENTICATE, challenge("insufficient_scope"))
            }
            Self::KeysUnavailable => {
                Rejection::new(RejectionKind::StoreUnavailable, self.description())
                    .with_retry_after(Duration::from_secs(10))
            }
            Self::Expired => Rejection::new(RejectionKind::TokenExpired, self.description())
                .with_header(WWW_AUTHENTICATE, challenge("invalid_token")),
            _ => Rejection::new(RejectionKind::InvalidToken, self.description())
                .with_header(WWW_AUTHENTICATE, challenge("invalid_token")),
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}: {}", self.description())
    }
}

impl std::error::Error for JwtError {}

/// A verified token's claims, inserted into the request's extensions next to the
/// [`Principal`]. Cloning is cheap.
#[derive(Clone, Debug, PartialEq)]
pub struct JwtClaims {
    /// `sub`.
    pub sub: Option<Arc<str>>,
    /// `iss`.
    pub iss: Option<Arc<str>>,
    /// `aud` (a string or an array in the token).
    pub aud: Arc<[Arc<str>]>,
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// `nbf`.
    pub nbf: Option<u64>,
    /// `iat`.
    pub iat: Option<u64>,
    /// `jti`.
    pub jti: Option<Arc<str>>,
    /// The permissions from `scope` (space-separated), `scp` and `permissions`, at most
    /// [`MAX_SCOPES`].
    pub scopes: Arc<[Arc<str>]>,
    /// The `kid` of the key that verified it.
    pub kid: Arc<str>,
    /// The algorithm that verified it.
    pub alg: JwtAlgorithm,
    pub(crate) raw: Arc<Map<String, Value>>,
}

impl JwtClaims {
    /// Every claim as sent.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// One claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw.get(name)
    }

    /// `true` when the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    /// The claims as your own type.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(Map::clone(&self.raw)))
    }

    /// The [`Principal`] handlers and rate limits see: `sub` (else `"jwt"`) with the scopes.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.sub.clone().unwrap_or_else(|| Arc::from("jwt")),
            kind: PrincipalKind::Jwt,
            permissions: self.scopes.clone(),
            quotas: None,
        }
    }
}

/// What verification needs besides the keys: accepted algorithms, issuers, audiences, leeway.
#[derive(Clone, Debug)]
pub struct Validation {
    algorithms: Vec<JwtAlgorithm>,
    issuers: Vec<Arc<str>>,
    audiences: Vec<Arc<str>>,
    leeway: Duration,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            algorithms: vec![JwtAlgorithm::RS256],
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
        }
    }
}

#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A token's header, read before any key is chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHeader {
    /// The (allowed) algorithm.
    pub alg: JwtAlgorithm,
    /// The key id, if any.
    pub kid: Option<String>,
}

/// Splits a compact JWS into its three parts (`header.payload.signature`) and reads
/// the header. Pure and total: any input gives `Ok` or `Err`, never a panic.
pub fn parse_header(token: &str) -> Result<TokenHeader, JwtError> {
    let (h, _, _) = split(token)?;
    let raw: RawHeader = decode_json(h, 1024)?;
    if raw.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let alg = JwtAlgorithm::parse(&raw.alg).ok_or(JwtError::Algorithm)?;
    if raw.kid.as_ref().is_some_and(|k| k.len() > 256) {
        return Err(JwtError::Malformed);
    }
    Ok(TokenHeader { alg, kid: raw.kid })
}

fn split(token: &str) -> Result<(&str, &str, &str), JwtError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(JwtError::Malformed),
    }
}

fn decode_b64(part: &str, max: usize) -> Result<Vec<u8>, JwtError> {
    if part.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(JwtError::Malformed);
    }
    B64.decode(part).map_err(|_| JwtError::Malformed)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str, max: usize) -> Result<T, JwtError> {
    serde_json::from_slice(&decode_b64(part, max)?).map_err(|_| JwtError::Malformed)
}

fn numeric_date(v: Option<&Value>) -> Result<Option<u64>, JwtError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if (0.0..1e15).contains(&f) => Ok(Some(f as u64)),
            _ => Err(JwtError::Claims),
        },
        Some(_) => Err(JwtError::Claims),
    }
}

fn string_claim(v: Option<&Value>) -> Result<Option<Arc<str>>, JwtError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str().into())),
        Some(_) => Err(JwtError::Claims),
    }
}

fn scopes_of(raw: &Map<String, Value>) -> Arc<[Arc<str>]> {
    let mut out: Vec<Arc<str>> = Vec::new();
    let mut add = |s: &str| {
        if out.len() < MAX_SCOPES
            && !s.is_empty()
            && s.len() <= 128
            && !out.iter().any(|o| &**o == s)
        {
            out.push(s.into());
        }
    };
    for name in ["scope", "scp", "permissions"] {
        match raw.get(name) {
            Some(Value::String(s)) => s.split(' ').for_each(&mut add),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(&mut add),
            _ => {}
        }
    }
    out.into()
}

impl Validation {
    /// Verifies `token` against `keys` at `now` (seconds since the epoch): the pure decision.
    ///
    /// Order: shape and header, algorithm allow-list, key by `kid` and its bound algorithm,
    /// signature, and only then the claims (`exp` required; `nbf`, `iss`, `aud`).
    pub fn verify(&self, token: &str, keys: &KeySet, now: u64) -> Result<JwtClaims, JwtError> {
        let header = self.header(token)?;
        let key = match &header.kid {
            Some(kid) => keys.get(kid),
            None => keys.only_of(header.alg),
        }
        .ok_or(JwtError::UnknownKey)?;
        self.verify_with_key(token, &header, key, now)
    }

    /// The header of `token`, with its algorithm checked against the allow-list.
    pub fn header(&self, token: &str) -> Result<TokenHeader, JwtError> {
        let header = parse_header(token)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtError::Algorithm);
        }
        Ok(header)
    }

    /// Verifies `token` with `key` chosen for its `header`.
    pub fn verify_with_key(
        &self,
        token: &str,
        header: &TokenHeader,
        key: &VerifyingKey,
        now: u64,
    ) -> Result<JwtClaims, JwtError> {
        if key.alg != header.alg {
            return Err(JwtError::KeyAlgorithmMismatch);
        }
        let (h, p, s) = split(token)?;
        let sig = decode_b64(s, 1024)?;
        let signing_input_len = h.len() + 1 + p.len();
        let signing_input = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
        if !key.verify_signature(signing_input.as_bytes(), &sig) {
            return Err(JwtError::Signature);
        }
        let raw: Map<String, Value> = decode_json(p, MAX_TOKEN_LEN)?;
        let exp = numeric_date(raw.get("exp"))?.ok_or(JwtError::Claims)?;
        let nbf = numeric_date(raw.get("nbf"))?;
        let iat = numeric_date(raw.get("iat"))?;
        let leeway = self.leeway.as_secs();
        if now >= exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(JwtError::NotYetValid);
        }
        let iss = string_claim(raw.get("iss"))?;
        if !self.issuers.is_empty() && !iss.as_ref().is_some_and(|i| self.issuers.contains(i)) {
            return Err(JwtError::Issuer);
        }
        let aud: Arc<[Arc<str>]> = match raw.get("aud") {
            None => Arc::new([]),
            Some(Value::String(s)) => Arc::new([Arc::from(s.as_str())]),
            Some(Value::Array(a)) if a.len() <= 32 => a
                .iter()
                .map(|v| v.as_str().map(Arc::from).ok_or(JwtError::Claims))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(JwtError::Claims),
        };
        let aud_ok = if self.audiences.is_empty() {
            // RFC 7519 4.1.3: a token meant for someone must not be taken by a party
            // that does not know who it is.
            aud.is_empty()
        } else {
            aud.iter().any(|a| self.audiences.contains(a))
        };
        if !aud_ok {
            return Err(JwtError::Audience);
        }
        Ok(JwtClaims {
            sub: string_claim(raw.get("sub"))?,
            iss,
            aud,
            exp,
            nbf,
            iat,
            jti: string_claim(raw.get("jti"))?,
            scopes: scopes_of(&raw),
            kid: key.kid.clone(),
            alg: key.alg,
            raw: Arc::new(raw),
        })
    }
}

/// Where the layer finds the token.
#[derive(Clone)]
enum Source {
    Bearer,
    Cookie(Arc<str>),
    Custom(Extractor),
}

type Extractor = Arc<dyn Fn(&HeaderMap, &Uri) -> Option<String> + Send + Sync>;
type Check = Arc<dyn Fn(&JwtClaims) -> bool + Send + Sync>;

/// The token from `Authorization: Bearer` (exactly one `Authorization` header).
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, JwtError> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let Some(v) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(JwtError::Ambiguous);
    }
    let s = v.to_str().map_err(|_| JwtError::Malformed)?;
    match s.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(t.trim())),
        // Another scheme (Basic, an API key layer's) is not ours.
        _ => Ok(None),
    }
}

/// The value of cookie `name` in the `Cookie` headers (at most 64 pairs read); two
/// different values are ambiguous.
pub fn cookie_token<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, JwtError> {
    let mut found: Option<&str> = None;
    let mut seen = 0;
    for v in headers.get_all(COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for pair in s.split(';') {
            seen += 1;
            if seen > 64 {
                return Ok(found);
            }
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                let v = v.trim_matches('"');
                match found {
                    Some(prev) if prev != v => return Err(JwtError::Ambiguous),
                    _ => found = Some(v),
                }
            }
        }
    }
    Ok(found)
}

/// Authenticates requests by a bearer JWT and inserts the [`Principal`] and [`JwtClaims`]
/// (feature `jwt`).
///
/// * **Sources**: `Authorization: Bearer` (default), a cookie ([`from_cookie`](Self::from_cookie)),
///   or your extractor ([`from_fn`](Self::from_fn)); two different tokens are refused.
/// * **Keys**: a [`KeyRing`] (static, or rotated at run time by a [`JwtSigner`](super::JwtSigner)),
///   or a [`RemoteJwks`] (lazy, `max-age` refresh, one unknown-`kid` refresh per 10 s,
///   last good set kept, 503 on an outage with no keys). Each key is bound to one
///   algorithm; the allow-list defaults to RS256 ([`algorithms`](Self::algorithms) adds
///   ES256 and EdDSA; HS256 needs a key made from a shared secret; `none` cannot be named).
///   A token without `kid` is only accepted when exactly one key of its algorithm exists.
/// * **Claims**: `exp` required; `nbf`, [`issuer`](Self::issuer), [`audience`](Self::audience)
///   (a token with an `aud` is refused when no audience is configured); leeway 60 s.
///   Time comes from the layer's [`Clock`](crate::core::Clock).
/// * **Answers**: 401 `INVALID_TOKEN` (`TOKEN_EXPIRED` when expired) with
///   `WWW-Authenticate: Bearer error="invalid_token"` (a bare `Bearer` challenge when no
///   token was sent); 403 `INSUFFICIENT_PERMISSIONS` with `error="insufficient_scope"`
///   from [`require_scope`](Self::require_scope) or [`check`](Self::check); 503 when keys
///   cannot be loaded. All other failures share one message, so the answer is no oracle.
///
/// # Threat model and caveats
///
/// * Cryptography is jsonwebtoken's RustCrypto backend, called by name: jsonwebtoken's
///   process-wide provider (which panics when two backends are enabled in one build) is
///   never consulted. RSA private-key operations (signing) in the `rsa` crate are not
///   constant-time (RUSTSEC-2023-0071): sign where an attacker cannot time you at scale,
///   or prefer EdDSA keys; verification only uses public keys.
/// * Tokens are bearer credentials: anyone holding one is its subject until `exp`. There
///   is no revocation list; keep lifetimes short and retire keys to kill old tokens.
/// * Cookie tokens ride along on cross-site requests: use `SameSite` cookies or CSRF
///   protection with [`from_cookie`](Self::from_cookie).
/// * Bounds: tokens up to [`MAX_TOKEN_LEN`] bytes, [`MAX_KEYS`] keys, [`MAX_SCOPES`] scopes,
///   JWKS bodies up to 256 KiB; the built-in JWKS fetcher speaks plain HTTP only.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_shield::auth::{JwtLayer, JwtSigner, SigningKey};
/// use tower_shield::core::Secret;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // HS256 keeps the example short; use RS256/EdDSA keys (SigningKey::rsa_pem, ed_pem) in production.
/// let key = SigningKey::hs256("k1", &Secret::from("an HS256 secret of at least 32 bytes")).unwrap();
/// let signer = JwtSigner::new(key).unwrap().audience("api");
/// let layer = JwtLayer::new(signer.key_ring())
///     .algorithms([tower_shield::auth::JwtAlgorithm::HS256]).unwrap()
///     .audience("api")
///     .require_scope("read");
/// let svc = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(axum::body::Body::from("ok"))) }));
///
/// let token = signer.sign_for("alice", &["read"]).unwrap();
/// let ok = Request::get("/").header("authorization", format!("Bearer {token}")).body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(ok).await.unwrap().status(), StatusCode::OK);
///
/// let none = Request::get("/").body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(none).await.unwrap().status(), StatusCode::UNAUTHORIZED);
///
/// let token = signer.sign_for("bob", &["write"]).unwrap();
/// let scope = Request::get("/").header("authorization", format!("Bearer {token}")).body(()).unwrap();
/// assert_eq!(svc.oneshot(scope).await.unwrap().status(), StatusCode::FORBIDDEN);
/// # }
/// ```
pub struct JwtLayer<M = InnerBody> {
    inner: Arc<Config>,
    mode: PhantomData<fn() -> M>,
}

// By hand: a derive would ask `M: Clone` of the body mode marker.
impl<M> Clone for JwtLayer<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            mode: PhantomData,
        }
    }
}

#[derive(Clone)]
enum Keys {
    Ring(KeyRing),
    Remote(RemoteJwks),
}

#[derive(Clone)]
struct Config {
    keys: Keys,
    validation: Validation,
    sources: Vec<Source>,
    scopes: Vec<Arc<str>>,
    check: Option<Check>,
    optional: bool,
    renderer: Renderer,
    clock: SharedClock,
    /// Verified tokens by digest ([`JwtLayer::cache_verified`]).
    cache: Option<Arc<VerifiedCache>>,
}

impl<M> fmt::Debug for JwtLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("JwtLayer")
            .field("validation", &c.validation)
            .field("scopes", &c.scopes)
            .field("check", &c.check.is_some())
            .field("optional", &c.optional)
            .field(
                "cache_verified",
                &c.cache.as_ref().map(|k| (k.capacity(), k.hits())),
            )
            .finish_non_exhaustive()
    }
}

/// The outcome of the synchronous part of authentication.
pub(crate) enum Step {
    Anonymous,
    Accept(JwtClaims),
    Reject(JwtError),
    /// The keys must be (re)loaded before this token can be judged.
    Fetch(String),
}

impl JwtLayer {
    /// Verifies tokens against a static (or rotated at run time) [`KeyRing`]; RS256 only
    /// until [`algorithms`](Self::algorithms) says otherwise; `Authorization: Bearer` only.
    pub fn new(keys: KeyRing) -> Self {
        Self::with_keys(Keys::Ring(keys))
    }

    /// Verifies tokens against keys fetched from a JWKS endpoint.
    pub fn jwks(jwks: RemoteJwks) -> Self {
        Self::with_keys(Keys::Remote(jwks))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            inner: Arc::new(Config {
                keys,
                validation: Validation::default(),
                sources: vec![Source::Bearer],
                scopes: Vec::new(),
                check: None,
                optional: false,
                renderer: Renderer::default(),
                clock: Arc::new(SystemClock),
                cache: None,
            }),
            mode: PhantomData,
        }
    }
}

impl<M> JwtLayer<M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> JwtLayer<InnerBody> {
        JwtLayer {
            inner: self.inner,
            mode: PhantomData,
        }
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> JwtLayer<WrappedBody> {
        JwtLayer {
            inner: self.inner,
            mode: PhantomData,
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        let c = Arc::make_mut(&mut self.inner);
        f(c);
        // A changed layer never shares verified tokens with the one it was cloned from:
        // they were judged under the other's rules.
        if let Some(cache) = &c.cache {
            c.cache = Some(Arc::new(VerifiedCache::new(cache.capacity())));
        }
        self
    }

    /// Remembers up to `capacity` verified tokens (2..=1 048 576), keyed by the SHA-256 of
    /// the token, so a client sending the same token again costs a hash and a map lookup
    /// instead of a signature check (an RS256 verification is tens of microseconds).
    ///
    /// A remembered token is taken only while it is unexpired (`exp`, without the leeway:
    /// inside the leeway it is verified in full again) and while its `kid` (or, without
    /// one, its algorithm) still resolves to the very key that verified it: a key removed
    /// from the ring, replaced under the same `kid`, or dropped from the JWKS ends its
    /// tokens at once. Scopes and [`check`](Self::check) run on every request. Only
    /// tokens that verified are remembered, so invalid ones cannot fill it; memory is at
    /// most `capacity` times a token's claims (bounded by [`MAX_TOKEN_LEN`]).
    ///
    /// ```
    /// use tower_shield::auth::{JwtAlgorithm, JwtLayer, JwtSigner, SigningKey};
    /// use tower_shield::core::Secret;
    ///
    /// let key = SigningKey::hs256("k1", &Secret::from("an HS256 secret of at least 32 bytes")).unwrap();
    /// let signer = JwtSigner::new(key).unwrap();
    /// let layer = JwtLayer::new(signer.key_ring())
    ///     .algorithms([JwtAlgorithm::HS256]).unwrap()
    ///     .cache_verified(10_000).unwrap();
    /// let mut headers = http::HeaderMap::new();
    /// let token = signer.sign_for("alice", &[]).unwrap();
    /// headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    /// let uri = http::Uri::from_static("/");
    /// assert!(layer.authenticate(&headers, &uri).is_ok()); // verified
    /// assert!(layer.authenticate(&headers, &uri).is_ok()); // remembered
    /// signer.rotate(SigningKey::hs256("k2", &Secret::from("another HS256 secret, 32 bytes or more")).unwrap()).unwrap();
    /// signer.retire("k1").unwrap();
    /// assert!(layer.authenticate(&headers, &uri).is_err()); // its key is gone
    /// ```
    pub fn cache_verified(self, capacity: usize) -> Result<Self, ConfigError> {
        if !(2..=MAX_VERIFIED_CACHE).contains(&capacity) {
            return Err(ConfigError::new("jwt cache_verified", "2..=1048576 tokens"));
        }
        Ok(self.edit(|c| c.cache = Some(Arc::new(VerifiedCache::new(capacity)))))
    }

    /// The algorithms accepted (default RS256). Each key still verifies only its own.
    pub fn algorithms(
        self,
        algs: impl IntoIterator<Item = JwtAlgorithm>,
    ) -> Result<Self, ConfigError> {
        let algs: Vec<_> = algs.into_iter().collect();
        if algs.is_empty() {
            return Err(ConfigError::new("jwt algorithms", "at least one"));
        }
        Ok(self.edit(|c| c.validation.algorithms = algs))
    }

    /// Accepts only tokens whose `iss` is `issuer` (call again to accept several).
    pub fn issuer(self, issuer: impl Into<Arc<str>>) -> Self {
        let i = issuer.into();
        self.edit(|c| c.validation.issuers.push(i))
    }

    /// Accepts only tokens whose `aud` names `audience` (call again to accept several).
    /// Without any, tokens carrying an `aud` are refused.
    pub fn audience(self, audience: impl Into<Arc<str>>) -> Self {
        let a = audience.into();
        self.edit(|c| c.validation.audiences.push(a))
    }

    /// Clock tolerance for `exp` and `nbf` (default 60 s, at most 10 minutes).
    pub fn leeway(self, leeway: Duration) -> Result<Self, ConfigError> {
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::new("jwt leeway", "at most 600 s"));
        }
        Ok(self.edit(|c| c.validation.leeway = leeway))
    }

    /// Also reads the token from cookie `name` (after `Authorization: Bearer`; two
    /// different tokens are refused). Cookies ride along on cross-site requests: pair
    /// cookie tokens with `SameSite` cookies or a CSRF defence.
    pub fn from_cookie(self, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(ConfigError::new(
                "jwt cookie",
                "must be a [A-Za-z0-9_.-] name",
            ));
        }
        let n: Arc<str> = name.into();
        Ok(self.edit(|c| c.sources.push(Source::Cookie(n))))
    }

    /// Also reads the token with `f` (a custom header, a query parameter, ...).
    pub fn from_fn<F>(self, f: F) -> Self
    where
        F: Fn(&HeaderMap, &Uri) -> Option<String> + Send + Sync + 'static,
    {
        self.edit(|c| c.sources.push(Source::Custom(Arc::new(f))))
    }

    /// Reads only the sources added later (drops `Authorization: Bearer`).
    pub fn without_bearer_header(self) -> Self {
        self.edit(|c| c.sources.retain(|s| !matches!(s, Source::Bearer)))
    }

    /// Requires `scope` in the token's `scope`/`scp`/`permissions` (403 `insufficient_scope`).
    pub fn require_scope(self, scope: impl Into<Arc<str>>) -> Self {
        let s = scope.into();
        self.edit(|c| c.scopes.push(s))
    }

    /// A check over the verified claims; `false` answers 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`.
    pub fn check<F>(self, f: F) -> Self
    where
        F: Fn(&JwtClaims) -> bool + Send + Sync + 'static,
    {
        self.edit(|c| c.check = Some(Arc::new(f)))
    }

    /// Lets requests without any token through unauthenticated; a bad token is still refused.
    pub fn optional(self) -> Self {
        self.edit(|c| c.optional = true)
    }

    /// How rejections are rendered.
    pub fn renderer(self, renderer: Renderer) -> Self {
        self.edit(|c| c.renderer = renderer)
    }

    /// The clock `exp` and `nbf` are checked against (a [`RemoteJwks`] times its refreshes
    /// with its own clock, [`RemoteJwks::clock`]).
    pub fn clock(self, clock: SharedClock) -> Self {
        self.edit(|c| c.clock = clock)
    }

    /// The one token of a request, from the configured sources.
    pub fn token(&self, headers: &HeaderMap, uri: &Uri) -> Result<Option<String>, JwtError> {
        let mut found: Option<String> = None;
        for s in &self.inner.sources {
            let t = match s {
                Source::Bearer => bearer_token(headers)?.map(str::to_owned),
                Source::Cookie(name) => cookie_token(headers, name)?.map(str::to_owned),
                Source::Custom(f) => f(headers, uri),
            };
            let Some(t) = t else { continue };
            if t.is_empty() || t.len() > MAX_TOKEN_LEN {
                return Err(JwtError::Malformed);
            }
            match &found {
                Some(prev) if *prev != t => return Err(JwtError::Ambiguous),
                _ => found = Some(t),
            }
        }
        Ok(found)
    }

    fn now(&self) -> u64 {
        self.inner.clock.now().as_secs()
    }

    fn authorize(&self, claims: JwtClaims) -> Result<JwtClaims, JwtError> {
        let c = &self.inner;
        if c.scopes.iter().any(|s| !claims.has_scope(s))
            || c.check.as_ref().is_some_and(|f| !f(&claims))
        {
            return Err(JwtError::InsufficientScope);
        }
        Ok(claims)
    }

    /// The pure, synchronous decision for a request's headers and URI with the keys in
    /// hand (a static ring, or a JWKS set already fetched). `Ok(None)`: anonymous and
    /// [`optional`](Self::optional). With a JWKS not loaded yet this answers
    /// `KeysUnavailable`; the layer itself fetches instead.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Option<JwtClaims>, JwtError> {
        match self.step(headers, uri) {
            Step::Anonymous => Ok(None),
            Step::Accept(c) => Ok(Some(c)),
            Step::Reject(e) => Err(e),
            Step::Fetch(_) => Err(JwtError::KeysUnavailable),
        }
    }

    pub(crate) fn step(&self, headers: &HeaderMap, uri: &Uri) -> Step {
        let token = match self.token(headers, uri) {
            Ok(Some(t)) => t,
            Ok(None) if self.inner.optional => return Step::Anonymous,
            Ok(None) => return Step::Reject(JwtError::Missing),
            Err(e) => return Step::Reject(e),
        };
        let v = &self.inner.validation;
        let now = self.now();
        let digest = self.inner.cache.as_ref().map(|_| verified::digest(&token));
        if let Some(claims) = self.remembered(digest.as_ref(), now) {
            return match self.authorize(claims) {
                Ok(c) => Step::Accept(c),
                Err(e) => Step::Reject(e),
            };
        }
        let r = match &self.inner.keys {
            Keys::Ring(ring) => v
                .header(&token)
                .and_then(|header| {
                    let key = ring_key(&ring.snapshot(), &header).ok_or(JwtError::UnknownKey)?;
                    Ok((header, key))
                })
                .and_then(|(header, key)| {
                    self.verify_and_remember(&token, header, key, now, digest)
                }),
            Keys::Remote(jwks) => {
                let header = match v.header(&token) {
                    Ok(h) => h,
                    Err(e) => return Step::Reject(e),
                };
                match jwks.lookup(header.kid.as_deref(), header.alg) {
                    super::jwks::Lookup::Found(key) => {
                        self.verify_and_remember(&token, header, key, now, digest)
                    }
                    super::jwks::Lookup::Unknown => Err(JwtError::UnknownKey),
                    super::jwks::Lookup::Unavailable => Err(JwtError::KeysUnavailable),
                    super::jwks::Lookup::Fetch => return Step::Fetch(token),
                }
            }
        };
        match r.and_then(|c| self.authorize(c)) {
            Ok(c) => Step::Accept(c),
            Err(e) => Step::Reject(e),
        }
    }

    /// Verifies `token`, fetching the JWKS first when the layer needs to (the slow path).
    pub async fn verify_async(&self, token: &str) -> Result<JwtClaims, JwtError> {
        let v = &self.inner.validation;
        let now = self.now();
        let digest = self.inner.cache.as_ref().map(|_| verified::digest(token));
        if let Some(claims) = self.remembered(digest.as_ref(), now) {
            return self.authorize(claims);
        }
        let header = v.header(token)?;
        let key = match &self.inner.keys {
            Keys::Ring(ring) => ring_key(&ring.snapshot(), &header).ok_or(JwtError::UnknownKey)?,
            Keys::Remote(jwks) => jwks.resolve(header.kid.as_deref(), header.alg).await?,
        };
        let claims = self.verify_and_remember(token, header, key, now, digest)?;
        self.authorize(claims)
    }

    /// The claims of a remembered token whose key is still the one that verified it.
    fn remembered(&self, digest: Option<&TokenDigest>, now: u64) -> Option<JwtClaims> {
        let (cache, digest) = (self.inner.cache.as_ref()?, digest?);
        let e = cache.get(digest, now, self.inner.validation.leeway.as_secs())?;
        let current = match &self.inner.keys {
            Keys::Ring(ring) => ring_key(&ring.snapshot(), &e.header),
            Keys::Remote(jwks) => match jwks.lookup(e.header.kid.as_deref(), e.header.alg) {
                super::jwks::Lookup::Found(k) => Some(k),
                _ => None,
            },
        };
        if current.is_some_and(|k| Arc::ptr_eq(&k, &e.key)) {
            cache.hit();
            Some(e.claims.clone())
        } else {
            cache.remove(digest);
            None
        }
    }

    fn verify_and_remember(
        &self,
        token: &str,
        header: TokenHeader,
        key: Arc<VerifyingKey>,
        now: u64,
        digest: Option<TokenDigest>,
    ) -> Result<JwtClaims, JwtError> {
        let claims = self
            .inner
            .validation
            .verify_with_key(token, &header, &key, now)?;
        if let (Some(cache), Some(d)) = (&self.inner.cache, digest) {
            cache.insert(
                d,
                Entry {
                    header,
                    key,
                    claims: claims.clone(),
                },
            );
        }
        Ok(claims)
    }

    fn reject<B, T>(&self, req: &Request<T>, e: JwtError) -> Response<ShieldBody<B>> {
        let c = &self.inner;
        c.renderer.refuse(
            crate::core::metrics::Layer::Jwt,
            req,
            c.clock.now(),
            e.to_rejection(),
        )
    }
}

/// The key of `keys` a token with `header` is verified by (as [`Validation::verify`] picks it).
fn ring_key(keys: &KeySet, header: &TokenHeader) -> Option<Arc<VerifyingKey>> {
    match &header.kid {
        Some(kid) => keys.get(kid),
        None => keys.only_of(header.alg),
    }
    .cloned()
}

fn insert<B>(req: &mut Request<B>, claims: JwtClaims) {
    req.extensions_mut().insert(claims.principal());
    req.extensions_mut().insert(claims);
}

impl<S, M> Layer<S> for JwtLayer<M> {
    type Service = JwtService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`JwtLayer`] wraps around an inner service.
#[derive(Debug)]
pub struct JwtService<S, M = InnerBody> {
    inner: S,
    layer: JwtLayer<M>,
}

impl<S: Clone, M> Clone for JwtService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

type BoxResponse<B, E> = Pin<Box<dyn Future<Output = Result<Response<ShieldBody<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`JwtService`]: the inner future, a decided response, or
    /// (only while a JWKS is fetched) a boxed future that owns the IO.
    pub struct JwtFuture<F, B, E, M = InnerBody> {
        #[pin]
        state: JwtState<F, B, E>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = JwtStateProj]
    enum JwtState<F, B, E> {
        // Waiting on the inner service.
        Inner { #[pin] future: F },
        // Answering without the inner service.
        Ready { response: Option<Response<ShieldBody<B>>> },
        // Fetching keys, then calling the inner service.
        Fetch { future: BoxResponse<B, E> },
    }
}

impl<F, B, E, M> JwtFuture<F, B, E, M> {
    fn new(state: JwtState<F, B, E>) -> Self {
        Self {
            state,
            mode: PhantomData,
        }
    }
}

impl<F, B, E, M> Future for JwtFuture<F, B, E, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            JwtStateProj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(M::from_inner(res)))
            }
            JwtStateProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(M::from_shield(r))),
                None => panic!("JwtFuture polled after completion"),
            },
            JwtStateProj::Fetch { future } => future.as_mut().poll(cx).map_ok(M::from_shield),
        }
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for JwtService<S, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Send + 'static,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = JwtFuture<S::Future, ResB, S::Error, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        match self.layer.step(req.headers(), req.uri()) {
            Step::Anonymous => JwtFuture::new(JwtState::Inner {
                future: self.inner.call(req),
            }),
            Step::Accept(claims) => {
                insert(&mut req, claims);
                JwtFuture::new(JwtState::Inner {
                    future: self.inner.call(req),
                })
            }
            Step::Reject(e) => JwtFuture::new(JwtState::Ready {
                response: Some(self.layer.reject(&req, e)),
            }),
            Step::Fetch(token) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                // The layer without its mode: the boxed future owns it, and answers in
                // `ShieldBody` that `JwtFuture` then maps.
                let layer: JwtLayer = JwtLayer {
                    inner: self.layer.inner.clone(),
                    mode: PhantomData,
                };
                JwtFuture::new(JwtState::Fetch {
                    future: Box::pin(async move {
                        match layer.verify_async(&token).await {
                            Ok(claims) => {
                                insert(&mut req, claims);
                                Ok(inner.call(req).await?.map(ShieldBody::inner))
                            }
                            Err(e) => Ok(layer.reject(&req, e)),
                        }
                    }),
                })
            }
        }
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;

    use super::{JwtClaims, JwtError};
    use crate::core::reject::Rejection;

    /// Reads the [`JwtClaims`] that `JwtLayer` inserted; 401 without them.
    impl<S: Send + Sync> FromRequestParts<S> for JwtClaims {
        type Rejection = Rejection;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<JwtClaims>()
                .cloned()
                .ok_or_else(|| JwtError::Missing.to_rejection())
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for JwtClaims {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<JwtClaims>().cloned())
        }
    }

    /// The verified claims as your own type `T` (feature `axum`): 401 without a token,
    /// 403 `insufficient_scope` when the claims do not deserialize into `T`.
    #[derive(Clone, Debug)]
    pub struct Claims<T>(pub T);

    impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Claims<T> {
        type Rejection = Rejection;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            let claims = parts
                .extensions
                .get::<JwtClaims>()
                .ok_or_else(|| JwtError::Missing.to_rejection())?;
            claims
                .deserialize()
                .map(Claims)
                .map_err(|_| JwtError::InsufficientScope.to_rejection())
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::Claims;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{DEFAULT_TTL, JwtSigner, SigningKey};
    use crate::core::clock::ManualClock;
    use proptest::prelude::*;

    const RSA1: &[u8] = include_bytes!("../../tests/data/intel/jwt/rsa1.pem");
    const RSA1_PUB: &[u8] = include_bytes!("../../tests/data/intel/jwt/rsa1.pub.pem");
    const RSA2: &[u8] = include_bytes!("../../tests/data/intel/jwt/rsa2.pem");
    const EC1: &[u8] = include_bytes!("../../tests/data/intel/jwt/ec1.pem");
    const ED1: &[u8] = include_bytes!("../../tests/data/intel/jwt/ed1.pem");
    const ED1_PUB: &[u8] = include_bytes!("../../tests/data/intel/jwt/ed1.pub.pem");
    const NOW: u64 = 1_700_000_000;

    fn clock() -> ManualClock {
        ManualClock::new(Duration::from_secs(NOW))
    }

    fn signer(key: SigningKey, c: &ManualClock) -> JwtSigner {
        JwtSigner::new(key).unwrap().clock(Arc::new(c.clone()))
    }

    fn all_algs() -> Validation {
        Validation {
            algorithms: vec![
                JwtAlgorithm::RS256,
                JwtAlgorithm::ES256,
                JwtAlgorithm::EdDSA,
                JwtAlgorithm::HS256,
            ],
            ..Validation::default()
        }
    }

    #[test]
    fn each_algorithm_round_trips_and_binds_its_key() {
        let c = clock();
        for key in [
            SigningKey::rsa_pem("r1", RSA1).unwrap(),
            SigningKey::rsa_pem("r2", RSA2).unwrap(),
            SigningKey::ec_pem("e1", EC1).unwrap(),
            SigningKey::ed_pem("d1", ED1).unwrap(),
            SigningKey::hs256("h1", &Secret::from("0123456789abcdef0123456789abcdef")).unwrap(),
        ] {
            let s = signer(key, &c);
            let t = s.sign_for("alice", &["read", "write"]).unwrap();
            let claims = all_algs()
                .verify(&t, &s.key_ring().snapshot(), NOW)
                .unwrap();
            assert_eq!(claims.sub.as_deref(), Some("alice"));
            assert!(claims.has_scope("write"));
            assert_eq!(claims.principal().kind, PrincipalKind::Jwt);
            // The default allow-list is RS256 only.
            let default = Validation::default().verify(&t, &s.key_ring().snapshot(), NOW);
            if claims.alg == JwtAlgorithm::RS256 {
                assert!(default.is_ok());
            } else {
                assert_eq!(default.unwrap_err(), JwtError::Algorithm);
            }
        }
        assert_eq!(
            SigningKey::from_pem("x", ED1).unwrap().algorithm(),
            JwtAlgorithm::EdDSA
        );
    }

    #[test]
    fn public_pems_and_jwks_round_trip() {
        let rsa = VerifyingKey::rsa_pem("r1", RSA1_PUB).unwrap();
        let from_jwk = VerifyingKey::from_jwk(&rsa.to_jwk().unwrap()).unwrap();
        let t = SigningKey::rsa_pem("r1", RSA1)
            .unwrap()
            .sign_claims(serde_json::json!({"exp": NOW + 60}).as_object().unwrap());
        let t = t.unwrap();
        for k in [rsa, from_jwk] {
            let set = KeySet::new([k]).unwrap();
            assert!(Validation::default().verify(&t, &set, NOW).is_ok());
        }
        let ed = VerifyingKey::ed_pem("d1", ED1_PUB).unwrap();
        assert_eq!(ed.to_jwk().unwrap()["kty"], "OKP");
        let ec = SigningKey::ec_pem("e1", EC1).unwrap();
        let jwk = ec.verifying_key().to_jwk().unwrap();
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).unwrap().algorithm(),
            JwtAlgorithm::ES256
        );
        // Secrets are never published, and never read from a document.
        let hs =
            VerifyingKey::hs256("h", &Secret::from("0123456789abcdef0123456789abcdef")).unwrap();
        assert!(hs.to_jwk().is_none());
        assert!(
            VerifyingKey::from_jwk(&serde_json::json!({"kty": "oct", "kid": "h", "k": "AAAA"}))
                .is_err()
        );
        // A JWK whose alg disagrees with its key type is refused.
        let mut bad = jwk.clone();
        bad["alg"] = "RS256".into();
        assert!(VerifyingKey::from_jwk(&bad).is_err());
        assert!(VerifyingKey::hs256("h", &Secret::from("short")).is_err());
        assert!(VerifyingKey::ed_raw("d", &[1; 31]).is_err());
        assert!(
            VerifyingKey::rsa_raw("r", &[0xff; 128], &[1, 0, 1]).is_err(),
            "1024-bit RSA"
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_until_retired() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("k1", RSA1).unwrap(), &c);
        let ring = s.key_ring();
        let old = s.sign_for("u", &[]).unwrap();
        s.rotate(SigningKey::rsa_pem("k2", RSA2).unwrap()).unwrap();
        let new = s.sign_for("u", &[]).unwrap();
        assert_eq!(parse_header(&new).unwrap().kid.as_deref(), Some("k2"));
        let v = Validation::default();
        assert!(v.verify(&old, &ring.snapshot(), NOW).is_ok());
        assert!(v.verify(&new, &ring.snapshot(), NOW).is_ok());
        assert_eq!(s.jwks()["keys"].as_array().unwrap().len(), 2);
        assert!(s.retire("k2").is_err(), "the active key stays");
        assert!(s.retire("k1").unwrap());
        assert_eq!(
            v.verify(&old, &ring.snapshot(), NOW),
            Err(JwtError::UnknownKey)
        );
        assert!(v.verify(&new, &ring.snapshot(), NOW).is_ok());
    }

    fn forge(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header),
            B64.encode(payload),
            B64.encode(sig)
        )
    }

    #[test]
    fn algorithm_confusion_fails() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("rsa", RSA1).unwrap(), &c);
        let ring = s.key_ring();
        ring.insert(
            SigningKey::ed_pem("ed", ED1)
                .unwrap()
                .verifying_key()
                .clone(),
        )
        .unwrap();
        let v = all_algs();
        // HS256 signed with the RSA public key's bytes, naming the RSA key.
        let hs = SigningKey::hs256("rsa", &Secret::new(RSA1_PUB)).unwrap();
        let t = hs
            .sign_claims(serde_json::json!({"exp": NOW + 60}).as_object().unwrap())
            .unwrap();
        assert_eq!(
            v.verify(&t, &ring.snapshot(), NOW),
            Err(JwtError::KeyAlgorithmMismatch)
        );
        // ... and without a kid: no HS256 key exists at all.
        let t = forge(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"exp":{}}}"#, NOW + 60),
            b"x",
        );
        assert_eq!(
            v.verify(&t, &ring.snapshot(), NOW),
            Err(JwtError::UnknownKey)
        );
        // alg none, in any spelling, with or without a signature.
        for alg in ["none", "None", "NONE", "nOnE", ""] {
            let h = format!(r#"{{"alg":"{alg}","kid":"rsa"}}"#);
            let t = forge(&h, &format!(r#"{{"exp":{}}}"#, NOW + 60), b"");
            assert_eq!(
                v.verify(&t, &ring.snapshot(), NOW),
                Err(JwtError::Algorithm)
            );
        }
        // An EdDSA token whose kid points at the RSA key.
        let ed = SigningKey::ed_pem("rsa", ED1).unwrap();
        let t = ed
            .sign_claims(serde_json::json!({"exp": NOW + 60}).as_object().unwrap())
            .unwrap();
        assert_eq!(
            v.verify(&t, &ring.snapshot(), NOW),
            Err(JwtError::KeyAlgorithmMismatch)
        );
        // An RS256 token pointed at the Ed25519 key.
        let rs = SigningKey::rsa_pem("ed", RSA1).unwrap();
        let t = rs
            .sign_claims(serde_json::json!({"exp": NOW + 60}).as_object().unwrap())
            .unwrap();
        assert_eq!(
            v.verify(&t, &ring.snapshot(), NOW),
            Err(JwtError::KeyAlgorithmMismatch)
        );
        // crit headers are not understood, so refused.
        let good = s.sign_for("u", &[]).unwrap();
        let (_, rest) = good.split_once('.').unwrap();
        let t = format!(
            "{}.{rest}",
            B64.encode(r#"{"alg":"RS256","kid":"rsa","crit":["b64"]}"#)
        );
        assert_eq!(
            v.verify(&t, &ring.snapshot(), NOW),
            Err(JwtError::Malformed)
        );
        // A tampered payload fails the signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let p = B64.encode(format!(r#"{{"sub":"admin","exp":{}}}"#, NOW + 60));
        parts[1] = &p;
        assert_eq!(
            v.verify(&parts.join("."), &ring.snapshot(), NOW),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn time_issuer_and_audience() {
        let key = SigningKey::ed_pem("d", ED1).unwrap();
        let set = KeySet::new([key.verifying_key().clone()]).unwrap();
        let v = Validation {
            algorithms: vec![JwtAlgorithm::EdDSA],
            ..Validation::default()
        };
        let tok = |c: serde_json::Value| key.sign_claims(c.as_object().unwrap()).unwrap();
        assert_eq!(
            v.verify(&tok(serde_json::json!({"sub": "u"})), &set, NOW),
            Err(JwtError::Claims),
            "exp required"
        );
        assert_eq!(
            v.verify(&tok(serde_json::json!({"exp": "soon"})), &set, NOW),
            Err(JwtError::Claims)
        );
        // exp within the 60 s leeway passes; past it fails.
        assert!(
            v.verify(&tok(serde_json::json!({"exp": NOW - 59})), &set, NOW)
                .is_ok()
        );
        assert_eq!(
            v.verify(&tok(serde_json::json!({"exp": NOW - 60})), &set, NOW),
            Err(JwtError::Expired)
        );
        assert!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 600, "nbf": NOW + 60})),
                &set,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 600, "nbf": NOW + 61})),
                &set,
                NOW
            ),
            Err(JwtError::NotYetValid)
        );
        assert!(
            v.verify(
                &tok(serde_json::json!({"exp": (NOW + 10) as f64 + 0.5})),
                &set,
                NOW
            )
            .is_ok()
        );
        // aud present but none configured: refused.
        assert_eq!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 60, "aud": "x"})),
                &set,
                NOW
            ),
            Err(JwtError::Audience)
        );
        let v = Validation {
            issuers: vec!["https://issuer".into()],
            audiences: vec!["api".into()],
            ..v
        };
        let ok = tok(
            serde_json::json!({"exp": NOW + 60, "iss": "https://issuer", "aud": ["web", "api"]}),
        );
        assert!(v.verify(&ok, &set, NOW).is_ok());
        assert_eq!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 60, "iss": "https://other", "aud": "api"})),
                &set,
                NOW
            ),
            Err(JwtError::Issuer)
        );
        assert_eq!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 60, "iss": "https://issuer", "aud": "web"})),
                &set,
                NOW
            ),
            Err(JwtError::Audience)
        );
        assert_eq!(
            v.verify(
                &tok(serde_json::json!({"exp": NOW + 60, "iss": "https://issuer"})),
                &set,
                NOW
            ),
            Err(JwtError::Audience)
        );
    }

    #[test]
    fn sources_cookie_and_ambiguity() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("k", RSA1).unwrap(), &c);
        let t = s.sign_for("u", &[]).unwrap();
        let other = s.sign_for("v", &[]).unwrap();
        let l = JwtLayer::new(s.key_ring())
            .clock(Arc::new(c.clone()))
            .from_cookie("access_token")
            .unwrap()
            .from_fn(|h, _| {
                h.get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        let uri: Uri = "/".parse().unwrap();
        let auth = |pairs: &[(&str, String)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            l.authenticate(&h, &uri).map(|c| c.and_then(|c| c.sub))
        };
        assert_eq!(
            auth(&[("authorization", format!("Bearer {t}"))]),
            Ok(Some("u".into()))
        );
        assert_eq!(
            auth(&[("cookie", format!("a=1; access_token={t}; b=2"))]),
            Ok(Some("u".into()))
        );
        assert_eq!(auth(&[("x-token", t.clone())]), Ok(Some("u".into())));
        assert_eq!(
            auth(&[
                ("authorization", format!("Bearer {t}")),
                ("cookie", format!("access_token={t}"))
            ]),
            Ok(Some("u".into())),
            "the same token twice is fine"
        );
        assert_eq!(
            auth(&[
                ("authorization", format!("Bearer {t}")),
                ("cookie", format!("access_token={other}"))
            ]),
            Err(JwtError::Ambiguous)
        );
        assert_eq!(auth(&[]), Err(JwtError::Missing));
        assert_eq!(
            auth(&[("authorization", "Basic dTpw".into())]),
            Err(JwtError::Missing)
        );
        assert!(JwtLayer::new(KeyRing::new()).from_cookie("a b").is_err());
        assert!(
            JwtLayer::new(KeyRing::new())
                .leeway(Duration::from_secs(3600))
                .is_err()
        );
        assert!(JwtLayer::new(KeyRing::new()).algorithms([]).is_err());
    }

    #[tokio::test]
    async fn layer_statuses_and_challenges() {
        use tower::{ServiceBuilder, ServiceExt, service_fn};
        let c = clock();
        let s = signer(SigningKey::rsa_pem("k", RSA1).unwrap(), &c);
        let svc = ServiceBuilder::new()
            .layer(
                JwtLayer::new(s.key_ring())
                    .clock(Arc::new(c.clone()))
                    .require_scope("read")
                    .check(|cl| cl.sub.as_deref() != Some("mallory"))
                    .wrapped_body(),
            )
            .service(service_fn(|req: Request<()>| async move {
                let p = req.extensions().get::<Principal>().cloned().unwrap();
                assert!(req.extensions().get::<JwtClaims>().is_some());
                Ok::<_, std::convert::Infallible>(Response::new(p.id.to_string()))
            }));
        let call = |tok: Option<String>| {
            let svc = svc.clone();
            async move {
                let mut b = Request::get("/");
                if let Some(t) = tok {
                    b = b.header("authorization", format!("Bearer {t}"));
                }
                svc.oneshot(b.body(()).unwrap()).await.unwrap()
            }
        };
        let res = call(Some(s.sign_for("alice", &["read"]).unwrap())).await;
        assert_eq!(res.status(), 200);
        let res = call(None).await;
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer");
        let res = call(Some("not.a.jwt".into())).await;
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        let res = call(Some(s.sign_for("alice", &["write"]).unwrap())).await;
        assert_eq!(res.status(), 403);
        assert!(
            res.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("error=\"insufficient_scope\"")
        );
        let res = call(Some(s.sign_for("mallory", &["read"]).unwrap())).await;
        assert_eq!(res.status(), 403);
        let old = s.sign_for("alice", &["read"]).unwrap();
        c.advance(DEFAULT_TTL + Duration::from_secs(61));
        let res = call(Some(old)).await;
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.extensions().get::<Rejection>().map(|r| r.kind()),
            Some(RejectionKind::TokenExpired)
        );
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    fn hits<M>(l: &JwtLayer<M>) -> u64 {
        l.inner.cache.as_ref().unwrap().hits()
    }

    /// A layer with a verified-token cache over `s`'s ring, on `c`.
    fn cached(s: &JwtSigner, c: &ManualClock) -> JwtLayer {
        JwtLayer::new(s.key_ring())
            .clock(Arc::new(c.clone()))
            .cache_verified(64)
            .unwrap()
    }

    #[test]
    fn a_repeated_token_is_served_from_the_cache() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("r1", RSA1).unwrap(), &c);
        let l = cached(&s, &c);
        let uri = Uri::from_static("/");
        let h = bearer(&s.sign_for("alice", &["read"]).unwrap());
        let first = l.authenticate(&h, &uri).unwrap().unwrap();
        assert_eq!(hits(&l), 0);
        let second = l.authenticate(&h, &uri).unwrap().unwrap();
        assert_eq!((hits(&l), &first), (1, &second));
        // Another token is verified on its own.
        let other = bearer(&s.sign_for("bob", &[]).unwrap());
        assert_eq!(
            l.authenticate(&other, &uri)
                .unwrap()
                .unwrap()
                .sub
                .as_deref(),
            Some("bob")
        );
        assert_eq!(hits(&l), 1);
        // A tampered token shares no entry with the real one.
        let t = s.sign_for("alice", &["read"]).unwrap();
        let forged = format!("{}x", &t[..t.len() - 1]);
        assert!(l.authenticate(&bearer(&forged), &uri).is_err());
    }

    #[test]
    fn a_cached_token_never_outlives_its_key() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("r1", RSA1).unwrap(), &c);
        let l = cached(&s, &c);
        let uri = Uri::from_static("/");
        let h = bearer(&s.sign_for("alice", &[]).unwrap());
        l.authenticate(&h, &uri).unwrap();
        l.authenticate(&h, &uri).unwrap();
        assert_eq!(hits(&l), 1);
        // Retired: refused at once, as without a cache.
        s.rotate(SigningKey::rsa_pem("r2", RSA2).unwrap()).unwrap();
        s.retire("r1").unwrap();
        assert_eq!(l.authenticate(&h, &uri), Err(JwtError::UnknownKey));
        // Another key under the same kid: the old entry is not taken.
        s.key_ring()
            .insert(
                VerifyingKey::rsa_pem(
                    "r1",
                    include_bytes!("../../tests/data/intel/jwt/rsa2.pub.pem"),
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(l.authenticate(&h, &uri), Err(JwtError::Signature));
        assert_eq!(hits(&l), 1);
    }

    #[test]
    fn a_kidless_cached_token_stops_when_its_key_becomes_ambiguous() {
        let c = clock();
        let key = SigningKey::rsa_pem("r1", RSA1).unwrap();
        let ring = KeyRing::of([key.verifying_key().clone()]).unwrap();
        let l = JwtLayer::new(ring.clone())
            .clock(Arc::new(c.clone()))
            .cache_verified(8)
            .unwrap();
        let mut claims = Map::new();
        claims.insert("exp".into(), (NOW + 300).into());
        // No kid in the header: signed by hand.
        let hdr = B64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = B64.encode(serde_json::to_vec(&claims).unwrap());
        let input = format!("{hdr}.{body}");
        let sig = key.sign_bytes(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", B64.encode(sig));
        let uri = Uri::from_static("/");
        l.authenticate(&bearer(&t), &uri).unwrap();
        l.authenticate(&bearer(&t), &uri).unwrap();
        assert_eq!(hits(&l), 1);
        ring.insert(
            VerifyingKey::rsa_pem(
                "r2",
                include_bytes!("../../tests/data/intel/jwt/rsa2.pub.pem"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(l.authenticate(&bearer(&t), &uri), Err(JwtError::UnknownKey));
    }

    #[test]
    fn cached_tokens_expire_at_exp_and_scopes_are_checked_on_every_hit() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("r1", RSA1).unwrap(), &c);
        let l = cached(&s, &c).require_scope("admin");
        let uri = Uri::from_static("/");
        let h = bearer(&s.sign_for("alice", &["read"]).unwrap());
        for _ in 0..2 {
            assert_eq!(l.authenticate(&h, &uri), Err(JwtError::InsufficientScope));
        }
        assert_eq!(hits(&l), 1, "verified once, refused twice");
        let l = cached(&s, &c);
        let h = bearer(&s.sign_for("alice", &[]).unwrap());
        l.authenticate(&h, &uri).unwrap();
        // At exp the entry is gone; the leeway is granted by a full verification.
        c.advance(DEFAULT_TTL);
        assert!(l.authenticate(&h, &uri).is_ok());
        assert_eq!(hits(&l), 0);
        c.advance(Duration::from_secs(60));
        assert_eq!(l.authenticate(&h, &uri), Err(JwtError::Expired));
    }

    #[test]
    fn a_changed_layer_does_not_share_its_cache() {
        let c = clock();
        let s = signer(SigningKey::rsa_pem("r1", RSA1).unwrap(), &c);
        let loose = cached(&s, &c);
        let uri = Uri::from_static("/");
        let h = bearer(&s.sign_for("alice", &[]).unwrap());
        loose.authenticate(&h, &uri).unwrap();
        // A copy that requires an issuer must not take the loose layer's verdict.
        let strict = loose.clone().issuer("https://issuer.example");
        assert_eq!(strict.authenticate(&h, &uri), Err(JwtError::Issuer));
        assert_eq!((hits(&loose), hits(&strict)), (0, 0));
        // A plain clone shares it (same rules).
        let same = loose.clone();
        same.authenticate(&h, &uri).unwrap();
        assert_eq!(hits(&loose), 1);
    }

    #[test]
    fn cache_capacity_is_bounded() {
        let l = JwtLayer::new(KeyRing::new());
        assert!(l.clone().cache_verified(1).is_err());
        assert!(l.clone().cache_verified(MAX_VERIFIED_CACHE + 1).is_err());
        assert!(l.cache_verified(2).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic_or_pass(
            h in "[A-Za-z0-9_-]{0,80}",
            p in "[A-Za-z0-9_-]{0,80}",
            sig in "[A-Za-z0-9_.=-]{0,80}",
            raw in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let set = KeySet::new([VerifyingKey::rsa_pem("k", RSA1_PUB).unwrap()]).unwrap();
            let v = all_algs();
            let t = format!("{h}.{p}.{sig}");
            prop_assert!(v.verify(&t, &set, NOW).is_err());
            prop_assert!(v.verify(&String::from_utf8_lossy(&raw), &set, NOW).is_err());
            let hdr = B64.encode(String::from_utf8_lossy(&raw).as_bytes());
            let t = format!("{hdr}.{p}.{sig}");
            prop_assert!(v.verify(&t, &set, NOW).is_err());
            let _ = parse_header(&String::from_utf8_lossy(&raw));
        }
    }
}
