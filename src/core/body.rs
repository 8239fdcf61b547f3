//! The response bodies of tower-shield's services: [`ShieldBody`], and the choice a
//! layer offers between it and the inner service's own body ([`BodyMode`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// Either the inner service's body, or a small body a layer wrote itself
    /// (a rejection, an interstitial page).
    ///
    /// Implements [`http_body::Body`] whenever the inner body does, so hyper serves it
    /// as is and the inner body passes through untouched, inside it. axum accepts it too,
    /// in a box of its own per response (it boxes every body but its `Body`), which is why
    /// the layers answer in the inner body ([`InnerBody`]) by default and use this only
    /// when asked (`wrapped_body()`).
    // pin-project-lite takes no doc comments on variant fields.
    #[allow(missing_docs)]
    #[project = ShieldBodyProj]
    pub enum ShieldBody<B> {
        /// The inner service's body.
        Inner {
            #[pin]
            body: B,
        },
        /// A complete body owned by tower-shield. Boxed: a response that carries one
        /// is a refusal or a page, rare next to the responses that pass through, and
        /// the box keeps `ShieldBody<axum::body::Body>` as small as axum's `Body` (16
        /// bytes, the variants packed into its pointer's niche), so every response moves
        /// through the layers and axum's mapping with plain register moves instead of a
        /// `memcpy` call.
        Full {
            data: Option<Box<Bytes>>,
        },
    }
}

impl<B> ShieldBody<B> {
    /// Wraps the inner service's body.
    pub fn inner(body: B) -> Self {
        Self::Inner { body }
    }

    /// A complete body.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self::Full {
            data: (!data.is_empty()).then(|| Box::new(data)),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Full { data: None }
    }
}

/// How a layer types its responses' bodies: [`InnerBody`], the default, or
/// [`WrappedBody`] (`wrapped_body()` on a layer). Sealed: these two are the modes.
///
/// A layer that can answer by itself (a 429, a 401) has two bodies to send: the inner
/// service's and its own. [`WrappedBody`] sends [`ShieldBody<B>`], which works over any
/// inner body. [`InnerBody`] sends the inner service's own `B`, building its own answers
/// with `B::from(Bytes)`, the way tower-governor builds its refusals in the app's
/// response type (`From<GovernorError>`) and tower-http's `ValidateRequestHeader` in its
/// body type (`Default`). Under axum's `Router::layer`, with `B` axum's `Body`, that
/// spares a box on every response: axum boxes every body that is not its `Body`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot answer in the body type `{B}`",
    note = "`InnerBody` needs a body the layer can build its own answers in: \
            `From<bytes::Bytes> + Default` (axum's `Body`, `Full<Bytes>`); \
            call `.wrapped_body()` on the layer to answer in `ShieldBody<{B}>`, for any body"
)]
pub trait BodyMode<B>: sealed::Sealed {
    /// The body of the layer's responses.
    type Body;

    /// The inner service's response, passed through.
    fn from_inner(res: Response<B>) -> Response<Self::Body>;

    /// A response the layer built (or the inner one, already wrapped).
    fn from_shield(res: Response<ShieldBody<B>>) -> Response<Self::Body>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::WrappedBody {}
    impl Sealed for super::InnerBody {}
}

/// Responses carry [`ShieldBody<B>`]: any inner body works (`wrapped_body()` on a layer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WrappedBody;

/// Responses carry the inner service's own body `B`; the layer's own answers are
/// `B::from(bytes)` (`B::default()` when empty). With `B` axum's `Body`, axum takes the
/// response as it is instead of boxing its body. The default of every layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InnerBody;

impl<B> BodyMode<B> for WrappedBody {
    type Body = ShieldBody<B>;

    #[inline]
    fn from_inner(res: Response<B>) -> Response<ShieldBody<B>> {
        res.map(ShieldBody::inner)
    }

    #[inline]
    fn from_shield(res: Response<ShieldBody<B>>) -> Response<ShieldBody<B>> {
        res
    }
}

impl<B: From<Bytes> + Default> BodyMode<B> for InnerBody {
    type Body = B;

    #[inline]
    fn from_inner(res: Response<B>) -> Response<B> {
        res
    }

    #[inline]
    fn from_shield(res: Response<ShieldBody<B>>) -> Response<B> {
        res.map(|body| match body {
            ShieldBody::Inner { body } => body,
            ShieldBody::Full { data } => data.map_or_else(B::default, |d| B::from(*d)),
        })
    }
}

#[cfg(feature = "axum")]
impl ShieldBody<axum::body::Body> {
    /// This body as axum's [`Body`](axum::body::Body): the inner body as it is, a body
    /// tower-shield wrote as a full one.
    ///
    /// axum boxes every layer's response body unless it already is its `Body`; mapping a
    /// tower-shield layer's responses with this (tower-http's `MapResponseBodyLayer`)
    /// spares that allocation and the dynamic calls on every request. The layers do the
    /// same by default ([`InnerBody`]) without the extra service level; this is for
    /// layers asked for `wrapped_body()`, and for bodies already wrapped:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::body::Body;
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use tower_http::map_response_body::MapResponseBodyLayer;
    /// use tower_shield::core::ShieldBody;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Stands for a tower-shield layer's service: `Response<ShieldBody<Body>>`.
    /// let shielded = service_fn(|_req: Request<Body>| async {
    ///     Ok::<_, Infallible>(Response::new(ShieldBody::full("refused")))
    /// });
    /// // `Router::layer(ServiceBuilder::new().layer(MapResponseBodyLayer::new(..)).layer(shield))`
    /// // in an app; here the mapped service alone.
    /// let svc = ServiceBuilder::new()
    ///     .layer(MapResponseBodyLayer::new(ShieldBody::into_axum))
    ///     .service(shielded);
    /// let res: Response<Body> = svc.oneshot(Request::new(Body::empty())).await.unwrap();
    /// let bytes = axum::body::to_bytes(res.into_body(), 64).await.unwrap();
    /// assert_eq!(&bytes[..], b"refused");
    /// # }
    /// ```
    pub fn into_axum(self) -> axum::body::Body {
        match self {
            ShieldBody::Inner { body } => body,
            ShieldBody::Full { data } => {
                data.map_or_else(axum::body::Body::empty, |d| axum::body::Body::from(*d))
            }
        }
    }
}

impl<B> Default for ShieldBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

/// A full body: so a layer in [`InnerBody`] mode can answer over a layer that answers in
/// `ShieldBody` (its refusals become this layer's full bodies, no nesting).
impl<B> From<Bytes> for ShieldBody<B> {
    fn from(data: Bytes) -> Self {
        Self::full(data)
    }
}

impl<B> Body for ShieldBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            ShieldBodyProj::Inner { body } => body.poll_frame(cx),
            ShieldBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(*d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Full { data } => {
                SizeHint::with_exact(data.as_deref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::*;

    #[test]
    fn a_shield_body_around_axums_is_no_bigger_than_axums() {
        // What lets a `Response<ShieldBody<Body>>` move without a `memcpy` call (see
        // `ShieldBody::Full`).
        use axum::body::Body as AxumBody;
        assert_eq!(
            std::mem::size_of::<ShieldBody<AxumBody>>(),
            std::mem::size_of::<AxumBody>()
        );
        assert_eq!(
            std::mem::size_of::<http::Response<ShieldBody<AxumBody>>>(),
            std::mem::size_of::<http::Response<AxumBody>>()
        );
    }
}
