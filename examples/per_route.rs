//! Different protection per route in one axum app: the whole app under the `Shield`
//! (20 requests a second per client), plus
//!
//! * `/api/partner/...`: SigV4 signatures (Verus dialect) on that route group only;
//! * `/login`: its own stricter quota, 3 a minute per client;
//! * `/signup`: proof of work (the shield's `PowLayer`, protecting that path only).
//!
//! ```text
//! cargo run --example per_route                 # PORT=3000 by default
//! curl -i localhost:3000/                       # 200, no extra checks
//! curl -i localhost:3000/api/partner/orders     # 401 INVALID_SIGNATURE: sign with
//! #   Signer::new(Dialect::verus(), PARTNER_KEY, PARTNER_SECRET) (or a Verus client)
//! for i in 1 2 3 4; do curl -si -X POST localhost:3000/login | head -1; done
//! # the fourth: 429 RATE_LIMITED, while `curl localhost:3000/` still answers 200
//! curl -i -X POST localhost:3000/signup         # 401 CHALLENGE_REQUIRED + a `challenge`:
//! # find `nonce` (pow::solve), POST /.shield/pow/verify?challengeId=..&nonce=.., then
//! # send the `x-shield-pass` it returns as `X-Shield-Token` to /signup
//! ```

use std::net::SocketAddr;

use axum::{Extension, Router, routing::get, routing::post};
use tower_shield::Shield;
use tower_shield::core::{Principal, Quota};
use tower_shield::signature::{Dialect, SignatureLayer, StaticKeys, Verifier};

/// The partner's key id and secret (from your key store in a real app).
pub const PARTNER_KEY: &str = "alk_partner_0123456789";
/// The partner's secret.
pub const PARTNER_SECRET: &str = "als_partner_secret_0123456789abcdefghij";
/// The proof-of-work key (at least 32 bytes; the same on every instance of a fleet).
const POW_SECRET: &str = "per-route-example-pow-secret-of-32-bytes-or-more";

async fn orders(Extension(p): Extension<Principal>) -> String {
    format!("orders for {}\n", p.id)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shield = Shield::builder()
        .rate_limit(Quota::per_second(20).burst(40))
        // The PoW layer sits in the shield (so it also serves its own `/.shield/pow/verify`
        // endpoint) and demands work on `/signup` only.
        .pow_with(POW_SECRET, |l| {
            Ok(l.protect_paths(["/signup"])?.insecure_cookie())
        })
        .build()?;

    // Signatures on the partner group only: a `route_layer` on the nested router. The
    // client signs the full path it sends (`/api/partner/orders`).
    let verifier = Verifier::new(
        Dialect::verus(),
        StaticKeys::new().key(PARTNER_KEY, PARTNER_SECRET)?,
    );
    let partner = Router::new()
        .route("/orders", get(orders))
        .route_layer(SignatureLayer::new(verifier));

    // `/login` gets its own quota on the shield's store (a fleet shares it), with its
    // own counter prefix; the shield's 20/s applies too.
    let login = shield
        .rate_limit_layer(Quota::per_minute(3))
        .key_prefix("login")?;

    let app = Router::new()
        .route("/", get(|| async { "home\n" }))
        .route(
            "/login",
            post(|| async { "logged in\n" }).route_layer(login),
        )
        .route("/signup", post(|| async { "signed up\n" }))
        .nest("/api/partner", partner)
        .layer(shield);

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
