//! The seed APIs, served in-process and wire-compatibly: clients written for the hosted
//! services work against the demo with only their base URL changed.

pub mod auspex;
pub mod ecurtiy;
pub mod engineering11;
pub mod jwt_keys;
pub mod techsec;

/// A crawler the user agent claims, as the seed APIs report it (an addition to the
/// seeds' shapes, absent when no known crawler is claimed).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CrawlerInfo {
    /// The crawler, e.g. `Googlebot`.
    name: String,
    /// Its operator, e.g. `Google`.
    operator: String,
    /// `search`, `ai`, `fetcher`, `seo`, `tool` or `dataset` (verified crawlers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    /// `true`: the operator publishes this address for it; `false`: forged.
    verified: bool,
}

impl CrawlerInfo {
    /// From a verdict: its verified crawler, or its `ua.spoofed_crawler` reason.
    pub fn of(v: &tower_shield::classify::Verdict) -> Option<Self> {
        if let Some(c) = &v.verified_crawler {
            return Some(Self {
                name: c.name.to_string(),
                operator: c.operator.to_string(),
                category: Some(c.category.as_str()),
                verified: true,
            });
        }
        let r = v.reasons.iter().find(|r| r.code == "ua.spoofed_crawler")?;
        Some(Self {
            name: r.detail.as_deref().unwrap_or_default().to_owned(),
            operator: r.source.as_deref().unwrap_or_default().to_owned(),
            category: None,
            verified: false,
        })
    }
}
