//! A UIT window's exit criteria: what the operator requires of the shared evidence before the
//! firmware may leave UIT. Stored as JSON in `uit_windows.exit_criteria`; every criterion is
//! optional, and a window without any has nothing to meet.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::validate::Validator;

/// The most sets `top_sets.top_n` may name.
pub const MAX_TOP_N: i64 = 10_000;

/// What a window must show before its firmware leaves UIT. Each field is optional; those left
/// out are not checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"min_weighted_share": 0.8, "top_sets": {"top_n": 20, "scenarios": ["change_of_mode"]}, "max_unexplained_failures": 0, "min_publishing_suppliers": 3, "no_open_blocking_issues": true}))]
pub struct ExitCriteria {
    /// Per scenario, the least share (0-1) of the window's installed base, weighted by
    /// prevalence, whose device sets have a shared result other than `not_run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub min_weighted_share: Option<f64>,
    /// Scenarios that must each have a shared result (other than `not_run`) on each of the
    /// `top_n` most prevalent device sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_sets: Option<TopSets>,
    /// The most shared `fail` results that no applicable defect mask explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub max_unexplained_failures: Option<i64>,
    /// The fewest supplier organisations that published shared results in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub min_publishing_suppliers: Option<i64>,
    /// `true`: no `blocking` UIT issue of the window may be unresolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_open_blocking_issues: Option<bool>,
}

/// Scenarios required on the most prevalent sets.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopSets {
    /// How many of the most prevalent sets (1-10,000).
    #[schema(minimum = 1, maximum = 10000)]
    pub top_n: i64,
    /// Scenario codes of the window; empty or left out: every scenario of the window.
    #[serde(default)]
    pub scenarios: Vec<String>,
}

impl ExitCriteria {
    /// Whether no criterion is set (stored as null).
    pub fn is_empty(&self) -> bool {
        *self == ExitCriteria::default()
    }

    /// Checks the values against the window's scenarios; errors name the field, e.g.
    /// `exit_criteria.top_sets.scenarios[1]`.
    pub fn validate(&self, v: &mut Validator, window_scenarios: &[String]) {
        if let Some(share) = self.min_weighted_share {
            if !(0.0..=1.0).contains(&share) || share.is_nan() {
                v.error("exit_criteria.min_weighted_share", "must be between 0 and 1");
            }
        }
        if let Some(top) = &self.top_sets {
            if !(1..=MAX_TOP_N).contains(&top.top_n) {
                v.error(
                    "exit_criteria.top_sets.top_n",
                    format!("must be between 1 and {MAX_TOP_N}"),
                );
            }
            for (i, code) in top.scenarios.iter().enumerate() {
                if !window_scenarios.contains(code) {
                    v.error(
                        &format!("exit_criteria.top_sets.scenarios[{i}]"),
                        format!(
                            "'{code}' is not one of the window's scenarios ({})",
                            window_scenarios.join(", ")
                        ),
                    );
                }
            }
        }
        if self.max_unexplained_failures.is_some_and(|n| n < 0) {
            v.error("exit_criteria.max_unexplained_failures", "must be 0 or more");
        }
        if self.min_publishing_suppliers.is_some_and(|n| n < 0) {
            v.error("exit_criteria.min_publishing_suppliers", "must be 0 or more");
        }
    }

    /// The stored form: `None` when no criterion is set.
    pub fn to_stored(&self) -> Option<String> {
        if self.is_empty() {
            None
        } else {
            serde_json::to_string(self).ok()
        }
    }

    /// Reads the stored form; a value that does not parse is an error (a 500 that is logged),
    /// never silently "no criteria".
    pub fn from_stored(stored: Option<&str>) -> diesel::QueryResult<Option<ExitCriteria>> {
        stored
            .map(|s| serde_json::from_str(s).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e))))
            .transpose()
    }
}

/// The stored form of `criteria` (from a PATCH; `None`: remove them) once valid for a window
/// with `window_scenarios`; 422 naming the field otherwise.
pub fn checked(
    criteria: Option<&ExitCriteria>,
    window_scenarios: &[String],
) -> Result<Option<String>, crate::http::ApiError> {
    let Some(criteria) = criteria else {
        return Ok(None);
    };
    let mut v = Validator::new();
    criteria.validate(&mut v, window_scenarios);
    v.finish()?;
    Ok(criteria.to_stored())
}

/// The change event's kind, summary and details when a window's criteria change.
pub fn change(
    after: &crate::windows::model::UitWindow,
    before: &Option<ExitCriteria>,
) -> (&'static str, String, serde_json::Value) {
    let summary = match &after.exit_criteria {
        Some(c) => format!("{} exit criteria set: {}", after.name, describe(c)),
        None => format!("{} exit criteria removed", after.name),
    };
    (
        "window.exit_criteria_changed",
        summary,
        serde_json::json!({ "field": "exit_criteria", "from": before, "to": after.exit_criteria }),
    )
}

/// One line for people: "at least 80% of the installed base per scenario; change_of_mode on
/// the 20 most prevalent sets; ...".
pub fn describe(c: &ExitCriteria) -> String {
    let mut parts = Vec::new();
    if let Some(share) = c.min_weighted_share {
        parts.push(format!(
            "at least {}% of the installed base tested per scenario",
            percent(share)
        ));
    }
    if let Some(top) = &c.top_sets {
        let which = if top.scenarios.is_empty() {
            "every scenario".to_string()
        } else {
            top.scenarios.join(", ")
        };
        parts.push(format!("{which} on the {} most prevalent sets", top.top_n));
    }
    if let Some(n) = c.max_unexplained_failures {
        parts.push(format!("at most {n} unexplained failures"));
    }
    if let Some(n) = c.min_publishing_suppliers {
        parts.push(format!("at least {n} suppliers publishing"));
    }
    if c.no_open_blocking_issues == Some(true) {
        parts.push("no unresolved blocking UIT issue".to_string());
    }
    parts.join("; ")
}

/// `0.805` as "80.5".
pub fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}
