//! The Engineering11 key ring from `[jwt]`: which key signs, which older keys still
//! verify, and where the signing key came from.
//!
//! * `[[jwt.keys]]` given: the entry with `active = true` signs; every other entry is
//!   published in `/.well-known/jwks.json` and verifies the tokens it signed until it is
//!   removed from the config.
//! * none given: the key in `{database.data_dir}/jwt-signing-key.pem`, generated there on
//!   first start (RSA-2048 for RS256, the seed's algorithm; or Ed25519), written
//!   atomically with mode 0600 and reused on every later start.
//! * `TOWER_SHIELD_JWT_BASE_SIGNING_KEY` set (the seed's key ring `jwt`, key
//!   `base-signing-key`, a PEM): it signs, kid `jwt/base-signing-key`; the configured keys
//!   all stay in the ring as older keys.
//!
//! Nothing here ever prints or logs key material: [`JwtKeys::describe`] names the key's
//! id, algorithm and origin only.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use tower_shield::auth::{
    DEFAULT_KEY_RING, DEFAULT_SIGNING_KEY, EnvKeySource, JwtSigner, KeySource, KeySourceError,
    SigningKey, VerifyingKey,
};

use crate::config::{ConfigProblem, GENERATED_JWT_KEY_FILE, JwtToml};

/// Largest PEM file read.
const MAX_PEM_BYTES: u64 = 64 * 1024;

/// Where the signing key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Generated on this start and written to the path.
    Generated(PathBuf),
    /// Generated on an earlier start; read back from the path.
    Reused(PathBuf),
    /// The active `[[jwt.keys]]` entry: its `pem_file`, or `None` for an inline `pem`.
    Config(Option<PathBuf>),
    /// The environment variable named.
    Env(String),
}

impl KeyOrigin {
    /// One word for logs: `generated`, `file` (the generated key read back), `config` or `env`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Generated(_) => "generated",
            Self::Reused(_) => "file",
            Self::Config(_) => "config",
            Self::Env(_) => "env",
        }
    }
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generated(p) => write!(f, "generated on this start into {}", p.display()),
            Self::Reused(p) => write!(f, "file {} (generated on an earlier start)", p.display()),
            Self::Config(Some(p)) => write!(f, "config [[jwt.keys]] file {}", p.display()),
            Self::Config(None) => f.write_str("config [[jwt.keys]] inline pem"),
            Self::Env(var) => write!(f, "env {var}"),
        }
    }
}

/// The signer over the ring, and what the banner says about it.
#[derive(Clone, Debug)]
pub struct JwtKeys {
    /// Signs with the active key; its ring holds the older keys too.
    pub signer: JwtSigner,
    /// Where the active key came from.
    pub origin: KeyOrigin,
    /// The kids of the keys that only verify.
    pub older: Vec<String>,
}

impl JwtKeys {
    /// `RS256 key <kid>, <origin>[; older keys still verifying: a, b]` (never key material).
    pub fn describe(&self) -> String {
        let active = self.signer.active_kid();
        let alg = self
            .signer
            .key_ring()
            .snapshot()
            .get(&active)
            .map(|k| k.algorithm().as_str())
            .unwrap_or("?");
        let mut s = format!("{alg} key {active}, {}", self.origin);
        if !self.older.is_empty() {
            s.push_str("; older keys still verifying: ");
            s.push_str(&self.older.join(", "));
        }
        s
    }
}

/// The ring for `[jwt]`, with the generated key (if any) kept in `data_dir` and the
/// environment variable read from the process environment.
pub fn load(cfg: &JwtToml, data_dir: &Path) -> Result<JwtKeys, ConfigProblem> {
    load_with(cfg, data_dir, &EnvKeySource::default())
}

/// [`load`] with the override read from `env` (tests pass their own source).
pub fn load_with(
    cfg: &JwtToml,
    data_dir: &Path,
    env: &dyn KeySource,
) -> Result<JwtKeys, ConfigProblem> {
    cfg.check()?;
    let mut active: Option<(SigningKey, KeyOrigin)> = None;
    let mut older: Vec<VerifyingKey> = Vec::new();
    for (i, k) in cfg.keys.iter().enumerate() {
        let (pem, field, origin) = match (&k.pem_file, &k.pem) {
            (Some(path), _) => (
                read_pem(path).map_err(|e| {
                    ConfigProblem(format!("jwt.keys[{i}].pem_file: {}: {e}", path.display()))
                })?,
                "pem_file",
                KeyOrigin::Config(Some(path.clone())),
            ),
            (None, Some(pem)) => (
                Wiped(pem.as_bytes().to_vec()),
                "pem",
                KeyOrigin::Config(None),
            ),
            (None, None) => unreachable!("checked"),
        };
        if k.active {
            let key = SigningKey::from_pem(&k.kid, &pem.0).map_err(|e| {
                ConfigProblem(format!(
                    "jwt.keys[{i}].{field}: {e} (the active key needs its private key)"
                ))
            })?;
            if key.algorithm().as_str() != cfg.algorithm {
                return Err(ConfigProblem(format!(
                    "jwt.keys[{i}].{field}: an {} key, but jwt.algorithm is {:?}",
                    key.algorithm(),
                    cfg.algorithm
                )));
            }
            active = Some((key, origin));
        } else {
            let key = verifying_from_pem(&k.kid, &pem.0).ok_or_else(|| {
                ConfigProblem(format!(
                    "jwt.keys[{i}].{field}: not an RSA, P-256 or Ed25519 private or public key PEM"
                ))
            })?;
            older.push(key);
        }
    }
    match env.private_key_pem(DEFAULT_KEY_RING, DEFAULT_SIGNING_KEY) {
        Ok(pem) => {
            let var = EnvKeySource::default().var_name(DEFAULT_KEY_RING, DEFAULT_SIGNING_KEY);
            let key = SigningKey::from_pem(
                &format!("{DEFAULT_KEY_RING}/{DEFAULT_SIGNING_KEY}"),
                pem.expose(),
            )
            .map_err(|e| ConfigProblem(format!("{var}: {e}")))?;
            if let Some((configured, _)) = active.take() {
                older.push(configured.verifying_key().clone());
            }
            active = Some((key, KeyOrigin::Env(var)));
        }
        Err(KeySourceError::NotFound(_)) => {}
        Err(e) => return Err(ConfigProblem(format!("jwt signing key: {e}"))),
    }
    let (key, origin) = match active {
        Some(a) => a,
        None => load_or_generate(&data_dir.join(GENERATED_JWT_KEY_FILE), &cfg.algorithm)?,
    };
    let signer = JwtSigner::new(key)
        .and_then(|s| s.ttl(std::time::Duration::from_secs(cfg.ttl_secs)))
        .map_err(|e| ConfigProblem(format!("jwt: {e}")))?
        .audience(super::engineering11::AUDIENCE);
    let ring = signer.key_ring();
    let mut kids = Vec::with_capacity(older.len());
    for k in older {
        let kid = k.kid().to_owned();
        ring.insert(k)
            .map_err(|e| ConfigProblem(format!("jwt.keys: {kid:?}: {e}")))?;
        kids.push(kid);
    }
    Ok(JwtKeys {
        signer,
        origin,
        older: kids,
    })
}

/// PEM bytes overwritten when dropped: best effort (the parsed key keeps its own copy
/// inside the library), so the text of a private key does not linger in freed memory.
struct Wiped(Vec<u8>);

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

fn read_pem(path: &Path) -> std::io::Result<Wiped> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_PEM_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(std::io::Error::other("larger than 64 KiB"));
    }
    Ok(Wiped(buf))
}

/// A verify-only key from a private or public key PEM.
fn verifying_from_pem(kid: &str, pem: &[u8]) -> Option<VerifyingKey> {
    if let Ok(k) = SigningKey::from_pem(kid, pem) {
        return Some(k.verifying_key().clone());
    }
    VerifyingKey::rsa_pem(kid, pem)
        .or_else(|_| VerifyingKey::ec_pem(kid, pem))
        .or_else(|_| VerifyingKey::ed_pem(kid, pem))
        .ok()
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: the generated key's
/// kid, the same on every start because it is computed from the key itself.
pub fn thumbprint(key: &VerifyingKey) -> Option<String> {
    use sha2::Digest;
    let jwk = key.to_jwk()?;
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    // Members in lexicographic order, no whitespace; the values are base64url or fixed
    // names, so none needs escaping.
    let mut canon = String::from("{");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            canon.push(',');
        }
        canon.push_str(&format!("\"{m}\":\"{}\"", jwk.get(*m)?.as_str()?));
    }
    canon.push('}');
    Some(B64URL.encode(sha2::Sha256::digest(canon.as_bytes())))
}

/// A signing key whose kid is its thumbprint.
fn with_thumbprint_kid(pem: &[u8]) -> Result<SigningKey, String> {
    let probe = SigningKey::from_pem("probe", pem).map_err(|e| e.to_string())?;
    let kid = thumbprint(probe.verifying_key()).ok_or("no public key")?;
    SigningKey::from_pem(&kid, pem).map_err(|e| e.to_string())
}

/// Reads the generated key at `path`, or makes one there when there is none.
fn load_or_generate(
    path: &Path,
    algorithm: &str,
) -> Result<(SigningKey, KeyOrigin), ConfigProblem> {
    let problem = |what: String| ConfigProblem(format!("jwt: {}: {what}", path.display()));
    let from_file = |pem: &[u8], origin: KeyOrigin| -> Result<_, ConfigProblem> {
        let key = with_thumbprint_kid(pem).map_err(problem)?;
        if key.algorithm().as_str() != algorithm {
            return Err(problem(format!(
                "holds an {} key but jwt.algorithm is {algorithm:?} (set jwt.algorithm, or move the file away to generate a new key)",
                key.algorithm()
            )));
        }
        Ok((key, origin))
    };
    match read_pem(path) {
        Ok(pem) => {
            warn_if_readable_by_others(path);
            return from_file(&pem.0, KeyOrigin::Reused(path.to_owned()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(problem(e.to_string())),
    }
    let pem = generate_pem(algorithm).map_err(problem)?;
    match write_new(path, &pem.0) {
        Ok(true) => from_file(&pem.0, KeyOrigin::Generated(path.to_owned())),
        // Another process started from the same data directory got there first: use its key.
        Ok(false) => {
            let theirs = read_pem(path).map_err(|e| problem(e.to_string()))?;
            from_file(&theirs.0, KeyOrigin::Reused(path.to_owned()))
        }
        Err(e) => Err(problem(e.to_string())),
    }
}

/// A fresh private key PEM (PKCS#8) for `algorithm`.
fn generate_pem(algorithm: &str) -> Result<Wiped, String> {
    match algorithm {
        "RS256" => {
            use rsa::pkcs8::{EncodePrivateKey, LineEnding};
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| format!("RSA key generation: {e}"))?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| format!("RSA key encoding: {e}"))?;
            Ok(Wiped(pem.as_bytes().to_vec()))
        }
        "EdDSA" => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
            // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410).
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend_from_slice(&seed);
            seed.fill(0);
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(&der)
            );
            der.fill(0);
            Ok(Wiped(pem.into_bytes()))
        }
        other => Err(format!("cannot generate a {other} key")),
    }
}

/// Writes `bytes` to `path` unless it exists: a temporary file (mode 0600) beside it,
/// synced, then hard-linked into place, so a reader never sees half a key and two
/// processes racing on one data directory never overwrite each other (where the file
/// system has no hard links, `path` is created exclusively and written). `false` when
/// `path` already existed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(
        ".{GENERATED_JWT_KEY_FILE}.{}.{}.tmp",
        std::process::id(),
        tower_shield::core::ct::encode_hex(&nonce)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let linked = match std::fs::hard_link(&tmp, path) {
        // A file system without hard links (some FUSE and network mounts, FAT): create the
        // file itself exclusively instead. Two racing processes still cannot overwrite
        // each other; a reader could see the key half-written, only on such a mount.
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            tracing::debug!(error = %e, "hard link refused; writing the key in place");
            opts.open(path).and_then(|mut f| {
                let written = f.write_all(bytes).and_then(|()| f.sync_all());
                if written.is_err() {
                    // This process created it: no half key stays for the next start.
                    let _ = std::fs::remove_file(path);
                }
                written
            })
        }
        other => other,
    };
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            // The new directory entry itself survives a crash.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", m.permissions().mode() & 0o777),
                "the JWT signing key is readable by other users: chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1: the example RSA key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = VerifyingKey::rsa_raw("x", &e.decode(n).unwrap(), &[1, 0, 1]).unwrap();
        assert_eq!(
            thumbprint(&key).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
