//! Combinators that let `Shield` hold optional layers without boxing and without
//! growing its response body type: every level answers `Response<ShieldBody<B>>`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
#[cfg(any(feature = "pow", feature = "ratelimit"))]
use tower_layer::Layer;
use tower_service::Service;

use crate::core::body::{ShieldBody, WrappedBody};
use crate::core::future::ResponseFuture;

/// `ShieldBody<ShieldBody<B>>` -> `ShieldBody<B>`, once per response (not per frame).
pub(crate) fn flatten<B>(res: Response<ShieldBody<ShieldBody<B>>>) -> Response<ShieldBody<B>> {
    res.map(|outer| match outer {
        ShieldBody::Inner { body } => body,
        ShieldBody::Full { data } => ShieldBody::Full { data },
    })
}

/// Wraps the app so it answers `ShieldBody<B>` like every layer above it.
#[derive(Clone, Debug)]
pub struct Lift<S>(pub(crate) S);

impl<S, Req, B> Service<Req> for Lift<S>
where
    S: Service<Req, Response = Response<B>>,
{
    type Response = Response<ShieldBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B, WrappedBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::inner(self.0.call(req))
    }
}

/// A layer that may be absent.
#[cfg(any(feature = "pow", feature = "ratelimit"))]
#[derive(Clone, Debug)]
pub(crate) struct OptLayer<L>(pub(crate) Option<L>);

#[cfg(any(feature = "pow", feature = "ratelimit"))]
impl<L: Layer<S>, S> Layer<S> for OptLayer<L> {
    type Service = Opt<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.0 {
            Some(l) => Opt::On(l.layer(inner)),
            None => Opt::Off(inner),
        }
    }
}

/// A service that is either a layer around `P` (`On`) or `P` itself (`Off`).
#[derive(Clone, Debug)]
pub enum Opt<A, P> {
    /// The layer is configured.
    On(A),
    /// It is not; requests go straight to the inner service.
    Off(P),
}

impl<A, P, Req, B, E> Service<Req> for Opt<A, P>
where
    A: Service<Req, Response = Response<ShieldBody<ShieldBody<B>>>, Error = E>,
    P: Service<Req, Response = Response<ShieldBody<B>>, Error = E>,
{
    type Response = Response<ShieldBody<B>>;
    type Error = E;
    type Future = OptFuture<A::Future, P::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        match self {
            Opt::On(a) => a.poll_ready(cx),
            Opt::Off(p) => p.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self {
            Opt::On(a) => OptFuture::On {
                future: a.call(req),
            },
            Opt::Off(p) => OptFuture::Off {
                future: p.call(req),
            },
        }
    }
}

pin_project! {
    /// The future of [`Opt`].
    #[allow(missing_docs)]
    #[project = OptFutureProj]
    pub enum OptFuture<FA, FP> {
        On { #[pin] future: FA },
        Off { #[pin] future: FP },
    }
}

impl<FA, FP, B, E> Future for OptFuture<FA, FP>
where
    FA: Future<Output = Result<Response<ShieldBody<ShieldBody<B>>>, E>>,
    FP: Future<Output = Result<Response<ShieldBody<B>>, E>>,
{
    type Output = Result<Response<ShieldBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            OptFutureProj::On { future } => Poll::Ready(ready!(future.poll(cx)).map(flatten)),
            OptFutureProj::Off { future } => future.poll(cx),
        }
    }
}
