//! [`Pow`]: the keys, bounds and store every proof-of-work decision shares, and the
//! synchronous steps of issue / verify / validate. The HTTP router and the inline layer
//! are thin shells around these.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::challenge::{
    self, ChallengeClaims, DecodeBuf, DecodeError, IpBinding, Keyring, MAX_DIFFICULTY,
    MAX_SITE_KEY_LEN, RandomSource, TokenClaims, TokenKind, TokenView, ms,
};
use super::risk::{self, Behavior, RiskConfig, RiskInput, RiskReport};
use super::site::Mode;
use crate::core::clock::{Clock, SharedClock, SystemClock};
use crate::core::ct::encode_hex;
use crate::core::error::ConfigError;
use crate::core::ext::ChallengeMark;
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::secret::Secret;
use crate::core::store::{MemorySingleUseStore, SingleUseStore};
use crate::core::verdict::Verdict;

/// The default difficulty, in leading zero bits (the middle of the seed's 14-18).
pub const DEFAULT_DIFFICULTY: u8 = 16;
/// The default lowest difficulty.
pub const DEFAULT_MIN_DIFFICULTY: u8 = 14;
/// The default cap on adaptive difficulty.
pub const DEFAULT_MAX_DIFFICULTY: u8 = 18;
/// How long a challenge may be solved (the seed's 5 minutes).
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// How long a token may be validated (the seed's 5 minutes).
pub const TOKEN_TTL: Duration = Duration::from_secs(300);
/// How much longer than its remaining lifetime a redeemed id stays in the single-use
/// store: covers clock skew between instances (and Redis), which could otherwise let an
/// instance with a slow clock accept an id the store has already forgotten.
pub const REDEEM_SKEW_MARGIN: Duration = Duration::from_secs(30);

type DifficultyFn = dyn Fn(&DifficultyContext<'_>, u8) -> u8 + Send + Sync;

/// What adaptive difficulty looks at.
#[derive(Clone, Copy, Debug)]
pub struct DifficultyContext<'a> {
    /// The site's (or layer's) base difficulty.
    pub base: u8,
    /// The challenge mark an earlier layer set, if any.
    pub mark: Option<&'a ChallengeMark>,
    /// The classifier's verdict, if `ClassifyLayer` ran.
    pub verdict: Option<&'a Verdict>,
    /// Challenges issued by this process in the current second (including this one).
    pub load_per_sec: u32,
}

/// The built-in adaptation: the mark's difficulty if higher; +2 for Tor, +2 for bots,
/// +1 for hosting networks, +1 for proxies or VPNs (at most +4 from the verdict); +1
/// when this second's challenges exceed `load_threshold`, +2 past four times it.
/// The caller clamps the result to the configured bounds.
pub fn adapt_difficulty(cx: &DifficultyContext<'_>, load_threshold: Option<u32>) -> u8 {
    let mut d = cx.base;
    if let Some(m) = cx.mark.and_then(|m| m.difficulty) {
        d = d.max(m);
    }
    if let Some(v) = cx.verdict {
        let f = v.flags;
        let bump = 2 * u8::from(f.tor)
            + 2 * u8::from(f.bot)
            + u8::from(f.hosting)
            + u8::from(f.proxy || f.vpn);
        d = d.saturating_add(bump.min(4));
    }
    if let Some(t) = load_threshold.filter(|t| *t > 0) {
        if cx.load_per_sec > t.saturating_mul(4) {
            d = d.saturating_add(2);
        } else if cx.load_per_sec > t {
            d = d.saturating_add(1);
        }
    }
    d
}

/// Counts events in the current second, lock-free: (second << 24) | count.
#[derive(Debug, Default)]
struct LoadMeter(AtomicU64);

impl LoadMeter {
    fn tick(&self, now: Duration) -> u32 {
        let sec = now.as_secs() & 0xff_ffff_ffff;
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (s, c) = (cur >> 24, cur & 0xff_ffff);
            let next = if s == sec {
                (sec << 24) | (c + 1).min(0xff_ffff)
            } else {
                (sec << 24) | 1
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (next & 0xff_ffff) as u32,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// A freshly issued challenge (the seed's `/api/challenge` response).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// The signed id, `ch_...`.
    pub challenge_id: String,
    /// What the client hashes the nonce after.
    pub prefix: String,
    /// Leading zero bits required.
    pub difficulty: u8,
    /// RFC 3339 UTC expiry.
    pub expires_at: String,
    /// `checkbox` or `invisible`.
    pub mode: Mode,
}

/// What a client submits with its nonce.
#[derive(Clone, Copy, Debug, Default)]
pub struct SolutionInfo {
    /// The solve time the client reports, ms.
    pub solve_time_ms: Option<u64>,
    /// Behavioural data.
    pub behavior: Option<Behavior>,
    /// Whether it sent a fingerprint.
    pub fingerprint: bool,
}

/// A minted token.
#[derive(Clone, Debug)]
pub struct Minted {
    /// The encoded `ect_` token or `esp_` pass.
    pub token: String,
    /// What it says.
    pub claims: TokenClaims,
    /// The risk report that let it through.
    pub risk: RiskReport,
}

pub(crate) struct Inner {
    pub(crate) ring: Keyring,
    pub(crate) clock: SharedClock,
    rng: RandomSource,
    pub(crate) min_difficulty: u8,
    pub(crate) max_difficulty: u8,
    pub(crate) default_difficulty: u8,
    load: LoadMeter,
    load_threshold: Option<u32>,
    difficulty_fn: Option<Arc<DifficultyFn>>,
    binding: Option<(u8, u8)>,
    pub(crate) risk: RiskConfig,
    challenge_ttl: Duration,
    token_ttl: Duration,
    store_prefix: Arc<str>,
}

/// The proof-of-work engine: keys, difficulty bounds, risk settings, the clock and the
/// single-use store. Cheap to clone (two `Arc`s); share one between the API router and
/// [`PowLayer`](super::PowLayer) so tokens from one are accepted by the other.
///
/// ```
/// use tower_shield::pow::Pow;
/// let pow = Pow::new("a secret of at least thirty-two bytes!!").unwrap();
/// let c = pow.issue("eck_live_demo", 16, None, None, None, tower_shield::pow::Mode::Checkbox);
/// assert!(c.challenge_id.starts_with("ch_"));
/// assert_eq!(c.difficulty, 16);
/// ```
pub struct Pow<U = MemorySingleUseStore> {
    pub(crate) inner: Arc<Inner>,
    pub(crate) store: Arc<U>,
}

impl<U> Clone for Pow<U> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            store: self.store.clone(),
        }
    }
}

impl<U> fmt::Debug for Pow<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pow")
            .field("keys", &self.inner.ring)
            .field("difficulty", &self.inner.default_difficulty)
            .field(
                "bounds",
                &(self.inner.min_difficulty..=self.inner.max_difficulty),
            )
            .field("binding", &self.inner.binding)
            .field("risk", &self.inner.risk)
            .finish_non_exhaustive()
    }
}

impl Pow {
    /// An engine with secure defaults, signing with `secret` (at least 32 bytes; key id 0),
    /// redeeming in a bounded in-memory single-use store.
    pub fn new(secret: impl Into<Secret>) -> Result<Self, ConfigError> {
        Ok(Self::builder().secret(secret)?.build())
    }

    /// A builder. Without [`PowBuilder::secret`] or [`PowBuilder::keyring`] it signs with
    /// a random per-process key.
    pub fn builder() -> PowBuilder {
        PowBuilder {
            ring: None,
            store: MemorySingleUseStore::new(),
            clock: Arc::new(SystemClock),
            min: DEFAULT_MIN_DIFFICULTY,
            max: DEFAULT_MAX_DIFFICULTY,
            default: DEFAULT_DIFFICULTY,
            load_threshold: Some(1_000),
            difficulty_fn: None,
            binding: Some((24, 56)),
            risk: RiskConfig::default(),
            challenge_ttl: CHALLENGE_TTL,
            token_ttl: TOKEN_TTL,
            store_prefix: "pow:".into(),
        }
    }
}

/// Builds a [`Pow`].
pub struct PowBuilder<U = MemorySingleUseStore> {
    ring: Option<Keyring>,
    store: U,
    clock: SharedClock,
    min: u8,
    max: u8,
    default: u8,
    load_threshold: Option<u32>,
    difficulty_fn: Option<Arc<DifficultyFn>>,
    binding: Option<(u8, u8)>,
    risk: RiskConfig,
    challenge_ttl: Duration,
    token_ttl: Duration,
    store_prefix: Arc<str>,
}

impl<U> fmt::Debug for PowBuilder<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowBuilder").finish_non_exhaustive()
    }
}

impl<U: SingleUseStore> PowBuilder<U> {
    /// Signs with `secret` (at least 32 bytes) under key id 0.
    pub fn secret(mut self, secret: impl Into<Secret>) -> Result<Self, ConfigError> {
        self.ring = Some(Keyring::new(0, &secret.into())?);
        Ok(self)
    }

    /// Signs and verifies with a [`Keyring`] (key rotation).
    pub fn keyring(mut self, ring: Keyring) -> Self {
        self.ring = Some(ring);
        self
    }

    /// Redeems challenges and tokens in `store` (e.g. a `RedisStore` for a fleet).
    pub fn store<U2: SingleUseStore>(self, store: U2) -> PowBuilder<U2> {
        PowBuilder {
            ring: self.ring,
            store,
            clock: self.clock,
            min: self.min,
            max: self.max,
            default: self.default,
            load_threshold: self.load_threshold,
            difficulty_fn: self.difficulty_fn,
            binding: self.binding,
            risk: self.risk,
            challenge_ttl: self.challenge_ttl,
            token_ttl: self.token_ttl,
            store_prefix: self.store_prefix,
        }
    }

    /// The clock (default: the system clock). Give the memory store the same clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Difficulty bounds and default (default 14, 18 and 16). `max` at most 32.
    pub fn difficulty(mut self, min: u8, default: u8, max: u8) -> Result<Self, ConfigError> {
        if !(min <= default && default <= max && max <= MAX_DIFFICULTY) {
            return Err(ConfigError::new(
                "pow.difficulty",
                "need min <= default <= max <= 32",
            ));
        }
        (self.min, self.default, self.max) = (min, default, max);
        Ok(self)
    }

    /// Raise difficulty when more than `per_second` challenges are issued in a second
    /// (default 1000); `None` turns load adaptation off.
    pub fn load_threshold(mut self, per_second: Option<u32>) -> Self {
        self.load_threshold = per_second;
        self
    }

    /// Your own adaptation, run after the built-in one (whose result it receives); the
    /// result is still clamped to the bounds.
    pub fn difficulty_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&DifficultyContext<'_>, u8) -> u8 + Send + Sync + 'static,
    {
        self.difficulty_fn = Some(Arc::new(f));
        self
    }

    /// Binds challenges and passes to the client's `/v4` and `/v6` network (default /24
    /// and /56).
    pub fn ip_binding(mut self, v4: u8, v6: u8) -> Result<Self, ConfigError> {
        if v4 > 32 || v6 > 128 {
            return Err(ConfigError::new("pow.ip_binding", "v4 <= 32 and v6 <= 128"));
        }
        self.binding = Some((v4, v6));
        Ok(self)
    }

    /// Turns IP binding off: a solved challenge or pass may be used from anywhere (a
    /// solving farm can hand them out).
    pub fn dangerous_no_ip_binding(mut self) -> Self {
        self.binding = None;
        self
    }

    /// Risk settings (threshold in 0.0..=1.0).
    pub fn risk(mut self, risk: RiskConfig) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&risk.threshold)
            || risk.max_hash_rate.is_nan()
            || risk.max_hash_rate <= 0.0
        {
            return Err(ConfigError::new(
                "pow.risk",
                "threshold in 0..=1, positive hash rate",
            ));
        }
        self.risk = risk;
        Ok(self)
    }

    /// Challenge and token lifetimes (default 5 minutes each; 1 s to 1 hour).
    pub fn ttls(mut self, challenge: Duration, token: Duration) -> Result<Self, ConfigError> {
        let ok = |d: Duration| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d);
        if !ok(challenge) || !ok(token) {
            return Err(ConfigError::new("pow.ttl", "between 1 s and 1 hour"));
        }
        self.challenge_ttl = challenge;
        self.token_ttl = token;
        Ok(self)
    }

    /// The prefix of single-use keys in the store (default `pow:`).
    pub fn store_prefix(mut self, prefix: &str) -> Self {
        self.store_prefix = prefix.into();
        self
    }

    /// The engine.
    pub fn build(self) -> Pow<U> {
        let ring = self.ring.unwrap_or_else(|| {
            tracing::warn!("pow: no secret configured, signing with a random per-process key");
            Keyring::random()
        });
        Pow {
            inner: Arc::new(Inner {
                ring,
                clock: self.clock,
                rng: RandomSource::new(),
                min_difficulty: self.min,
                max_difficulty: self.max,
                default_difficulty: self.default,
                load: LoadMeter::default(),
                load_threshold: self.load_threshold,
                difficulty_fn: self.difficulty_fn,
                binding: self.binding,
                risk: self.risk,
                challenge_ttl: self.challenge_ttl,
                token_ttl: self.token_ttl,
                store_prefix: self.store_prefix,
            }),
            store: Arc::new(self.store),
        }
    }
}

fn reject(kind: RejectionKind, msg: &'static str) -> Rejection {
    Rejection::new(kind, msg)
}

impl<U: SingleUseStore> Pow<U> {
    /// The engine's clock.
    pub fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    /// The single-use store.
    pub fn store(&self) -> &U {
        &self.store
    }

    /// The default difficulty.
    pub fn default_difficulty(&self) -> u8 {
        self.inner.default_difficulty
    }

    /// The difficulty for a request: built-in adaptation, then yours, clamped.
    pub fn difficulty_for(
        &self,
        base: u8,
        mark: Option<&ChallengeMark>,
        verdict: Option<&Verdict>,
    ) -> u8 {
        let i = &self.inner;
        let cx = DifficultyContext {
            base: base.clamp(i.min_difficulty, i.max_difficulty),
            mark,
            verdict,
            load_per_sec: i.load.tick(i.clock.now()),
        };
        let mut d = adapt_difficulty(&cx, i.load_threshold);
        if let Some(f) = &i.difficulty_fn {
            d = f(&cx, d);
        }
        d.clamp(i.min_difficulty, i.max_difficulty)
    }

    /// The binding for a client address, if binding is on.
    pub fn binding_for(&self, client: Option<IpAddr>) -> Option<IpBinding> {
        let (v4, v6) = self.inner.binding?;
        client.map(|ip| IpBinding::of(ip, v4, v6))
    }

    /// Issues a challenge for `site` at `base` difficulty adapted by `mark` and `verdict`,
    /// bound to `client`'s network. A client of unknown address gets an unbound challenge.
    pub fn issue(
        &self,
        site: &str,
        base: u8,
        client: Option<IpAddr>,
        mark: Option<&ChallengeMark>,
        verdict: Option<&Verdict>,
        mode: Mode,
    ) -> Challenge {
        let difficulty = self.difficulty_for(base, mark, verdict);
        self.issue_at(site, difficulty, client, mode, self.now())
    }

    /// Issues a challenge of exactly `difficulty` (clamped to 0..=32) at `now`: the pure step.
    pub fn issue_at(
        &self,
        site: &str,
        difficulty: u8,
        client: Option<IpAddr>,
        mode: Mode,
        now: Duration,
    ) -> Challenge {
        crate::core::metrics::pow(crate::core::metrics::PowEvent::Issued);
        let i = &self.inner;
        let expires = now.saturating_add(i.challenge_ttl);
        let claims = ChallengeClaims {
            kid: i.ring.current_id(),
            difficulty: difficulty.min(MAX_DIFFICULTY),
            issued_ms: ms(now),
            expires_ms: ms(expires),
            random: i.rng.next16(),
            binding: self.binding_for(client),
            site: truncate_site(site).to_owned(),
        };
        Challenge {
            challenge_id: challenge::encode_challenge(&i.ring, &claims),
            prefix: claims.prefix(),
            difficulty: claims.difficulty,
            expires_at: crate::core::reject::rfc3339(expires),
            mode,
        }
    }

    /// Checks a solution without redeeming it: the id is genuine, unexpired, for this
    /// client's network, and the nonce satisfies the work rule.
    pub fn check_solution(
        &self,
        challenge_id: &str,
        nonce: u64,
        client: Option<IpAddr>,
        now: Duration,
    ) -> Result<ChallengeClaims, Rejection> {
        let i = &self.inner;
        let c = challenge::decode_challenge(&i.ring, challenge_id).map_err(|e| match e {
            DecodeError::Malformed => reject(
                RejectionKind::InvalidSolution,
                "The challenge id is malformed",
            ),
            DecodeError::BadTag => reject(
                RejectionKind::InvalidSolution,
                "The challenge id is invalid",
            ),
        })?;
        if ms(now) >= c.expires_ms {
            return Err(reject(
                RejectionKind::ChallengeExpired,
                "The challenge has expired (5 min TTL)",
            ));
        }
        if let Some(b) = c.binding {
            let here = client.map(|ip| IpBinding::of(ip, b.len, b.len));
            if here != Some(b) {
                return Err(reject(
                    RejectionKind::InvalidSolution,
                    "The challenge was issued to a different network",
                ));
            }
        }
        if !challenge::work_ok(c.prefix().as_bytes(), nonce, c.difficulty) {
            return Err(reject(
                RejectionKind::InvalidSolution,
                "The PoW solution is incorrect",
            ));
        }
        Ok(c)
    }

    /// The single-use key and time to live that redeem a challenge.
    pub fn challenge_key(&self, c: &ChallengeClaims, now: Duration) -> (String, Duration) {
        let ttl = Duration::from_millis(c.expires_ms.saturating_sub(ms(now))) + REDEEM_SKEW_MARGIN;
        (
            format!("{}c:{}", self.inner.store_prefix, encode_hex(&c.random)),
            ttl,
        )
    }

    /// Redeems a checked challenge: `Ok(true)` the first time.
    pub fn redeem_challenge(&self, c: &ChallengeClaims, now: Duration) -> U::Future {
        let (key, ttl) = self.challenge_key(c, now);
        self.store.insert_if_absent(&key, ttl)
    }

    /// Scores a redeemed solution and mints its `ect_` token, or refuses with HIGH_RISK_SCORE.
    pub fn finish(
        &self,
        c: &ChallengeClaims,
        nonce: u64,
        info: &SolutionInfo,
        mode: Mode,
        now: Duration,
    ) -> Result<Minted, (Rejection, RiskReport)> {
        let i = &self.inner;
        let report = risk::score(
            &RiskInput {
                difficulty: c.difficulty,
                nonce,
                solve_time_ms: info.solve_time_ms,
                server_elapsed_ms: ms(now).saturating_sub(c.issued_ms),
                behavior: info.behavior,
                fingerprint: info.fingerprint,
                mode,
            },
            &i.risk,
        );
        if !report.passes(i.risk.threshold) {
            return Err((
                reject(
                    RejectionKind::HighRiskScore,
                    "Risk score exceeded threshold (0.7)",
                ),
                report,
            ));
        }
        let claims = TokenClaims {
            kind: TokenKind::Token,
            kid: i.ring.current_id(),
            issued_ms: ms(now),
            expires_ms: ms(now.saturating_add(i.token_ttl)),
            id: c.random,
            risk_milli: (report.score * 1000.0).round().clamp(0.0, 1000.0) as u16,
            solve_ms: u32::try_from(info.solve_time_ms.unwrap_or(0)).unwrap_or(u32::MAX),
            binding: None,
            site: c.site.clone(),
        };
        Ok(Minted {
            token: challenge::encode_token(&i.ring, &claims),
            claims,
            risk: report,
        })
    }

    /// Checks an `ect_` token without redeeming it: genuine, a token (not a pass), unexpired.
    pub fn check_token(&self, token: &str, now: Duration) -> Result<TokenClaims, Rejection> {
        let t = challenge::decode_token(&self.inner.ring, token)
            .map_err(|_| reject(RejectionKind::InvalidToken, "The token is invalid"))?;
        if t.kind != TokenKind::Token {
            return Err(reject(
                RejectionKind::InvalidToken,
                "Not a verification token",
            ));
        }
        if ms(now) >= t.expires_ms {
            return Err(reject(
                RejectionKind::TokenExpired,
                "The verification token has expired",
            ));
        }
        Ok(t)
    }

    /// Redeems a checked token: `Ok(true)` the first time.
    pub fn redeem_token(&self, t: &TokenClaims, now: Duration) -> U::Future {
        let ttl = Duration::from_millis(t.expires_ms.saturating_sub(ms(now))) + REDEEM_SKEW_MARGIN;
        let key = format!("{}t:{}", self.inner.store_prefix, encode_hex(&t.id));
        self.store.insert_if_absent(&key, ttl)
    }

    /// Mints a reusable `esp_` pass for `site`, bound to `client`'s network, valid `ttl`.
    pub fn mint_pass(
        &self,
        site: &str,
        client: Option<IpAddr>,
        ttl: Duration,
        now: Duration,
    ) -> (String, TokenClaims) {
        let i = &self.inner;
        let claims = TokenClaims {
            kind: TokenKind::Pass,
            kid: i.ring.current_id(),
            issued_ms: ms(now),
            expires_ms: ms(now.saturating_add(ttl)),
            id: i.rng.next16(),
            risk_milli: 0,
            solve_ms: 0,
            binding: self.binding_for(client),
            site: truncate_site(site).to_owned(),
        };
        (challenge::encode_token(&i.ring, &claims), claims)
    }

    /// Checks an `esp_` pass: genuine, for `site`, unexpired, from the network it was
    /// issued to.
    pub fn check_pass(
        &self,
        pass: &str,
        site: &str,
        client: Option<IpAddr>,
        now: Duration,
    ) -> Result<TokenClaims, Rejection> {
        let mut buf = challenge::decode_buf();
        self.verify_pass(pass, site, client, now, &mut buf)
            .map(|t| t.to_claims())
    }

    /// [`Pow::check_pass`] for the inline layer: the same checks, nothing allocated and
    /// no claims returned.
    pub(crate) fn pass_ok(
        &self,
        pass: &str,
        site: &str,
        client: Option<IpAddr>,
        now: Duration,
    ) -> Result<(), Rejection> {
        let mut buf = challenge::decode_buf();
        self.verify_pass(pass, site, client, now, &mut buf)
            .map(|_| ())
    }

    /// The checks of [`Pow::check_pass`], decoding into `buf`.
    #[inline(always)]
    fn verify_pass<'b>(
        &self,
        pass: &str,
        site: &str,
        client: Option<IpAddr>,
        now: Duration,
        buf: &'b mut DecodeBuf,
    ) -> Result<TokenView<'b>, Rejection> {
        let t = challenge::decode_token_in(&self.inner.ring, pass, buf)
            .map_err(|_| reject(RejectionKind::InvalidToken, "The pass is invalid"))?;
        if t.kind != TokenKind::Pass || t.site != truncate_site(site) {
            return Err(reject(RejectionKind::InvalidToken, "The pass is invalid"));
        }
        if ms(now) >= t.expires_ms {
            return Err(reject(RejectionKind::TokenExpired, "The pass has expired"));
        }
        if let Some(b) = t.binding
            && client.map(|ip| IpBinding::of(ip, b.len, b.len)) != Some(b)
        {
            return Err(reject(
                RejectionKind::InvalidToken,
                "The pass was issued to a different network",
            ));
        }
        Ok(t)
    }
}

fn truncate_site(site: &str) -> &str {
    if site.len() <= MAX_SITE_KEY_LEN {
        return site;
    }
    let mut end = MAX_SITE_KEY_LEN;
    while !site.is_char_boundary(end) {
        end -= 1;
    }
    site.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;
    use crate::core::verdict::{Action, Flags};

    const SECRET: &str = "test-secret-test-secret-test-secret!";

    fn engine(clock: &ManualClock) -> Pow {
        Pow::builder()
            .secret(SECRET)
            .unwrap()
            .clock(clock.clone())
            .store(MemorySingleUseStore::builder().clock(clock.clone()).build())
            .difficulty(1, 8, 20)
            .unwrap()
            .build()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn solve(c: &Challenge) -> u64 {
        challenge::solve(&c.prefix, c.difficulty, 0, 1 << 24).unwrap()
    }

    #[tokio::test]
    async fn full_cycle_and_expiry() {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let pow = engine(&clock);
        let c = pow.issue_at("site", 8, ip("203.0.113.7"), Mode::Checkbox, clock.now());
        let n = solve(&c);
        let now = clock.now();
        let claims = pow
            .check_solution(&c.challenge_id, n, ip("203.0.113.200"), now)
            .unwrap();
        assert!(pow.redeem_challenge(&claims, now).await.unwrap());
        assert!(
            !pow.redeem_challenge(&claims, now).await.unwrap(),
            "one challenge, one token"
        );
        let info = SolutionInfo {
            solve_time_ms: Some(0),
            behavior: Some(Behavior {
                mouse_entropy: 3.0,
                interaction_count: 4,
                session_duration: 2000,
            }),
            fingerprint: true,
        };
        let minted = pow.finish(&claims, n, &info, Mode::Checkbox, now).unwrap();
        let t = pow.check_token(&minted.token, now).unwrap();
        assert!(pow.redeem_token(&t, now).await.unwrap());
        assert!(!pow.redeem_token(&t, now).await.unwrap());
        // Token expiry.
        clock.advance(TOKEN_TTL);
        assert_eq!(
            pow.check_token(&minted.token, clock.now())
                .unwrap_err()
                .kind(),
            RejectionKind::TokenExpired
        );
        // Challenge expiry: valid one ms before, expired at the TTL.
        let c2 = pow.issue_at("site", 8, ip("203.0.113.7"), Mode::Checkbox, clock.now());
        let n2 = solve(&c2);
        clock.advance(CHALLENGE_TTL - Duration::from_millis(1));
        assert!(
            pow.check_solution(&c2.challenge_id, n2, ip("203.0.113.7"), clock.now())
                .is_ok()
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            pow.check_solution(&c2.challenge_id, n2, ip("203.0.113.7"), clock.now())
                .unwrap_err()
                .kind(),
            RejectionKind::ChallengeExpired
        );
    }

    #[test]
    fn binding_and_tampering() {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let pow = engine(&clock);
        let now = clock.now();
        let c = pow.issue_at("site", 8, ip("203.0.113.7"), Mode::Checkbox, now);
        let n = solve(&c);
        for other in ["203.0.114.7", "198.51.100.1", "2001:db8::1"] {
            let e = pow
                .check_solution(&c.challenge_id, n, ip(other), now)
                .unwrap_err();
            assert_eq!(e.kind(), RejectionKind::InvalidSolution, "{other}");
        }
        assert!(pow.check_solution(&c.challenge_id, n, None, now).is_err());
        // IPv6: same /56 passes, another /56 fails.
        let c6 = pow.issue_at("site", 8, ip("2001:db8:0:1200::1"), Mode::Checkbox, now);
        let n6 = solve(&c6);
        assert!(
            pow.check_solution(&c6.challenge_id, n6, ip("2001:db8:0:12ff::9"), now)
                .is_ok()
        );
        assert!(
            pow.check_solution(&c6.challenge_id, n6, ip("2001:db8:0:1300::1"), now)
                .is_err()
        );
        // A wrong nonce.
        let bad = (n + 1..)
            .find(|m| !challenge::work_ok(c.prefix.as_bytes(), *m, 8))
            .unwrap();
        assert_eq!(
            pow.check_solution(&c.challenge_id, bad, ip("203.0.113.7"), now)
                .unwrap_err()
                .message(),
            "The PoW solution is incorrect"
        );
        // A tampered id: a character changed.
        let mut t = c.challenge_id.clone().into_bytes();
        let last = t.len() - 5;
        t[last] = if t[last] == b'x' { b'y' } else { b'x' };
        let t = String::from_utf8(t).unwrap();
        assert_eq!(
            pow.check_solution(&t, n, ip("203.0.113.7"), now)
                .unwrap_err()
                .kind(),
            RejectionKind::InvalidSolution
        );
        // Another engine's id.
        let other = Pow::new("another-secret-another-secret-another").unwrap();
        let c3 = other.issue_at("site", 1, None, Mode::Checkbox, now);
        assert!(pow.check_solution(&c3.challenge_id, 0, None, now).is_err());
    }

    #[test]
    fn difficulty_adapts_and_caps() {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let pow = Pow::builder()
            .secret(SECRET)
            .unwrap()
            .clock(clock.clone())
            .build();
        assert_eq!(pow.difficulty_for(16, None, None), 16);
        assert_eq!(pow.difficulty_for(3, None, None), 14, "clamped up");
        let mark = ChallengeMark {
            reason: "test",
            difficulty: Some(17),
        };
        assert_eq!(pow.difficulty_for(16, Some(&mark), None), 17);
        let mut v = Verdict {
            human: false,
            certainty: 80,
            risk_score: 80,
            flags: Flags {
                tor: true,
                bot: true,
                ..Flags::default()
            },
            geo: None,
            asn: None,
            org: None,
            reasons: Arc::new([]),
            action: Action::Challenge,
            verified_crawler: None,
        };
        assert_eq!(pow.difficulty_for(16, None, Some(&v)), 18, "capped at 18");
        v.flags = Flags {
            hosting: true,
            ..Flags::default()
        };
        assert_eq!(pow.difficulty_for(16, None, Some(&v)), 17);
        // Load: past 1000 this second, +1; past 4000, +2 (then capped).
        let cx = DifficultyContext {
            base: 14,
            mark: None,
            verdict: None,
            load_per_sec: 1001,
        };
        assert_eq!(adapt_difficulty(&cx, Some(1000)), 15);
        assert_eq!(
            adapt_difficulty(
                &DifficultyContext {
                    load_per_sec: 4001,
                    ..cx
                },
                Some(1000)
            ),
            16
        );
        // A user closure, still clamped.
        let pow = Pow::builder()
            .secret(SECRET)
            .unwrap()
            .difficulty_fn(|_, d| d + 10)
            .build();
        assert_eq!(pow.difficulty_for(16, None, None), 18);
    }

    #[test]
    fn passes_bind_and_scope() {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let pow = engine(&clock);
        let now = clock.now();
        let (p, _) = pow.mint_pass("inline", ip("198.51.100.20"), Duration::from_secs(60), now);
        assert!(
            pow.check_pass(&p, "inline", ip("198.51.100.99"), now)
                .is_ok()
        );
        assert!(
            pow.check_pass(&p, "other", ip("198.51.100.99"), now)
                .is_err()
        );
        assert!(
            pow.check_pass(&p, "inline", ip("198.51.101.1"), now)
                .is_err()
        );
        assert_eq!(
            pow.check_pass(
                &p,
                "inline",
                ip("198.51.100.99"),
                now + Duration::from_secs(60)
            )
            .unwrap_err()
            .kind(),
            RejectionKind::TokenExpired
        );
        // A pass is not a token, and a token is not a pass.
        assert_eq!(
            pow.check_token(&p, now).unwrap_err().kind(),
            RejectionKind::InvalidToken
        );
    }

    /// A site key longer than `MAX_SITE_KEY_LEN` with a multi-byte character across the
    /// cut: challenges and passes are cut at a character boundary, so both still decode
    /// and match the same key (and only it).
    #[test]
    fn long_site_keys_are_cut_on_a_character_boundary() {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let pow = engine(&clock);
        let now = clock.now();
        let site = format!("{}é-and-more", "s".repeat(MAX_SITE_KEY_LEN - 1));
        assert!(!site.is_char_boundary(MAX_SITE_KEY_LEN));
        let c = pow.issue_at(&site, 8, ip("203.0.113.7"), Mode::Checkbox, now);
        let claims = pow
            .check_solution(&c.challenge_id, solve(&c), ip("203.0.113.7"), now)
            .unwrap();
        assert_eq!(claims.site, "s".repeat(MAX_SITE_KEY_LEN - 1));
        let (p, _) = pow.mint_pass(&site, ip("203.0.113.7"), Duration::from_secs(60), now);
        assert!(pow.check_pass(&p, &site, ip("203.0.113.7"), now).is_ok());
        assert!(
            pow.check_pass(&p, &"s".repeat(MAX_SITE_KEY_LEN), ip("203.0.113.7"), now)
                .is_err()
        );
    }

    #[test]
    fn load_meter_counts_per_second() {
        let m = LoadMeter::default();
        assert_eq!(m.tick(Duration::from_secs(5)), 1);
        assert_eq!(m.tick(Duration::from_millis(5_900)), 2);
        assert_eq!(m.tick(Duration::from_secs(6)), 1);
    }
}
