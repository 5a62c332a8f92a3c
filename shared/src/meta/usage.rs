//! Meta's rate-limit headers, read on every response.
//!
//! Meta reports how close an app is to throttling in `X-App-Usage` (app-wide percentages)
//! and `X-Business-Use-Case-Usage` (per Instagram account or Page, with the minutes until
//! access returns once throttled). Backing off before 100 % avoids the throttle entirely,
//! so callers read [`Usage::should_back_off`] after each call. Parsing never fails: a
//! missing or malformed header is simply absent from the result.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// Peers back off at 90 % of any usage figure, comfortably before Meta throttles at 100 %.
pub const DEFAULT_BACK_OFF_THRESHOLD: f64 = 90.0;

/// Upper bound for `estimated_time_to_regain_access`: Meta's windows are at most a day, so
/// anything larger is a malformed header, not a reason to pause for years.
const MAX_REGAIN_MINUTES: f64 = 24.0 * 60.0;

/// App-wide usage from `X-App-Usage`, each figure a percentage of the allowance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AppUsage {
    pub call_count: f64,
    pub total_cputime: f64,
    pub total_time: f64,
}

/// One entry of `X-Business-Use-Case-Usage`: usage of one business object (an Instagram
/// account or a Page) for one use case (`type`, e.g. `instagram`, `messenger`, `pages`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BusinessUseCaseUsage {
    /// The business object the figures are for (the header's key).
    pub object_id: String,
    /// The use case (`type`).
    pub kind: String,
    pub call_count: f64,
    pub total_cputime: f64,
    pub total_time: f64,
    /// How long until calls are accepted again, when Meta is throttling this object.
    pub estimated_time_to_regain_access: Option<Duration>,
}

/// What Meta's usage headers said on one response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    pub app: Option<AppUsage>,
    pub business: Vec<BusinessUseCaseUsage>,
}

impl Usage {
    /// Reads both usage headers from a response.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self::parse(text("x-app-usage"), text("x-business-use-case-usage"))
    }

    /// Parses the raw header values; anything malformed is left out.
    pub fn parse(app_usage: Option<&str>, business_use_case_usage: Option<&str>) -> Self {
        Self {
            app: app_usage.and_then(parse_app_usage),
            business: business_use_case_usage
                .map(parse_business_usage)
                .unwrap_or_default(),
        }
    }

    /// True when no usage header was present (or none could be read).
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.business.is_empty()
    }

    /// The highest percentage among all figures of both headers.
    pub fn max_percent(&self) -> Option<f64> {
        let app = self
            .app
            .iter()
            .flat_map(|a| [a.call_count, a.total_cputime, a.total_time]);
        let business = self
            .business
            .iter()
            .flat_map(|b| [b.call_count, b.total_cputime, b.total_time]);
        app.chain(business).fold(None, |max, v| match max {
            Some(m) if m >= v => Some(m),
            _ => Some(v),
        })
    }

    /// The longest `estimated_time_to_regain_access` among the business entries, when
    /// Meta says some object is throttled.
    pub fn regain_access_after(&self) -> Option<Duration> {
        self.business
            .iter()
            .filter_map(|b| b.estimated_time_to_regain_access)
            .filter(|d| !d.is_zero())
            .max()
    }

    /// Whether the caller should pause before the next call: some figure reached
    /// `threshold` percent (use [`DEFAULT_BACK_OFF_THRESHOLD`]) or Meta already announced a
    /// time to regain access.
    pub fn should_back_off(&self, threshold: f64) -> bool {
        self.regain_access_after().is_some() || self.max_percent().is_some_and(|m| m >= threshold)
    }
}

fn parse_app_usage(raw: &str) -> Option<AppUsage> {
    let value: Value = serde_json::from_str(raw).ok()?;
    let object = value.as_object()?;
    Some(AppUsage {
        call_count: percent(object.get("call_count")),
        total_cputime: percent(object.get("total_cputime")),
        total_time: percent(object.get("total_time")),
    })
}

fn parse_business_usage(raw: &str) -> Vec<BusinessUseCaseUsage> {
    let Ok(Value::Object(objects)) = serde_json::from_str::<Value>(raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (object_id, entries) in objects {
        // Meta sends an array of entries per object; accept a lone object as well.
        let entries = match entries {
            Value::Array(items) => items,
            single @ Value::Object(_) => vec![single],
            _ => continue,
        };
        for entry in entries {
            let Value::Object(entry) = entry else {
                continue;
            };
            out.push(BusinessUseCaseUsage {
                object_id: object_id.clone(),
                kind: entry
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                call_count: percent(entry.get("call_count")),
                total_cputime: percent(entry.get("total_cputime")),
                total_time: percent(entry.get("total_time")),
                estimated_time_to_regain_access: regain_minutes(
                    entry.get("estimated_time_to_regain_access"),
                ),
            });
        }
    }
    out
}

/// A percentage figure: a JSON number or a numeric string; anything else counts as 0.
fn percent(value: Option<&Value>) -> f64 {
    number(value).filter(|v| v.is_finite()).unwrap_or(0.0)
}

fn regain_minutes(value: Option<&Value>) -> Option<Duration> {
    let minutes = number(value)?;
    if !minutes.is_finite() || minutes <= 0.0 {
        return None;
    }
    let seconds = minutes.min(MAX_REGAIN_MINUTES) * 60.0;
    Some(Duration::from_secs_f64(seconds))
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_app_usage() {
        let usage = Usage::parse(
            Some(r#"{"call_count":28,"total_time":25,"total_cputime":7}"#),
            None,
        );
        assert_eq!(
            usage.app,
            Some(AppUsage {
                call_count: 28.0,
                total_cputime: 7.0,
                total_time: 25.0
            })
        );
        assert_eq!(usage.max_percent(), Some(28.0));
        assert!(!usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));
    }

    #[test]
    fn reads_business_use_case_usage_for_every_object() {
        let usage = Usage::parse(
            None,
            Some(
                r#"{"17841400000000001":[{"type":"instagram","call_count":95,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":0}],
                    "1029384756":[{"type":"messenger","call_count":"3","total_cputime":1,"total_time":2,"estimated_time_to_regain_access":0},
                                  {"type":"pages","call_count":4,"total_cputime":1,"total_time":2}]}"#,
            ),
        );
        assert_eq!(usage.business.len(), 3);
        let ig = usage
            .business
            .iter()
            .find(|b| b.object_id == "17841400000000001")
            .expect("the instagram entry is parsed");
        assert_eq!(ig.kind, "instagram");
        assert_eq!(ig.call_count, 95.0);
        assert_eq!(ig.estimated_time_to_regain_access, None);
        assert_eq!(usage.max_percent(), Some(95.0));
        assert!(usage.should_back_off(90.0));
        assert!(!usage.should_back_off(96.0));
    }

    #[test]
    fn regain_time_means_back_off_even_at_low_percentages() {
        let usage = Usage::parse(
            Some(r#"{"call_count":1,"total_time":1,"total_cputime":1}"#),
            Some(
                r#"{"1":[{"type":"instagram","call_count":10,"total_cputime":0,"total_time":0,"estimated_time_to_regain_access":7}]}"#,
            ),
        );
        assert_eq!(
            usage.regain_access_after(),
            Some(Duration::from_secs(7 * 60))
        );
        assert!(usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));
    }

    #[test]
    fn threshold_is_inclusive() {
        let usage = Usage::parse(
            Some(r#"{"call_count":90,"total_time":0,"total_cputime":0}"#),
            None,
        );
        assert!(usage.should_back_off(90.0));
        assert!(!usage.should_back_off(90.5));
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let usage = Usage::parse(Some("not json"), Some("[1,2]"));
        assert!(usage.is_empty());
        assert_eq!(usage.max_percent(), None);
        assert!(!usage.should_back_off(0.0));
        let absurd = Usage::parse(
            None,
            Some(
                r#"{"1":[{"estimated_time_to_regain_access":1e300}],"2":[{"estimated_time_to_regain_access":-5}]}"#,
            ),
        );
        assert_eq!(
            absurd.regain_access_after(),
            Some(Duration::from_secs(24 * 60 * 60))
        );
    }

    #[test]
    fn reads_headers_from_a_header_map() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-App-Usage",
            r#"{"call_count":91,"total_time":1,"total_cputime":1}"#
                .parse()
                .expect("static header value"),
        );
        let usage = Usage::from_headers(&headers);
        assert_eq!(usage.max_percent(), Some(91.0));
    }

    proptest! {
        #[test]
        fn parser_never_panics(app in ".*", business in ".*") {
            let usage = Usage::parse(Some(&app), Some(&business));
            let _ = usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD);
            let _ = usage.regain_access_after();
        }

        #[test]
        fn parser_never_panics_on_json_shaped_input(
            id in "[0-9]{1,5}",
            kind in "[a-z]{0,8}",
            call in proptest::num::f64::ANY,
            regain in proptest::num::f64::ANY,
            as_string in any::<bool>(),
        ) {
            let fmt = |v: f64| if as_string { format!("\"{v}\"") } else if v.is_finite() { format!("{v}") } else { "null".into() };
            let raw = format!(
                r#"{{"{id}":[{{"type":"{kind}","call_count":{},"total_cputime":0,"total_time":0,"estimated_time_to_regain_access":{}}}]}}"#,
                fmt(call), fmt(regain)
            );
            let usage = Usage::parse(None, Some(&raw));
            if let Some(d) = usage.regain_access_after() {
                prop_assert!(d <= Duration::from_secs(24 * 60 * 60));
            }
            if let Some(max) = usage.max_percent() {
                prop_assert!(max.is_finite());
            }
        }
    }
}
