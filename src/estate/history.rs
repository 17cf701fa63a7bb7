//! A device set's installed count over time, as the DPL imports recorded it.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::device_set_prevalence as dsp;
use crate::db::{DbConn, DeviceSetId};
use crate::http::ApiError;

/// A set's installed count as of one DPL date.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct PrevalencePoint {
    pub as_of: NaiveDate,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub installed_count: i64,
    /// The import that recorded it.
    pub import_id: String,
}

/// A device set's prevalence history, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrevalenceHistory {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    /// The set's prevalence today: the count of its latest DPL date (or, for a set no DPL
    /// named, the figure it was registered or edited with).
    pub prevalence: i64,
    pub history: Vec<PrevalencePoint>,
}

/// The history of set `id`, for whoever may read the set (its read rule: every signed-in
/// organisation reads every set, see `device_sets::handlers::get_device_set`); 404 when
/// there is no such set.
pub fn of_set(conn: &mut DbConn, id: &str) -> Result<PrevalenceHistory, ApiError> {
    let set = crate::device_sets::model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let history = dsp::table
        .filter(dsp::device_set_id.eq(id))
        .order(dsp::as_of.desc())
        .select((dsp::as_of, dsp::installed_count, dsp::import_id))
        .load::<PrevalencePoint>(conn)?;
    Ok(PrevalenceHistory {
        device_set_id: set.id,
        prevalence: set.prevalence,
        history,
    })
}
