//! The named future of layers that decide synchronously.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::core::body::{BodyMode, InnerBody, ShieldBody};

pin_project! {
    /// Either the inner service's response future, or a response the layer already
    /// decided (a rejection). The future itself is no box and allocates nothing. The body
    /// is the layer's [`BodyMode`]'s: the inner `B` by default, [`ShieldBody<B>`] with
    /// `wrapped_body()`.
    pub struct ResponseFuture<F, B, M = InnerBody> {
        #[pin]
        state: State<F, B>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // Waiting on the inner service.
        Inner { #[pin] future: F },
        // Answering without the inner service.
        Ready { response: Option<Response<ShieldBody<B>>> },
    }
}

impl<F, B, M> ResponseFuture<F, B, M> {
    /// Wraps the inner service's future.
    pub fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
            mode: PhantomData,
        }
    }

    /// Answers with `response`.
    pub fn ready(response: Response<ShieldBody<B>>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
            mode: PhantomData,
        }
    }
}

impl<F, B, M, E> Future for ResponseFuture<F, B, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(M::from_inner(res)))
            }
            StateProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(M::from_shield(r))),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
