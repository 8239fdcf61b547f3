//! The demo's TOML configuration (`--config FILE`).

use std::net::SocketAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};

/// The whole file. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen (overridden by `--listen`).
    pub listen: Option<SocketAddr>,
    /// `[client_ip]`.
    #[serde(default)]
    pub client_ip: ClientIpToml,
}

/// `[client_ip]`: where the client address comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpToml {
    /// `"peer"` (default), `"x-forwarded-for"`, `"forwarded"` or `"header"`.
    #[serde(default)]
    pub source: SourceName,
    /// Proxies whose forwarding headers are believed, as CIDRs.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// With `"x-forwarded-for"`: take the n-th hop from the right instead of the
    /// rightmost untrusted one.
    pub hops: Option<usize>,
    /// With `"header"`: the header name, e.g. `"CF-Connecting-IP"`.
    pub header: Option<String>,
    /// IPv6 prefix length clients are keyed by (default 64).
    pub ipv6_prefix: Option<u8>,
}

impl Default for ClientIpToml {
    fn default() -> Self {
        Self {
            source: SourceName::Peer,
            trusted_proxies: Vec::new(),
            hops: None,
            header: None,
            ipv6_prefix: None,
        }
    }
}

/// The names `source` accepts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SourceName {
    /// The socket peer.
    #[default]
    Peer,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    Forwarded,
    /// A single-address header.
    Header,
}

/// A config problem, naming the field.
#[derive(Debug)]
pub struct ConfigProblem(pub String);

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigProblem {}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigProblem> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigProblem(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| ConfigProblem(format!("{}: {e}", path.display())))
    }

    /// Parses and checks TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigProblem(e.to_string()))?;
        cfg.client_ip.layer()?;
        Ok(cfg)
    }
}

impl ClientIpToml {
    /// The client-IP layer this table describes.
    pub fn layer(&self) -> Result<ClientIpLayer, ConfigProblem> {
        let bad = |field: &str, why: &str| ConfigProblem(format!("client_ip.{field}: {why}"));
        if self.hops.is_some() && self.source != SourceName::XForwardedFor {
            return Err(bad("hops", "only applies to source = \"x-forwarded-for\""));
        }
        if self.header.is_some() && self.source != SourceName::Header {
            return Err(bad("header", "only applies to source = \"header\""));
        }
        let source = match self.source {
            SourceName::Peer => ClientIpSource::Peer,
            SourceName::XForwardedFor => match self.hops {
                None => ClientIpSource::RightmostXForwardedFor,
                Some(0) => return Err(bad("hops", "must be at least 1 (1 = the rightmost hop)")),
                Some(n) => ClientIpSource::XForwardedForHop(n),
            },
            SourceName::Forwarded => ClientIpSource::Forwarded,
            SourceName::Header => {
                let name = self
                    .header
                    .as_deref()
                    .ok_or_else(|| bad("header", "required when source = \"header\""))?;
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad("header", "not a valid header name"))?;
                ClientIpSource::Header(name)
            }
        };
        if source != ClientIpSource::Peer && self.trusted_proxies.is_empty() {
            tracing::warn!(
                "client_ip.trusted_proxies is empty: forwarding headers will never be read"
            );
        }
        let mut layer = ClientIpLayer::new(source, self.trusted_proxies.iter().copied());
        if let Some(bits) = self.ipv6_prefix {
            layer = layer
                .v6_prefix(bits)
                .map_err(|e| bad("ipv6_prefix", &e.to_string()))?;
        }
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.client_ip.source, SourceName::Peer);
        assert!(c.listen.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        for (text, field) in [
            ("[client_ip]\nsource = \"header\"", "client_ip.header"),
            ("[client_ip]\nsource = \"peer\"\nhops = 2", "client_ip.hops"),
            (
                "[client_ip]\nsource = \"x-forwarded-for\"\nhops = 0",
                "client_ip.hops",
            ),
            ("[client_ip]\nsource = \"carrier-pigeon\"", "source"),
            (
                "[client_ip]\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "trusted_proxies",
            ),
            ("[client_ip]\nipv6_prefix = 0", "client_ip.ipv6_prefix"),
            ("listen = \"nope\"", "listen"),
            ("lisen = \"127.0.0.1:1\"", "lisen"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }
}
