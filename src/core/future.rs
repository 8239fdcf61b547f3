//! The named future of layers that decide synchronously.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::core::body::ShieldBody;

pin_project! {
    /// Either the inner service's response future (its body wrapped in [`ShieldBody`]),
    /// or a response the layer already decided (a rejection). No box, no allocation.
    // pin-project-lite takes no doc comments on variant fields.
    #[allow(missing_docs)]
    #[project = ResponseFutureProj]
    pub enum ResponseFuture<F, B> {
        /// Waiting on the inner service.
        Inner {
            #[pin]
            future: F,
        },
        /// Answering without the inner service.
        Ready {
            response: Option<Response<ShieldBody<B>>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    /// Wraps the inner service's future.
    pub fn inner(future: F) -> Self {
        Self::Inner { future }
    }

    /// Answers with `response`.
    pub fn ready(response: Response<ShieldBody<B>>) -> Self {
        Self::Ready {
            response: Some(response),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ShieldBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(ShieldBody::inner)))
            }
            ResponseFutureProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
