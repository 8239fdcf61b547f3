//! Analytics arithmetic, pure: periods, bucket boundaries and the summary, from
//! per-bucket aggregates a store computes (in SQL) over the events it recorded.
//!
//! A period of `24h` is 24 hourly buckets, the last one holding `now`; `7d`, `30d` and
//! `90d` are as many UTC days, the last one being today. The window starts at the first
//! bucket's start, so the chart's bars add up to the summary exactly (a `24h` window is
//! 23 hours plus the part of the current hour so far).

use std::time::Duration;

use serde::Serialize;

use crate::core::reject::rfc3339;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The `period` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Period {
    /// The last 24 hours, hourly.
    Day,
    /// The last 7 days, daily (the default).
    #[default]
    Week,
    /// The last 30 days, daily.
    Month,
    /// The last 90 days, daily.
    Quarter,
}

impl Period {
    /// Every period, in order.
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Quarter];

    /// Parses `24h`, `7d`, `30d` or `90d`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "24h" => Period::Day,
            "7d" => Period::Week,
            "30d" => Period::Month,
            "90d" => Period::Quarter,
            _ => return None,
        })
    }

    /// The `period` parameter of a query string: absent is `7d` (the default); `None`
    /// when it is present but not one of the four periods. The last `period` wins.
    ///
    /// ```
    /// use tower_shield::pow::admin::Period;
    /// assert_eq!(Period::from_query(Some("period=24h")), Some(Period::Day));
    /// assert_eq!(Period::from_query(None), Some(Period::Week));
    /// assert_eq!(Period::from_query(Some("period=1y")), None);
    /// ```
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        let mut period = Period::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == "period" {
                period = Period::parse(v)?;
            }
        }
        Some(period)
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "7d",
            Period::Month => "30d",
            Period::Quarter => "90d",
        }
    }

    /// Bucket width, ms.
    pub const fn bucket_ms(self) -> u64 {
        match self {
            Period::Day => HOUR_MS,
            _ => DAY_MS,
        }
    }

    /// Number of buckets.
    pub const fn buckets(self) -> u64 {
        match self {
            Period::Day => 24,
            Period::Week => 7,
            Period::Month => 30,
            Period::Quarter => 90,
        }
    }

    /// The window `[start, end]` in Unix ms for `now`: `start` is the first bucket's
    /// start, `end` is `now`.
    pub fn window(self, now: Duration) -> (u64, u64) {
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let w = self.bucket_ms();
        let last = now_ms - now_ms % w;
        let start = last.saturating_sub((self.buckets() - 1) * w);
        (start, now_ms)
    }
}

/// Per-bucket aggregates, as a store reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BucketAgg {
    /// The bucket's index from the window start.
    pub index: u64,
    /// Verifications.
    pub total: u64,
    /// Passed verifications.
    pub passed: u64,
    /// Sum and count of reported solve times.
    pub solve_sum_ms: f64,
    /// How many events reported a solve time.
    pub solve_n: u64,
    /// Sum of risk scores.
    pub risk_sum: f64,
    /// How many events had a risk score.
    pub risk_n: u64,
}

/// `summary` of the analytics answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Verifications in the window.
    pub total_verifications: u64,
    /// Those that passed.
    pub passed_verifications: u64,
    /// Those that failed.
    pub failed_verifications: u64,
    /// Passed / total, in percent with one decimal (0 when there were none).
    pub pass_rate: f64,
    /// Mean reported solve time, ms, rounded (0 when none).
    pub avg_solve_time_ms: u64,
    /// Mean risk score, three decimals (0 when none).
    pub avg_risk_score: f64,
}

/// One bar of `chartData`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartPoint {
    /// The bucket's start, RFC 3339 (UTC).
    pub date: String,
    /// Verifications.
    pub total: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
}

/// One of `recentVerifications`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentVerification {
    /// Passed or not.
    pub passed: bool,
    /// The risk score, when computed.
    pub risk_score: Option<f64>,
    /// The reported solve time.
    pub solve_time_ms: Option<u64>,
    /// The error code of a failure.
    pub error: Option<String>,
    /// When, RFC 3339.
    pub created_at: String,
}

/// The answer of `GET /api/analytics/{siteId}` (without the envelope).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    /// The site.
    pub site_id: String,
    /// `24h`, `7d`, `30d` or `90d`.
    pub period: &'static str,
    /// Totals over the window.
    pub summary: Summary,
    /// One point per bucket, oldest first, empty buckets included.
    pub chart_data: Vec<ChartPoint>,
    /// The last 10 verifications in the window, newest first.
    pub recent_verifications: Vec<RecentVerification>,
}

fn round_to(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Builds the answer from per-bucket aggregates (any order; out-of-range indices are
/// ignored) and the recent events.
pub fn build(
    site_id: &str,
    period: Period,
    now: Duration,
    aggs: &[BucketAgg],
    recent: Vec<RecentVerification>,
) -> Analytics {
    let (start, _) = period.window(now);
    let n = period.buckets();
    let mut bars = vec![BucketAgg::default(); n as usize];
    for a in aggs.iter().filter(|a| a.index < n) {
        let b = &mut bars[a.index as usize];
        b.total += a.total;
        b.passed += a.passed;
        b.solve_sum_ms += a.solve_sum_ms;
        b.solve_n += a.solve_n;
        b.risk_sum += a.risk_sum;
        b.risk_n += a.risk_n;
    }
    let mut sum = BucketAgg::default();
    let chart_data = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            sum.total += b.total;
            sum.passed += b.passed;
            sum.solve_sum_ms += b.solve_sum_ms;
            sum.solve_n += b.solve_n;
            sum.risk_sum += b.risk_sum;
            sum.risk_n += b.risk_n;
            ChartPoint {
                date: rfc3339(Duration::from_millis(start + i as u64 * period.bucket_ms())),
                total: b.total,
                passed: b.passed,
                failed: b.total - b.passed.min(b.total),
            }
        })
        .collect();
    let summary = Summary {
        total_verifications: sum.total,
        passed_verifications: sum.passed,
        failed_verifications: sum.total - sum.passed.min(sum.total),
        pass_rate: if sum.total == 0 {
            0.0
        } else {
            round_to(100.0 * sum.passed as f64 / sum.total as f64, 1)
        },
        avg_solve_time_ms: if sum.solve_n == 0 {
            0
        } else {
            (sum.solve_sum_ms / sum.solve_n as f64).round() as u64
        },
        avg_risk_score: if sum.risk_n == 0 {
            0.0
        } else {
            round_to(sum.risk_sum / sum.risk_n as f64, 3)
        },
    };
    Analytics {
        site_id: site_id.to_owned(),
        period: period.as_str(),
        summary,
        chart_data,
        recent_verifications: recent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_query_and_time_is_safe(q in ".{0,80}", now in any::<u64>()) {
            let _ = Period::from_query(Some(&q));
            for p in Period::ALL {
                let (s, e) = p.window(Duration::from_millis(now));
                prop_assert!(s <= e);
                let a = build("s", p, Duration::from_millis(now), &[BucketAgg { index: now % 100, total: 3, passed: 5, ..Default::default() }], vec![]);
                prop_assert_eq!(a.chart_data.len() as u64, p.buckets());
                prop_assert!(a.summary.failed_verifications <= a.summary.total_verifications);
            }
        }
    }

    #[test]
    fn periods_parse_and_align() {
        for p in Period::ALL {
            assert_eq!(Period::parse(p.as_str()), Some(p));
        }
        assert_eq!(Period::parse("1y"), None);
        assert_eq!(Period::parse("24H"), None);
        // 2024-12-08T12:34:56.789Z
        let now = Duration::from_millis(1_733_661_296_789);
        let (s, e) = Period::Day.window(now);
        assert_eq!(e, 1_733_661_296_789);
        assert_eq!(rfc3339(Duration::from_millis(s)), "2024-12-07T13:00:00Z");
        let (s, _) = Period::Week.window(now);
        assert_eq!(rfc3339(Duration::from_millis(s)), "2024-12-02T00:00:00Z");
        let (s, _) = Period::Quarter.window(now);
        assert_eq!(rfc3339(Duration::from_millis(s)), "2024-09-10T00:00:00Z");
    }

    #[test]
    fn build_fills_empty_buckets_and_sums() {
        let now = Duration::from_millis(1_733_661_296_789);
        let aggs = [
            BucketAgg {
                index: 0,
                total: 3,
                passed: 2,
                solve_sum_ms: 3000.0,
                solve_n: 3,
                risk_sum: 0.3,
                risk_n: 3,
            },
            BucketAgg {
                index: 6,
                total: 1,
                passed: 1,
                solve_sum_ms: 1000.0,
                solve_n: 1,
                risk_sum: 0.1,
                risk_n: 1,
            },
            BucketAgg {
                index: 7,
                total: 99,
                ..Default::default()
            },
        ];
        let a = build("s", Period::Week, now, &aggs, vec![]);
        assert_eq!(a.chart_data.len(), 7);
        assert_eq!(a.chart_data[0].total, 3);
        assert_eq!(a.chart_data[0].failed, 1);
        assert_eq!(a.chart_data[6].date, "2024-12-08T00:00:00Z");
        assert_eq!(a.summary.total_verifications, 4);
        assert_eq!(a.summary.passed_verifications, 3);
        assert_eq!(a.summary.failed_verifications, 1);
        assert_eq!(a.summary.pass_rate, 75.0);
        assert_eq!(a.summary.avg_solve_time_ms, 1000);
        assert_eq!(a.summary.avg_risk_score, 0.1);
        let empty = build("s", Period::Day, now, &[], vec![]);
        assert_eq!(empty.summary, Summary::default());
        assert_eq!(empty.chart_data.len(), 24);
    }
}
