//! From test cases to results: the scenario a case's name stands for ([`scenario_of`]) and the
//! runs of one scenario on one device set grouped into one result ([`group`]).

use chrono::{DateTime, Utc};

use super::{push_note, Report};
use crate::db::DeviceSetId;
use crate::results::model::Outcome;

/// How a test case's name maps to a scenario of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The scenario, when some form of the name is one of the window's.
    pub scenario: Option<String>,
    /// The `[...]` parameter of a parametrised test, when the scenario came from stripping it.
    pub parameter: Option<String>,
    /// The forms of the name that were tried, for the error message.
    pub tried: Vec<String>,
}

/// The scenario a test case's name stands for: the name as written, else without its `[...]`
/// parameter suffix, else also without a `test_` prefix (pytest's `test_change_of_mode[x]` is
/// `change_of_mode` with parameter `x`). `is_scenario` says which codes the window runs.
pub fn scenario_of(name: &str, is_scenario: impl Fn(&str) -> bool) -> Mapped {
    let (base, parameter) = match name.strip_suffix(']').and_then(|n| n.split_once('[')) {
        Some((base, parameter)) => (base, Some(parameter.to_string())),
        None => (name, None),
    };
    let mut tried = vec![name.to_string()];
    for form in [Some(base), base.strip_prefix("test_")].into_iter().flatten() {
        if !tried.iter().any(|t| t == form) {
            tried.push(form.to_string());
        }
    }
    for (i, form) in tried.iter().enumerate() {
        if is_scenario(form) {
            return Mapped {
                scenario: Some(form.clone()),
                parameter: if i == 0 { None } else { parameter },
                tried,
            };
        }
    }
    Mapped {
        scenario: None,
        parameter,
        tried,
    }
}

/// One result to write: the runs of one scenario on one device set.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub device_set_id: DeviceSetId,
    pub scenario: String,
    /// The worst run outcome (`not_run` only when nothing ran).
    pub outcome: Outcome,
    /// What the report says about the runs; `None` when it says nothing (an amendment then
    /// keeps the result's notes).
    pub notes: Option<String>,
    /// The latest run's time.
    pub executed_at: Option<DateTime<Utc>>,
    /// The cases (indices into [`Report::cases`]), in report order.
    pub cases: Vec<usize>,
}

/// One case placed: its index, device set, scenario and parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub case: usize,
    pub device_set_id: DeviceSetId,
    pub scenario: String,
    pub parameter: Option<String>,
}

/// Groups placed cases into results, in order of first appearance. A lone unparametrised case
/// keeps its failure text as the notes; several runs (parameters, repeats) get one line each,
/// `[credit-to-prepay] fail: credit not applied`.
pub fn group(report: &Report, placed: &[Placed]) -> Vec<Group> {
    let mut groups: Vec<(Group, Vec<&Placed>)> = Vec::new();
    for p in placed {
        let case = &report.cases[p.case];
        let at = groups
            .iter()
            .position(|(g, _)| g.device_set_id == p.device_set_id && g.scenario == p.scenario);
        let (g, members) = match at {
            Some(i) => &mut groups[i],
            None => {
                groups.push((
                    Group {
                        device_set_id: p.device_set_id.clone(),
                        scenario: p.scenario.clone(),
                        outcome: Outcome::NotRun,
                        notes: None,
                        executed_at: None,
                        cases: Vec::new(),
                    },
                    Vec::new(),
                ));
                groups.last_mut().expect("just pushed")
            }
        };
        g.outcome = match (g.outcome, case.outcome) {
            (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
            (Outcome::NotRun, o) => o,
            (o, _) => o,
        };
        g.executed_at = g.executed_at.max(case.executed_at);
        g.cases.push(p.case);
        members.push(p);
    }
    groups
        .into_iter()
        .map(|(mut g, members)| {
            let notes = match members.as_slice() {
                [only] if only.parameter.is_none() => report.cases[only.case].notes.clone(),
                _ => {
                    let (mut notes, mut chars) = (String::new(), 0);
                    for p in &members {
                        let case = &report.cases[p.case];
                        let label = match &p.parameter {
                            Some(parameter) => format!("[{parameter}]"),
                            None => case.name.clone(),
                        };
                        let mut line = format!("{label} {}", case.outcome.as_str());
                        if !case.notes.is_empty() {
                            line.push_str(": ");
                            line.push_str(&case.notes);
                        }
                        push_note(&mut notes, &mut chars, &line);
                    }
                    notes
                }
            };
            g.notes = Some(notes).filter(|n| !n.is_empty());
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::junit::parse;

    #[test]
    fn pytest_names_map_to_scenarios_and_keep_their_parameter() {
        let window = ["install_and_commission", "change_of_mode", "test_mode"];
        let is = |c: &str| window.contains(&c);
        let m = scenario_of("test_install_and_commission", is);
        assert_eq!(
            (m.scenario.as_deref(), m.parameter),
            (Some("install_and_commission"), None)
        );
        let m = scenario_of("test_change_of_mode[credit-to-prepay]", is);
        assert_eq!(
            (m.scenario.as_deref(), m.parameter.as_deref()),
            (Some("change_of_mode"), Some("credit-to-prepay"))
        );
        // The name as written wins over a stripped form.
        assert_eq!(scenario_of("test_mode", is).scenario.as_deref(), Some("test_mode"));
        let m = scenario_of("test_unknown[x]", is);
        assert_eq!(m.scenario, None);
        assert_eq!(m.tried, ["test_unknown[x]", "test_unknown", "unknown"]);
    }

    #[test]
    fn suites_name_device_sets_and_runs_of_a_scenario_make_one_result() {
        let xml = r#"<testsuites>
  <testsuite name="Set A" timestamp="2026-11-20T09:30:00">
    <testcase name="test_change_of_mode[credit-to-prepay]"/>
    <testcase name="test_change_of_mode[prepay-to-credit]"><failure message="stuck">in credit</failure></testcase>
  </testsuite>
  <testsuite name="pytest">
    <properties><property name="device_set_id" value="set-b"/></properties>
    <testcase name="test_install_and_commission"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let report = parse(xml).unwrap();
        assert_eq!(report.suites[1].device_set_id.as_deref(), Some("set-b"));
        assert_eq!(report.suite_name(&report.cases[2]), Some("pytest"));
        assert_eq!(report.cases[1].line, 4);
        let placed: Vec<Placed> = report
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let m = scenario_of(&c.name, |s| s == "change_of_mode" || s == "install_and_commission");
                Placed {
                    case: i,
                    device_set_id: if i < 2 { "set-a".into() } else { "set-b".into() },
                    scenario: m.scenario.unwrap(),
                    parameter: m.parameter,
                }
            })
            .collect();
        let groups = group(&report, &placed);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].outcome, Outcome::Fail);
        assert_eq!(
            groups[0].notes.as_deref(),
            Some("[credit-to-prepay] pass\n[prepay-to-credit] fail: stuck\nin credit")
        );
        assert_eq!(groups[0].cases, [0, 1]);
        assert_eq!(groups[1].outcome, Outcome::NotRun);
        assert_eq!(groups[1].notes, None, "a case without text says nothing");
    }
}
