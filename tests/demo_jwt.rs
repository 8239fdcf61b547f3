//! The demo's JWT key ring (issue 18, item 7) through the app `main` serves (`app::build`)
//! on a real socket: the RS256 key generated on first start and reused on the next, a
//! `[[jwt.keys]]` ring rotated and pruned, the environment override, config errors that
//! name their field, PyJWT verifying a demo token against the demo's JWKS, and the banner
//! of the real binary.

#[path = "../examples/demo/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/demo/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "common/demo_app.rs"]
mod demo_app;
#[path = "common/demo_process.rs"]
mod demo_process;
#[path = "../examples/demo/seeds/mod.rs"]
#[allow(dead_code)]
mod seeds;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tower_shield::auth::{KeySource, KeySourceError};
use tower_shield::core::Secret;

use crate::config::{Config, GENERATED_JWT_KEY_FILE};
use crate::seeds::jwt_keys::{self, KeyOrigin};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intel/jwt");
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pyjwt_peer.py");
const API_KEY: &str = "tsk_demo_key";

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tower_shield_demo_jwt_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn data(file: &str) -> String {
    format!("{DATA}/{file}")
}

/// One start of the demo on `dir` (its data directory): where it listens, and the banner
/// line about its JWT key.
async fn start(toml: &str, dir: &Path) -> (SocketAddr, String) {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut cfg = Config::parse(toml).unwrap();
    cfg.database.data_dir = dir.to_owned();
    let db = dir.join(format!("demo-{}.db", N.fetch_add(1, Ordering::Relaxed)));
    cfg.database.url = Some(format!("sqlite://{}?mode=rwc", db.display()));
    let built = app::build(&cfg).await.unwrap();
    (demo_app::serve_router(built.router).await, built.jwt_key)
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// A token for the demo API key, and the kid the response names.
async fn token(addr: SocketAddr) -> (String, String) {
    let (st, _, body) = call(addr, "POST", "/api/jwt/token", &[("x-api-key", API_KEY)]).await;
    assert_eq!(st, 200, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["kid"].as_str().unwrap().to_owned(),
    )
}

async fn me(addr: SocketAddr, token: &str) -> (u16, http::HeaderMap, Value) {
    let bearer = format!("Bearer {token}");
    call(addr, "GET", "/api/jwt/me", &[("authorization", &bearer)]).await
}

async fn jwks(addr: SocketAddr) -> (Value, Vec<String>) {
    let (st, _, body) = call(addr, "GET", "/.well-known/jwks.json", &[]).await;
    assert_eq!(st, 200);
    let mut kids: Vec<String> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    (body, kids)
}

fn header_kid(token: &str) -> String {
    use base64::Engine;
    let h = token.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h["alg"], "RS256", "{h}");
    h["kid"].as_str().unwrap().to_owned()
}

/// The banner line names the key and where it came from, never its material.
fn assert_no_key_material(banner: &str, pem: &str) {
    assert!(!banner.contains("PRIVATE"), "{banner}");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        for chunk in line.as_bytes().chunks(16).filter(|c| c.len() == 16) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            assert!(!banner.contains(chunk), "key material in {banner:?}");
        }
    }
}

#[tokio::test]
async fn first_start_generates_the_key_and_the_next_reuses_it() {
    let dir = TempDir::new("generate");
    let (a, banner) = start("", &dir.0).await;
    let file = dir.0.join(GENERATED_JWT_KEY_FILE);
    assert!(banner.contains("generated on this start"), "{banner}");
    assert!(banner.starts_with("RS256 key "), "{banner}");
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    assert_no_key_material(&banner, &pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    // Written through a temporary file that is gone again.
    let stray: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    let (t1, kid) = token(a).await;
    assert_eq!(header_kid(&t1), kid);
    assert!(banner.contains(&kid), "{banner}");
    let (st, _, body) = me(a, &t1).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["alg"].as_str(), body["kid"].as_str()),
        (Some("RS256"), Some(&*kid))
    );
    let (doc, kids) = jwks(a).await;
    assert_eq!(kids, std::slice::from_ref(&kid));
    assert_eq!(doc["keys"][0]["kty"], "RSA");
    assert!(doc["keys"][0].get("d").is_none(), "public halves only");

    // A restart on the same data directory: the same key, so the old token still verifies.
    let (b, banner) = start("", &dir.0).await;
    assert!(banner.contains("generated on an earlier start"), "{banner}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        pem,
        "not rewritten"
    );
    let (t2, kid2) = token(b).await;
    assert_eq!(kid2, kid);
    assert_eq!(me(b, &t1).await.0, 200);
    assert_eq!(me(b, &t2).await.0, 200);
}

#[test]
fn starts_racing_on_one_data_directory_agree_on_one_key() {
    let dir = TempDir::new("race");
    let cfg = config::JwtToml::default();
    let kids: Vec<(String, KeyOrigin)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let k = jwt_keys::load_with(&cfg, &dir.0, &NoEnv).unwrap();
                    (k.signer.active_kid(), k.origin)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let on_disk = jwt_keys::load_with(&cfg, &dir.0, &NoEnv).unwrap();
    for (kid, _) in &kids {
        assert_eq!(kid, &on_disk.signer.active_kid());
    }
    let generated = kids
        .iter()
        .filter(|(_, o)| matches!(o, KeyOrigin::Generated(_)))
        .count();
    assert_eq!(generated, 1, "{kids:?}");
}

#[tokio::test]
async fn a_ring_rotates_and_a_removed_key_stops_verifying() {
    let dir = TempDir::new("ring");
    let old = format!(
        "[[jwt.keys]]\nkid = \"2026-01\"\npem_file = \"{}\"\n",
        data("rsa1.pem")
    );
    let new_active = format!(
        "[[jwt.keys]]\nkid = \"2026-06\"\npem_file = \"{}\"\nactive = true\n",
        data("rsa2.pem")
    );

    // Before the rotation: the old key is the active one.
    let (a, banner) = start(&format!("{old}active = true\n"), &dir.0).await;
    assert!(banner.contains("config [[jwt.keys]] file"), "{banner}");
    let (t_old, kid) = token(a).await;
    assert_eq!(
        (kid.as_str(), header_kid(&t_old).as_str()),
        ("2026-01", "2026-01")
    );
    assert!(
        !dir.0.join(GENERATED_JWT_KEY_FILE).exists(),
        "no key generated when the config gives one"
    );

    // The rotation: a new active key, the old one kept.
    let (b, banner) = start(&format!("{old}{new_active}"), &dir.0).await;
    assert!(
        banner.contains("RS256 key 2026-06")
            && banner.contains("older keys still verifying: 2026-01"),
        "{banner}"
    );
    assert_no_key_material(&banner, &std::fs::read_to_string(data("rsa1.pem")).unwrap());
    let (st, _, body) = me(b, &t_old).await;
    assert_eq!((st, body["kid"].as_str()), (200, Some("2026-01")), "{body}");
    let (t_new, kid) = token(b).await;
    assert_eq!(
        (kid.as_str(), header_kid(&t_new).as_str()),
        ("2026-06", "2026-06")
    );
    assert_eq!(me(b, &t_new).await.0, 200);
    assert_eq!(jwks(b).await.1, ["2026-01", "2026-06"]);

    // An older key given as its public half only verifies as well.
    let old_public = format!(
        "[[jwt.keys]]\nkid = \"2026-01\"\npem_file = \"{}\"\n",
        data("rsa1.pub.pem")
    );
    let (c, _) = start(&format!("{old_public}{new_active}"), &dir.0).await;
    assert_eq!(me(c, &t_old).await.0, 200);
    assert_eq!(jwks(c).await.1, ["2026-01", "2026-06"]);

    // The old key removed: its tokens fail in the seed's error shape; the new ones verify.
    let (d, banner) = start(&new_active, &dir.0).await;
    assert!(!banner.contains("older"), "{banner}");
    let (st, headers, body) = me(d, &t_old).await;
    assert_eq!(st, 401, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{headers:?}"
    );
    let err = &body["error"];
    assert_eq!(err["code"], "INVALID_TOKEN", "{body}");
    for field in ["message", "timestamp", "requestId"] {
        assert!(err[field].is_string(), "{field} in {body}");
    }
    assert_eq!(me(d, &t_new).await.0, 200);
    assert_eq!(jwks(d).await.1, ["2026-06"]);
}

/// An environment with no override.
struct NoEnv;

impl KeySource for NoEnv {
    fn private_key_pem(&self, _: &str, key: &str) -> Result<Secret, KeySourceError> {
        Err(KeySourceError::NotFound(key.into()))
    }
}

/// `TOWER_SHIELD_JWT_BASE_SIGNING_KEY` set to a PEM.
struct Env(Vec<u8>);

impl KeySource for Env {
    fn private_key_pem(&self, ring: &str, key: &str) -> Result<Secret, KeySourceError> {
        assert_eq!((ring, key), ("jwt", "base-signing-key"));
        Ok(Secret::new(self.0.clone()))
    }
}

#[test]
fn the_environment_variable_overrides_and_the_ring_stays() {
    let dir = TempDir::new("env");
    let env = Env(std::fs::read(data("rsa2.pem")).unwrap());
    // No ring configured: the variable's key signs, nothing is generated.
    let k = jwt_keys::load_with(&config::JwtToml::default(), &dir.0, &env).unwrap();
    assert_eq!(k.signer.active_kid(), "jwt/base-signing-key");
    assert_eq!(
        k.origin,
        KeyOrigin::Env("TOWER_SHIELD_JWT_BASE_SIGNING_KEY".into())
    );
    assert!(
        k.describe()
            .contains("env TOWER_SHIELD_JWT_BASE_SIGNING_KEY")
    );
    assert!(!dir.0.join(GENERATED_JWT_KEY_FILE).exists());
    // A ring configured: the variable's key signs, the configured keys still verify.
    let cfg = Config::parse(&format!(
        "[[jwt.keys]]\nkid = \"k1\"\npem_file = \"{}\"\nactive = true\n",
        data("rsa1.pem")
    ))
    .unwrap();
    let k = jwt_keys::load_with(&cfg.jwt, &dir.0, &env).unwrap();
    assert_eq!(k.signer.active_kid(), "jwt/base-signing-key");
    assert_eq!(k.older, ["k1"]);
    assert_eq!(k.signer.key_ring().snapshot().len(), 2);
    // A bad value is an error naming the variable, not a silent fallback.
    let err = jwt_keys::load_with(&config::JwtToml::default(), &dir.0, &Env(b"nope".to_vec()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TOWER_SHIELD_JWT_BASE_SIGNING_KEY"), "{err}");
}

#[test]
fn key_loading_errors_name_the_field() {
    let dir = TempDir::new("errors");
    let ed = std::fs::read_to_string(data("ed1.pem")).unwrap();
    for (toml, field) in [
        (
            "[[jwt.keys]]\nkid = \"a\"\npem_file = \"/nonexistent/a.pem\"\nactive = true"
                .to_owned(),
            "jwt.keys[0].pem_file",
        ),
        (
            "[[jwt.keys]]\nkid = \"a\"\npem = \"not a pem\"\nactive = true".to_owned(),
            "jwt.keys[0].pem",
        ),
        (
            format!(
                "[[jwt.keys]]\nkid = \"a\"\npem_file = \"{}\"\nactive = true",
                data("rsa1.pub.pem")
            ),
            "private key",
        ),
        (
            format!("[[jwt.keys]]\nkid = \"a\"\npem = '''{ed}'''\nactive = true"),
            "jwt.algorithm",
        ),
        (
            format!(
                "[[jwt.keys]]\nkid = \"a\"\npem_file = \"{}\"\nactive = true\n[[jwt.keys]]\nkid = \"b\"\npem = \"junk\"",
                data("rsa1.pem")
            ),
            "jwt.keys[1].pem",
        ),
    ] {
        let cfg = Config::parse(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
        let err = jwt_keys::load_with(&cfg.jwt, &dir.0, &NoEnv)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{toml:?}: {err}");
        assert!(!err.contains("PRIVATE KEY-----\n"), "{err}");
    }
    // An EdDSA ring is fine once the algorithm says so.
    let cfg = Config::parse(&format!(
        "[jwt]\nalgorithm = \"EdDSA\"\n[[jwt.keys]]\nkid = \"a\"\npem = '''{ed}'''\nactive = true"
    ))
    .unwrap();
    jwt_keys::load_with(&cfg.jwt, &dir.0, &NoEnv).unwrap();
    // A generated key of another algorithm than configured is an error naming both.
    let cfg = Config::parse("[jwt]\nalgorithm = \"EdDSA\"").unwrap();
    let k = jwt_keys::load_with(&cfg.jwt, &dir.0, &NoEnv).unwrap();
    assert!(k.describe().starts_with("EdDSA key "), "{}", k.describe());
    let err = jwt_keys::load_with(&config::JwtToml::default(), &dir.0, &NoEnv)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(GENERATED_JWT_KEY_FILE) && err.contains("jwt.algorithm"),
        "{err}"
    );
}

#[tokio::test]
async fn pyjwt_verifies_a_demo_token_against_the_demo_jwks() {
    let dir = TempDir::new("pyjwt");
    let (a, _) = start("", &dir.0).await;
    let (t, _) = token(a).await;
    let (doc, _) = jwks(a).await;
    let out = Command::new("python3")
        .args([PEER, "verify", &doc.to_string(), &t, "engineering11-demo"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 not runnable ({e}): install Python 3 and `pip install pyjwt cryptography`"
            )
        });
    assert!(
        out.status.success(),
        "the PyJWT peer failed (is it installed? `pip install pyjwt cryptography`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["scope"], "verify", "{claims}");
}

#[test]
fn the_binary_banner_says_where_the_key_came_from() {
    let demo = demo_process::start("tower_shield_demo_jwt_banner", "");
    let line = demo
        .banner
        .iter()
        .find(|l| l.contains("JWT key"))
        .unwrap_or_else(|| panic!("no JWT line in {:?}", demo.banner));
    let file = demo.dir.join(GENERATED_JWT_KEY_FILE);
    assert!(
        line.contains("generated on this start into") && line.contains(&*file.to_string_lossy()),
        "{line}"
    );
    let pem = std::fs::read_to_string(&file).unwrap();
    assert_no_key_material(&demo.banner.join("\n"), &pem);
}
