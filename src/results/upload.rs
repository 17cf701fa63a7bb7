//! `POST /results/junit`: a JUnit report as a harness writes it, sent as XML or as the file of
//! a form (`curl -F file=@report.xml`). Reading the body and parsing the XML run on the
//! blocking pool, never on an HTTP worker; the report is placed (device set and scenario of
//! every test case) and written in one transaction with the batch's upsert rules.

use std::collections::{HashMap, HashSet};

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::bulk::{ok, write_all, BatchOutcome};
use super::junit::{self, Placed, Report};
use super::model::{ResultInput, Visibility};
use super::multipart;
use crate::auth::{Caller, Capability};
use crate::db::schema::{device_sets, window_scenarios as ws};
use crate::db::{write_tx, DbConn, DeviceSetId};
use crate::http::idempotency::{self, Idempotency, IdempotencyKey};
use crate::http::responses::*;
use crate::http::ErrorCode;
use crate::http::{ApiError, FieldError};
use crate::AppState;

#[derive(Debug, Clone, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JunitQuery {
    pub uit_window_id: String,
    /// The device set of test suites that name none (by name or `device_set_id` property).
    pub device_set_id: Option<String>,
    /// For new results; default `private`. Left out, an amended result keeps its visibility.
    pub visibility: Option<Visibility>,
}

/// The form of a `multipart/form-data` upload: the report as its `file` part.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JunitForm {
    /// The JUnit XML report.
    #[schema(value_type = String, format = Binary, content_media_type = "application/xml")]
    file: Vec<u8>,
}

/// How the report arrives.
enum Body {
    Xml,
    Form { boundary: String },
}

fn body_kind(req: &HttpRequest) -> Result<Body, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = multipart::boundary(content_type).map_err(invalid)? {
        return Ok(Body::Form { boundary });
    }
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if matches!(mime.as_str(), "application/xml" | "text/xml" | "application/junit+xml") {
        return Ok(Body::Xml);
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        "The request body must be JUnit XML (application/xml), or a multipart/form-data form with the report as its `file` part.",
    ))
}

fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidJunit,
        format!("The JUnit report is invalid: {message}."),
    )
}

/// Unpacks and parses the report, and binds the idempotency key to what it says (not to a
/// form's random boundary). CPU work on untrusted input: call on the blocking pool.
fn read_report(
    body: &[u8],
    kind: Body,
    key: IdempotencyKey,
    query: &JunitQuery,
) -> Result<(Report, Option<Idempotency>), ApiError> {
    let xml = match kind {
        Body::Xml => body,
        Body::Form { boundary } => multipart::file(body, &boundary).map_err(invalid)?,
    };
    let text = std::str::from_utf8(xml).map_err(|_| invalid("the report must be UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let report = junit::parse(text).map_err(invalid)?;
    let idem = key.bind("POST /results/junit", &(query, text));
    Ok((report, idem))
}

/// A problem with the report, named by its testcase or suite.
#[derive(Debug, Serialize)]
struct ReportProblem {
    testsuite: Option<String>,
    testcase: Option<String>,
    line: usize,
    field: &'static str,
    message: String,
}

/// Where each case's device set came from, for messages.
enum SetSource {
    Case,
    SuiteProperty(usize),
    SuiteName(usize),
    Query,
}

/// Places every case (device set and scenario) and validates the results it makes; every
/// error names its testcase or suite and the window's scenarios.
fn items_of(conn: &mut DbConn, q: &JunitQuery, report: &Report) -> Result<Vec<ResultInput>, ApiError> {
    let window = crate::windows::model::find(conn, &q.uit_window_id)?
        .ok_or_else(|| ApiError::invalid_field("uit_window_id", "no such UIT window"))?;
    if window.cancelled_at.is_some() {
        return Err(ApiError::invalid_field("uit_window_id", "the window is cancelled"));
    }
    let scenarios: Vec<String> = ws::table
        .filter(ws::window_id.eq(&window.id))
        .order(ws::position.asc())
        .select(ws::scenario_code)
        .load(conn)?;
    let scenario_set: HashSet<&str> = scenarios.iter().map(String::as_str).collect();
    let suite_names: Vec<String> = {
        let mut names: Vec<String> = report.suites.iter().filter_map(|s| s.name.clone()).collect();
        names.sort();
        names.dedup();
        names
    };
    let mut sets_named: HashMap<String, Vec<DeviceSetId>> = HashMap::new();
    for chunk in suite_names.chunks(500) {
        let rows: Vec<(String, DeviceSetId)> = device_sets::table
            .filter(device_sets::name.eq_any(chunk))
            .select((device_sets::name, device_sets::id))
            .load(conn)?;
        for (name, id) in rows {
            sets_named.entry(name).or_default().push(id);
        }
    }

    let mut problems: Vec<ReportProblem> = Vec::new();
    let mut reported_suites = HashSet::new();
    let mut placed = Vec::new();
    let mut sources = Vec::new();
    for (index, case) in report.cases.iter().enumerate() {
        let suite = report.suite_name(case).map(str::to_string);
        let problem = |field, message| ReportProblem {
            testsuite: suite.clone(),
            testcase: Some(case.name.clone()),
            line: case.line,
            field,
            message,
        };
        // The case's own property, else the nearest suite that names a set (by property or by
        // its name), else the query's device_set_id.
        let mut found = case.device_set_id.clone().map(|id| (id, SetSource::Case));
        for (i, s) in report.suites_of(case) {
            if found.is_some() {
                break;
            }
            if let Some(id) = &s.device_set_id {
                found = Some((id.clone(), SetSource::SuiteProperty(i)));
            } else if let Some(ids) = s.name.as_ref().and_then(|n| sets_named.get(n)) {
                if let [id] = ids.as_slice() {
                    found = Some((id.clone(), SetSource::SuiteName(i)));
                } else if reported_suites.insert(i) {
                    problems.push(ReportProblem {
                        testsuite: s.name.clone(),
                        testcase: None,
                        line: s.line,
                        field: "device_set_id",
                        message: format!(
                            "{} device sets are named \"{}\" ({}); name one with <property name=\"device_set_id\" value=\"...\"/>",
                            ids.len(),
                            s.name.as_deref().unwrap_or_default(),
                            ids.join(", ")
                        ),
                    });
                }
            }
        }
        let found = found.or_else(|| {
            q.device_set_id
                .clone()
                .map(|id| (DeviceSetId::from(id), SetSource::Query))
        });
        let mapped = junit::scenario_of(&case.name, |c| scenario_set.contains(c));
        if mapped.scenario.is_none() {
            problems.push(problem(
                "scenario",
                format!(
                    "\"{}\" is not one of the window's scenarios (tried {}); valid: {}",
                    case.name,
                    mapped.tried.join(", "),
                    scenarios.join(", ")
                ),
            ));
        }
        let Some((set, source)) = found else {
            if reported_suites.insert(case.suite.unwrap_or(usize::MAX)) {
                let message = "names no device set: name the suite after a device set, add <property name=\"device_set_id\" value=\"...\"/> to it, or pass ?device_set_id=";
                problems.push(match case.suite.map(|i| &report.suites[i]) {
                    Some(s) => ReportProblem {
                        testsuite: s.name.clone(),
                        testcase: None,
                        line: s.line,
                        field: "device_set_id",
                        message: message.into(),
                    },
                    None => problem("device_set_id", message.into()),
                });
            }
            continue;
        };
        if let Some(scenario) = mapped.scenario {
            placed.push(Placed {
                case: index,
                device_set_id: set,
                scenario,
                parameter: mapped.parameter,
            });
            sources.push(source);
        }
    }

    let groups = junit::group(report, &placed);
    let items: Vec<ResultInput> = groups
        .iter()
        .map(|g| ResultInput {
            uit_window_id: window.id.clone(),
            device_set_id: g.device_set_id.clone(),
            scenario: g.scenario.clone(),
            outcome: g.outcome,
            // A report without a time or text says nothing about them: an amendment keeps them.
            executed_at: g.executed_at.map(Some),
            notes: g.notes.clone(),
            defect_mask_ids: None,
            visibility: q.visibility,
            external_ref: None,
        })
        .collect();
    let mut unknown_sets = HashSet::new();
    for e in super::validation::validate(conn, &items)? {
        let group = &groups[e.index];
        let first = group.cases[0];
        let case = &report.cases[first];
        let mut problem = ReportProblem {
            testsuite: report.suite_name(case).map(str::to_string),
            testcase: Some(case.name.clone()),
            line: case.line,
            field: "result",
            message: format!("{}: {}", e.field, e.message),
        };
        if e.field == "device_set_id" {
            if !unknown_sets.insert(group.device_set_id.clone()) {
                continue;
            }
            let source = placed.iter().position(|p| p.case == first).map(|i| &sources[i]);
            problem.field = "device_set_id";
            problem.message = match source {
                Some(SetSource::SuiteProperty(i)) | Some(SetSource::SuiteName(i)) => {
                    let s = &report.suites[*i];
                    problem.testsuite = s.name.clone();
                    problem.testcase = None;
                    problem.line = s.line;
                    format!(
                        "no device set has the id \"{}\" (the suite's device_set_id property)",
                        group.device_set_id
                    )
                }
                Some(SetSource::Case) => format!(
                    "no device set has the id \"{}\" (the case's device_set_id property)",
                    group.device_set_id
                ),
                _ => {
                    problems.push(ReportProblem {
                        testsuite: None,
                        testcase: None,
                        line: 0,
                        field: "device_set_id",
                        message: format!("no device set has the id \"{}\"", group.device_set_id),
                    });
                    continue;
                }
            };
        } else if e.field == "scenario" {
            problem.field = "scenario";
            problem.message = format!("{}; valid: {}", e.message, scenarios.join(", "));
        }
        problems.push(problem);
    }
    if problems.is_empty() {
        return Ok(items);
    }
    let errors = problems
        .iter()
        .map(|p| FieldError {
            // A problem with the query itself names the parameter, as elsewhere.
            field: if p.line == 0 {
                p.field.to_string()
            } else {
                junit::locator(p.testsuite.as_deref(), p.testcase.as_deref(), p.line)
            },
            message: p.message.clone(),
        })
        .collect();
    let mut err = ApiError::validation(errors);
    err.detail = format!(
        "{} in the JUnit report; each error names its testcase or suite. The window's scenarios: {}.",
        match problems.len() {
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        },
        scenarios.join(", ")
    );
    Err(err.with_context(serde_json::json!({
        "valid_scenarios": scenarios,
        "report_errors": problems,
    })))
}

/// Upload a JUnit report
///
/// The body is JUnit XML (`application/xml`), or a `multipart/form-data` form whose `file` part
/// is the report (`curl -F file=@report.xml`). Each `testcase` is a run of a scenario of the
/// window: its name is the scenario code, also as pytest writes it (`test_change_of_mode[credit-to-prepay]`
/// is `change_of_mode` run with the parameter `credit-to-prepay`, which goes into the notes;
/// several runs of one scenario on one set make one result, the worst outcome). `failure` or
/// `error` makes a run `fail`, `skipped` `not_run`, otherwise `pass`; failure messages become
/// notes. Each `testsuite` may name its device set, by a `<property name="device_set_id"
/// value="..."/>` or by having a device set's name; `device_set_id` is the set of suites that
/// name none, so a whole run uploads in one request. Same upsert rules as the batch: a
/// re-upload keeps what the report does not say (visibility unless given, notes and time of
/// cases without them). Errors name the testcase (suite, name, line) and list the window's
/// scenarios (`context.valid_scenarios`, `context.report_errors`). Bounded: at most 8 MiB of
/// XML, 50000 elements, 64 attributes per element, depth 32, 1000 test cases (400
/// `invalid_junit` beyond). Documents with a DOCTYPE are refused.
#[utoipa::path(
    tag = "results",
    operation_id = "uploadJunit",
    params(JunitQuery, crate::http::idempotency::IdempotencyKeyHeader),
    request_body(
        description = "A JUnit XML report, as the body or as the `file` part of a form",
        content(
            (String = "application/xml"),
            (JunitForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 200, description = "Written", body = BatchOutcome),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/results/junit")]
pub async fn upload_junit(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    query: web::Query<JunitQuery>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind = body_kind(&req);
    let q = query.into_inner();
    // One hop: the caller, then the report parsed outside the write transaction (CPU work on
    // untrusted input must not hold SQLite's write lock), then the write.
    let stored = state
        .db
        .read_as(caller, move |conn, ctx| {
            ctx.require(Capability::Participate)?;
            let (report, idem) = read_report(&body, kind?, key, &q)?;
            write_tx(conn, |conn| {
                idempotency::once(conn, idem.as_ref(), &ctx.user_id, |conn| {
                    let items = items_of(conn, &q, &report)?;
                    ok(&write_all(conn, &ctx, &items, "junit")?)
                })
            })
        })
        .await?;
    Ok(stored.into_response())
}
