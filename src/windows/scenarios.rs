//! Business scenarios a UIT window asks participants to run.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::scenarios;
use crate::db::{now, DbConn};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// The seeded scenarios, in seed order: what a window runs when it names none.
pub const DEFAULT_SCENARIOS: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scenarios)]
pub struct ScenarioRow {
    pub code: String,
    pub title: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}

/// A business scenario participants run in a window, e.g. `prepayment_top_up`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scenario {
    #[schema(example = "prepayment_top_up")]
    pub code: String,
    pub title: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl From<ScenarioRow> for Scenario {
    fn from(r: ScenarioRow) -> Self {
        Self {
            code: r.code,
            title: r.title,
            description: r.description,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// The positions in `codes` of those that name no scenario.
pub fn unknown(conn: &mut DbConn, codes: &[String]) -> QueryResult<Vec<usize>> {
    let found: Vec<String> = scenarios::table
        .filter(scenarios::code.eq_any(codes))
        .select(scenarios::code)
        .load(conn)?;
    Ok(codes
        .iter()
        .enumerate()
        .filter(|(_, c)| !found.contains(c))
        .map(|(i, _)| i)
        .collect())
}

fn valid_code(code: &str) -> bool {
    (2..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

list_query! {
    pub struct ScenarioQuery {
    }
}

/// List scenarios
///
/// Any signed-in user: the four seeded scenarios plus those the operator defined, by code.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "listScenarios",
    params(ScenarioQuery),
    responses(
        (status = 200, description = "A page of scenarios", body = Page<Scenario>),
    ),
    security(("bearer" = []))
)]
#[get("/scenarios")]
pub async fn list_scenarios(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ScenarioQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let mut q = scenarios::table.select(ScenarioRow::as_select()).into_boxed();
        if let Some(after) = after {
            q = q.filter(scenarios::code.gt(after));
        }
        let rows: Vec<ScenarioRow> = q.order(scenarios::code.asc()).limit(fetch).load(conn)?;
        Ok(rows.into_iter().map(Scenario::from).collect())
    })
    .await
}

keyed!(Scenario, code);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScenario {
    /// 2-64 lower-case letters, digits and underscores; unique.
    #[schema(example = "smart_credit_alert", pattern = "^[a-z0-9_]{2,64}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
}

/// Define a scenario
///
/// Operator organisations only. Windows name scenarios by `code`.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "createScenario",
    request_body = NewScenario,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = Scenario),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/scenarios")]
pub async fn create_scenario(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewScenario>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_new(&body)?;
    let idem = key.bind("POST /scenarios", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageIndustry)?;
        once.create(conn, |conn| define(conn, &ctx, body))
    })
    .await
}

/// What is checked before the database: the code's shape and the texts' lengths.
fn check_new(body: &NewScenario) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if !valid_code(&body.code) {
        v.error("code", "must be 2-64 lower-case letters, digits or underscores");
    }
    v.text("title", &body.title, 200);
    if body.description.chars().count() > 5000 {
        v.error("description", "must be at most 5000 characters");
    }
    v.finish()
}

/// Defines a scenario with its audit row; a code in use is 409 `scenario_code_taken`.
pub fn define(conn: &mut DbConn, ctx: &AuthContext, body: NewScenario) -> Result<Scenario, ApiError> {
    let exists: bool = diesel::select(diesel::dsl::exists(scenarios::table.find(&body.code))).get_result(conn)?;
    if exists {
        return Err(
            ApiError::conflict(ErrorCode::ScenarioCodeTaken, "A scenario with this code exists.")
                .with_context(serde_json::json!({ "existing_code": body.code })),
        );
    }
    let row = ScenarioRow {
        code: body.code,
        title: body.title.trim().to_string(),
        description: body.description,
        created_at: now(),
    };
    diesel::insert_into(scenarios::table).values(&row).execute(conn)?;
    let scenario = Scenario::from(row);
    audit::created(conn, ctx, "scenario.create", &scenario)?;
    Ok(scenario)
}
crate::audit::audited!(Scenario, "scenario", code);
crate::http::idempotency::located!(Scenario);
