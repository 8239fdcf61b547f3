//! Request signatures (feature `signature`): one SigV4 core, two dialects.
//!
//! [`SignatureLayer`] verifies that a request was signed by a known key, the way
//! AWS Signature Version 4 signs, in one of two [`Dialect`]s:
//!
//! * [`Dialect::verus()`]: the Auspex Verus scheme, whose Python, JavaScript, Go,
//!   PHP, C# and Bash clients work unchanged. `Authorization: HMAC-SHA256
//!   Credential=KEY/YYYYMMDD/verus/aws4_request, SignedHeaders=x-amz-date,
//!   Signature=HEX`, key chain `HMAC("AWS4"+secret, date) -> "verus" -> "aws4_request"`,
//!   and the path signed as sent.
//! * [`Dialect::aws`]`(region, service)`: real AWS SigV4 (`AWS4-HMAC-SHA256`,
//!   `date/region/service/aws4_request`), as botocore, the AWS SDKs and
//!   `aws-sigv4` sign, including presigned URLs (`X-Amz-Signature` in the query,
//!   `X-Amz-Expires` up to 7 days). [`Dialect::aws_s3`] for S3's URI rules.
//!
//! On success the layer inserts a [`Principal`](crate::core::Principal) (`id` = the
//! key id, `kind` = `Signature`) and calls the inner service with the body it
//! buffered. **The inner service's request body type is [`SignedBody`]**
//! (`http_body_util::Full<Bytes>`); axum's `Router` accepts it, so
//! `router.layer(SignatureLayer::new(..))` and `.route_layer(..)` just work. Any
//! other body built from `Bytes` can be chosen with
//! [`SignatureLayer::forward_body`] (e.g. `forward_body::<axum::body::Body>()`).
//!
//! # What is checked
//!
//! * Exactly one `Authorization` header (or, AWS dialect, one presigned query),
//!   parsed strictly: the dialect's algorithm; `Credential`, `SignedHeaders` and
//!   `Signature` once each; the dialect's scope; `SignedHeaders` lower-case, sorted,
//!   unique; a 64-digit lower-hex signature.
//! * Exactly one `X-Amz-Date`, within the window of the server's clock (default
//!   ±5 minutes, as the seed says); the scope date equals its date. A presigned URL
//!   is valid from `X-Amz-Date` (less the window, for clock skew) to
//!   `X-Amz-Date + X-Amz-Expires`.
//! * The required signed headers: `x-amz-date` always, plus any you add with
//!   [`Verifier::require_signed_header`]. **Requiring `host` is recommended**: it
//!   binds a signature to your hostname, so one signed for another service that
//!   shares the key cannot be replayed against you. Every signed header must be on
//!   the request (`host` may come from an HTTP/2 `:authority`).
//! * The canonical request by AWS's rules: the path URI-encoded once (Verus, S3) or
//!   twice (other AWS services), optionally normalised; the real canonical query
//!   string (decoded, re-encoded, sorted by key then value); header values trimmed,
//!   inner spaces folded, repeated headers joined with `,`.
//! * The payload hash: the SHA-256 of the body, buffered up to
//!   [`Verifier::body_limit`] (default 1 MiB; a longer body gets 413 at once, from
//!   `Content-Length` or while streaming, without reading the rest). A signed
//!   `x-amz-content-sha256` is used as signed *and* checked against the body.
//!   `UNSIGNED-PAYLOAD` is refused unless [`Verifier::insecure_allow_unsigned_payload`].
//! * The 32 signature bytes, compared in constant time. An unknown key is run
//!   through the whole computation with a decoy key, so it fails at the same point,
//!   with the same status, code and message, in about the same time as a wrong
//!   signature.
//! * Optional replay protection ([`SignatureLayer::replay_protection`]): each
//!   (key id, signature) is accepted once, remembered in a
//!   [`SingleUseStore`](crate::core::store::SingleUseStore) for twice the window.
//!
//! # Bounds
//!
//! Body: [`Verifier::body_limit`] (1 MiB). `Authorization`: 4096 bytes
//! ([`MAX_AUTHORIZATION_LEN`]). Signed headers: 64 ([`MAX_SIGNED_HEADERS`]). Query
//! parameters: 256 ([`MAX_QUERY_PARAMS`]). Key ids and scope parts: 128 bytes.
//! Derived-key cache: 4096 entries ([`Verifier::key_cache_entries`]). The canonical
//! request is gathered on the stack (1 KiB) and is otherwise as large as the signed
//! head, which the HTTP server already bounds.
//!
//! # Status codes
//!
//! | what | status | code |
//! |---|---|---|
//! | no credentials; unknown key or wrong signature; wrong region/service; required header unsigned; body differs from signed hash; `UNSIGNED-PAYLOAD` refused | 401 | `INVALID_SIGNATURE` |
//! | a validly signed request seen before within its window (replay protection on) | 401 | `SIGNATURE_REPLAYED` |
//! | timestamp outside the window, presigned URL expired | 401 | `SIGNATURE_EXPIRED` |
//! | malformed credentials: unparseable or duplicated `Authorization`/`X-Amz-Date`, scope date ≠ `X-Amz-Date` date, bad `X-Amz-Expires`, a signed header absent, unreadable body | 400 | `INVALID_REQUEST` |
//! | body over the limit | 413 | `PAYLOAD_TOO_LARGE` |
//! | replay store down (fail closed) | 503 | `SERVICE_UNAVAILABLE` |
//!
//! **Why malformed credentials get 400, not 401.** They are decided from the bytes
//! the client sent, before any key is looked up, so the answer says nothing about
//! which keys exist; a distinct 400 tells an integrator "your client builds the
//! header wrongly" rather than "your secret is wrong", which is the most common
//! integration bug; and it is what AWS answers (`AuthorizationHeaderMalformed`,
//! `IncompleteSignature`). Every 401 carries `WWW-Authenticate: <algorithm>`. All
//! bodies use the crate's shared JSON error shape (the Verus seed's own
//! `{"error", "statusCode"}` shape is the demo's business, through a `Renderer`).
//!
//! # Caveats (threat model)
//!
//! * Without replay protection, a captured request can be re-sent within the
//!   window (±5 minutes). Turn it on for non-idempotent routes; with several
//!   servers, use a shared store (Redis).
//! * The Verus dialect signs only `x-amz-date`, method, path, query and body: not
//!   the host. A request signed for one Verus-compatible service is valid at any
//!   other that holds the same key. Require `host` if your clients can sign it.
//! * Headers that are not signed (`content-type` in the seed) can be changed in
//!   flight. Only what `SignedHeaders` lists is protected.
//! * The body is held in memory up to the limit, per request in flight; put a
//!   concurrency limit in front under heavy load. Trailers are dropped.
//! * A cached derived key makes the second request of a known key about a
//!   microsecond faster than the first: it reveals "recently used", not a secret.
//! * The clock matters: a server clock off by minutes refuses everything. Time comes
//!   from the injected [`Clock`](crate::core::Clock).
//! * `Date` instead of `X-Amz-Date`, session tokens and chunked
//!   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` uploads are not supported (refused).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use axum::{Router, routing::post, Extension};
//! use tower::ServiceExt;
//! use tower_shield::core::{ManualClock, Principal};
//! use tower_shield::signature::{Dialect, SignatureLayer, Signer, StaticKeys, Verifier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (key, secret) = ("alk_1234567890abcdef", "als_abcdefghijklmnopqrstuvwxyz1234567890");
//! let now = Duration::from_secs(1_736_937_000); // 2025-01-15T10:30:00Z
//! let verifier = Verifier::new(Dialect::verus(), StaticKeys::new().key(key, secret)?);
//! let layer = SignatureLayer::new(verifier).clock(Arc::new(ManualClock::new(now)));
//! let app = Router::new()
//!     .route("/verus/classify", post(|Extension(p): Extension<Principal>, body: String| async move {
//!         format!("{} sent {body}", p.id)
//!     }))
//!     .layer(layer);
//!
//! // Signed as the seed's clients sign:
//! let body = r#"{"ipAddress": "8.8.8.8"}"#;
//! let mut req = http::Request::post("/verus/classify").body(body.to_owned())?;
//! Signer::new(Dialect::verus(), key, secret).sign(&mut req, now)?;
//! let res = app.clone().oneshot(req.map(axum::body::Body::from)).await?;
//! assert_eq!(res.status(), 200);
//! let text = axum::body::to_bytes(res.into_body(), 1024).await?;
//! assert_eq!(text, format!("alk_1234567890abcdef sent {body}"));
//!
//! // Unsigned: 401.
//! let res = app.oneshot(http::Request::post("/verus/classify").body(axum::body::Body::from(body))?).await?;
//! assert_eq!(res.status(), 401);
//! # Ok(()) }
//! ```

mod canonical;
mod future;
mod keys;
mod layer;
mod service;
mod sign;
mod verify;

pub use canonical::{
    CanonicalError, CanonicalParts, Dialect, MAX_QUERY_PARAMS, MAX_SIGNED_HEADERS, MAX_TOKEN_LEN,
    Sink, UNSIGNED_PAYLOAD, UriEncoding, X_AMZ_SIGNATURE, canonical_request,
    canonical_request_hash, remove_dot_segments, uri_encode, write_canonical_request,
};
pub use future::SignatureFuture;
pub use keys::{DEFAULT_KEY_CACHE_ENTRIES, KeyCache, KeyStore, StaticKeys};
pub use layer::SignatureLayer;
pub use service::SignatureService;
pub use sign::{
    MAX_PRESIGN_EXPIRES, SignError, Signer, SigningKey, X_AMZ_CONTENT_SHA256, X_AMZ_DATE,
    format_amz_date, payload_hash, string_to_sign,
};
pub use verify::{
    Credentials, DEFAULT_BODY_LIMIT, DEFAULT_WINDOW, HeadCheck, MAX_AUTHORIZATION_LEN,
    SignatureError, Verified, Verifier, parse_amz_date, parse_authorization, parse_signed_headers,
};

/// The request body the inner service receives: the buffered body, complete.
pub type SignedBody = http_body_util::Full<bytes::Bytes>;
