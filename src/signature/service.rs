use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::SignedBody;
use super::future::SignatureFuture;
use super::layer::SignatureLayer;
use super::verify::SignatureError;
use crate::core::body::{BodyMode, InnerBody};
use crate::core::store::SingleUseStore;

/// The service [`SignatureLayer`] wraps around an inner service.
///
/// The inner service receives `Request<B>` (the buffered body; `B` is [`SignedBody`]
/// unless [`SignatureLayer::forward_body`] chose another) with a
/// [`Principal`](crate::core::Principal) in its extensions.
pub struct SignatureService<S, R, B = SignedBody, M = InnerBody> {
    pub(crate) inner: S,
    pub(crate) layer: std::sync::Arc<SignatureLayer<R, B, M>>,
}

impl<S, R, B, M> SignatureService<S, R, B, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, R, B, M> Clone for SignatureService<S, R, B, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, R, B, M> fmt::Debug for SignatureService<S, R, B, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

/// The URI the client sent and signed: under axum, a nested router sees its path with
/// the nest's prefix stripped, so axum's `OriginalUri` (when the router put one there)
/// is the one checked.
pub(crate) fn sent_uri(parts: &http::request::Parts) -> &http::Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    &parts.uri
}

impl<S, R, B, M, ReqB, ResB> Service<Request<ReqB>> for SignatureService<S, R, B, M>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    ReqB: Body,
    R: SingleUseStore,
    B: From<Bytes>,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = SignatureFuture<S, ReqB, R, B, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let now = self.layer.clock.now();
        let (parts, body) = req.into_parts();
        let verifier = &self.layer.verifier;
        let head = match verifier.check_head(&parts.method, sent_uri(&parts), &parts.headers, now) {
            Ok(head) => head,
            Err(e) => return SignatureFuture::rejected(&parts.headers, now, e, self.layer.clone()),
        };
        let limit = u64::try_from(verifier.body_limit_bytes()).unwrap_or(u64::MAX);
        if body.size_hint().lower() > limit {
            return SignatureFuture::rejected(
                &parts.headers,
                now,
                SignatureError::PayloadTooLarge,
                self.layer.clone(),
            );
        }
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        SignatureFuture::collect(body, parts, head, inner, self.layer.clone(), now)
    }
}
