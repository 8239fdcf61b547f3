use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use sha2::{Digest, Sha256};
use tower_service::Service;

use super::SignedBody;
use super::layer::SignatureLayer;
use super::verify::{HeadCheck, SignatureError};
use crate::core::body::{BodyMode, InnerBody};
use crate::core::reject::RejectionContext;
use crate::core::store::SingleUseStore;

pin_project! {
    #[project = StateProj]
    enum State<ReqB, RF, SF> {
        // Reading the body, bounded.
        Collect { #[pin] body: ReqB },
        // Asking the replay store whether this signature is new.
        Replay { #[pin] fut: RF },
        // Running the inner service.
        Inner { #[pin] fut: SF },
        // Refusing with `rejected`, or finished.
        Done,
    }
}

pin_project! {
    /// The response future of [`SignatureService`](super::SignatureService): reads the
    /// body (bounded), verifies, optionally asks the replay store, then runs the inner
    /// service. A named state machine: no box, whatever the inner service.
    pub struct SignatureFuture<S, ReqB, R, B = SignedBody, M = InnerBody>
    where
        S: Service<Request<B>>,
        R: SingleUseStore,
    {
        #[pin]
        state: State<ReqB, R::Future, S::Future>,
        rejected: Option<(RejectionContext, SignatureError)>,
        inner: Option<S>,
        parts: Option<Parts>,
        head: Option<HeadCheck>,
        first: Option<Bytes>,
        rest: BytesMut,
        // The body's SHA-256 so far, fed as each frame arrives (when the check needs it).
        hasher: Option<Sha256>,
        forward: Option<Request<B>>,
        layer: std::sync::Arc<SignatureLayer<R, B, M>>,
        now: Duration,
    }
}

impl<S, ReqB, R, B, M> SignatureFuture<S, ReqB, R, B, M>
where
    S: Service<Request<B>>,
    R: SingleUseStore,
{
    pub(crate) fn collect(
        body: ReqB,
        parts: Parts,
        head: HeadCheck,
        inner: S,
        layer: std::sync::Arc<SignatureLayer<R, B, M>>,
        now: Duration,
    ) -> Self {
        Self {
            state: State::Collect { body },
            rejected: None,
            inner: Some(inner),
            parts: Some(parts),
            hasher: head.hashes_body().then(Sha256::new),
            head: Some(head),
            first: None,
            rest: BytesMut::new(),
            forward: None,
            layer,
            now,
        }
    }

    pub(crate) fn rejected(
        headers: &HeaderMap,
        now: Duration,
        err: SignatureError,
        layer: std::sync::Arc<SignatureLayer<R, B, M>>,
    ) -> Self {
        Self {
            state: State::Done,
            rejected: Some((RejectionContext::from_headers(headers, now), err)),
            inner: None,
            parts: None,
            head: None,
            first: None,
            rest: BytesMut::new(),
            hasher: None,
            forward: None,
            layer,
            now,
        }
    }
}

impl<S, ReqB, R, B, M, ResB> Future for SignatureFuture<S, ReqB, R, B, M>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    ReqB: Body,
    R: SingleUseStore,
    B: From<Bytes>,
    M: BodyMode<ResB>,
{
    type Output = Result<Response<M::Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let outcome: Result<(), SignatureError> = match this.state.as_mut().project() {
                StateProj::Inner { fut } => {
                    let res = ready!(fut.poll(cx))?;
                    return Poll::Ready(Ok(M::from_inner(res)));
                }
                StateProj::Done => match this.rejected.take() {
                    Some((rcx, err)) => {
                        return Poll::Ready(Ok(M::from_shield(this.layer.reject(&rcx, err))));
                    }
                    None => panic!("SignatureFuture polled after completion"),
                },
                StateProj::Replay { fut } => match ready!(fut.poll(cx)) {
                    Ok(true) => match (this.inner.take(), this.forward.take()) {
                        (Some(mut inner), Some(req)) => {
                            let fut = inner.call(req);
                            this.state.set(State::Inner { fut });
                            Ok(())
                        }
                        _ => panic!("SignatureFuture polled after completion"),
                    },
                    Ok(false) => Err(SignatureError::Replayed),
                    Err(e) => {
                        tracing::warn!(error = %e, "SignatureLayer: replay store unavailable");
                        Err(SignatureError::StoreUnavailable)
                    }
                },
                StateProj::Collect { body } => match ready!(body.poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        // Trailers are not kept: the inner service gets a plain full body.
                        if let Ok(mut data) = frame.into_data() {
                            let have = this.first.as_ref().map_or(0, Bytes::len) + this.rest.len();
                            let n = data.remaining();
                            let limit = this.layer.verifier.body_limit_bytes();
                            if have.saturating_add(n) > limit {
                                Err(SignatureError::PayloadTooLarge)
                            } else {
                                if this.first.is_none() && this.rest.is_empty() {
                                    let first = data.copy_to_bytes(n);
                                    if let Some(h) = this.hasher.as_mut() {
                                        h.update(&first);
                                    }
                                    *this.first = Some(first);
                                } else {
                                    if let Some(first) = this.first.take() {
                                        this.rest.reserve(first.len() + n);
                                        this.rest.put(first);
                                    }
                                    let from = this.rest.len();
                                    this.rest.put(&mut data);
                                    if let Some(h) = this.hasher.as_mut() {
                                        h.update(this.rest.get(from..).unwrap_or_default());
                                    }
                                }
                                Ok(())
                            }
                        } else {
                            Ok(())
                        }
                    }
                    Some(Err(_)) => Err(SignatureError::Body),
                    None => {
                        let bytes = match this.first.take() {
                            Some(b) => b,
                            None => std::mem::take(this.rest).freeze(),
                        };
                        match (this.parts.take(), this.head.take()) {
                            (Some(parts), Some(head)) => {
                                let verifier = &this.layer.verifier;
                                let digest = this.hasher.take().map(|h| h.finalize().into());
                                match verifier.finish_hashed(
                                    &head,
                                    &parts.method,
                                    super::service::sent_uri(&parts),
                                    &parts.headers,
                                    bytes.len(),
                                    digest,
                                ) {
                                    Err(e) => {
                                        *this.rejected = Some((
                                            RejectionContext::from_headers(
                                                &parts.headers,
                                                *this.now,
                                            ),
                                            e,
                                        ));
                                        this.state.set(State::Done);
                                        continue;
                                    }
                                    Ok(verified) => {
                                        let mut req = Request::from_parts(parts, B::from(bytes));
                                        req.extensions_mut().insert(verified.principal());
                                        match &this.layer.replay {
                                            Some(store) => {
                                                let fut = store.insert_if_absent(
                                                    &verified.replay_key(),
                                                    verified.replay_ttl,
                                                );
                                                *this.rejected = Some((
                                                    RejectionContext::from_headers(
                                                        req.headers(),
                                                        *this.now,
                                                    ),
                                                    SignatureError::Replayed,
                                                ));
                                                *this.forward = Some(req);
                                                this.state.set(State::Replay { fut });
                                            }
                                            None => match this.inner.take() {
                                                Some(mut inner) => {
                                                    let fut = inner.call(req);
                                                    this.state.set(State::Inner { fut });
                                                }
                                                None => panic!(
                                                    "SignatureFuture polled after completion"
                                                ),
                                            },
                                        }
                                        Ok(())
                                    }
                                }
                            }
                            _ => panic!("SignatureFuture polled after completion"),
                        }
                    }
                },
            };
            if let Err(err) = outcome {
                // Keep the context computed while the request head was at hand, if any.
                let rcx = match (this.rejected.take(), this.parts.as_ref()) {
                    (Some((rcx, _)), _) => rcx,
                    (None, Some(parts)) => {
                        RejectionContext::from_headers(&parts.headers, *this.now)
                    }
                    (None, None) => RejectionContext::from_headers(&HeaderMap::new(), *this.now),
                };
                *this.rejected = Some((rcx, err));
                this.state.set(State::Done);
            }
        }
    }
}
