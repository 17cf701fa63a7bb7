//! Per-cell aggregates of results: `result_cells` (per window, device set and scenario, how
//! many `industry` and how many `participants` results have each outcome: one row per cell)
//! and `result_publishers` (window, organisation, visibility -> n), kept by every result write
//! in its own transaction ([`Deltas`], applied by `results::model::upsert`), and rebuilt from
//! `results` by [`rebuild`] after bulk loads (the seeds) and by the migration.
//!
//! The grid reads a window's cells ([`cells_sql`]: one row per cell instead of one per result) and
//! counts from `results` only the reader's own results that the cells cannot attribute
//! ([`OWN`]: its `private` working notes; its `participants` results when it does not see other
//! organisations' ones). Together they are exactly the `VISIBLE` rule of `results::visibility`, split
//! along the organisation: own OR industry OR (participants AND sees), and (own private counts
//! OR not private).

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{DbBackend, DbConn, DeviceSetId, OrgId, WindowId};
use crate::http::ApiError;
use crate::results::model::ResultRow;

/// Outcomes in the order of the cells' columns.
pub const OUTCOMES: [&str; 5] = ["fail", "blocked", "pass_with_observations", "pass", "not_run"];

/// Cells per multi-row statement (13 values each, inside SQLite's variable limit).
const CHUNK: usize = 200;

/// The count columns: `industry_<outcome>` then `participants_<outcome>`.
fn columns() -> Vec<String> {
    ["industry", "participants"]
        .iter()
        .flat_map(|v| OUTCOMES.iter().map(move |o| format!("{v}_{o}")))
        .collect()
}

/// Where a result counts in its cell's columns, if anywhere (`private` ones do not).
fn column(visibility: &str, outcome: &str) -> Option<usize> {
    let base = match visibility {
        "industry" => 0,
        "participants" => OUTCOMES.len(),
        _ => return None,
    };
    OUTCOMES.iter().position(|o| *o == outcome).map(|i| base + i)
}

/// What a write changes in the aggregates: +1 for the row as written, -1 for the row it
/// replaced, summed per key so that a batch applies each key once.
#[derive(Debug, Default)]
pub struct Deltas {
    /// (window, set, scenario) -> change per count column.
    cells: BTreeMap<(WindowId, DeviceSetId, String), [i64; 10]>,
    /// (window, organisation, visibility) -> change.
    publishers: BTreeMap<(WindowId, OrgId, String), i64>,
}

impl Deltas {
    fn add(&mut self, row: &ResultRow, by: i64) {
        if let Some(col) = column(row.visibility.as_str(), row.outcome.as_str()) {
            self.cells
                .entry((
                    row.window_id.clone(),
                    row.device_set_id.clone(),
                    row.scenario_code.clone(),
                ))
                .or_default()[col] += by;
        }
        *self
            .publishers
            .entry((
                row.window_id.clone(),
                row.org_id.clone(),
                row.visibility.as_str().to_string(),
            ))
            .or_default() += by;
    }

    /// A result written: `before` is the row it replaced, if any.
    pub fn written(&mut self, before: Option<&ResultRow>, after: &ResultRow) {
        if let Some(b) = before {
            self.add(b, -1);
        }
        self.add(after, 1);
    }

    /// Applies the changes, keys in order (so concurrent PostgreSQL writers lock rows in the
    /// same order and cannot deadlock on them).
    pub fn apply(self, conn: &mut DbConn) -> Result<(), ApiError> {
        let cells: Vec<_> = self
            .cells
            .into_iter()
            .filter(|(_, d)| d.iter().any(|n| *n != 0))
            .collect();
        let cols = columns();
        let set: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} = result_cells.{c} + excluded.{c}"))
            .collect();
        for chunk in cells.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_cells (window_id, device_set_id, scenario_code, {}) VALUES {} \
                 ON CONFLICT (window_id, device_set_id, scenario_code) DO UPDATE SET {}",
                cols.join(", "),
                crate::db::sql::values_clause(conn, chunk.len(), 3 + cols.len(), None),
                set.join(", ")
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for ((w, s, c), d) in chunk {
                q = q
                    .bind::<Text, _>(w.clone())
                    .bind::<Text, _>(s.clone())
                    .bind::<Text, _>(c.clone());
                for n in d {
                    q = q.bind::<BigInt, _>(*n);
                }
            }
            q.execute(conn)?;
        }
        let publishers: Vec<_> = self.publishers.into_iter().filter(|(_, n)| *n != 0).collect();
        for chunk in publishers.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_publishers (window_id, org_id, visibility, n) VALUES {} \
                 ON CONFLICT (window_id, org_id, visibility) DO UPDATE SET n = result_publishers.n + excluded.n",
                crate::db::sql::values_clause(conn, chunk.len(), 4, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for ((w, o, v), n) in chunk {
                q = q
                    .bind::<Text, _>(w.clone())
                    .bind::<Text, _>(o.clone())
                    .bind::<Text, _>(v.clone())
                    .bind::<BigInt, _>(*n);
            }
            q.execute(conn)?;
        }
        Ok(())
    }
}

/// The recount [`rebuild`] writes and the tests compare the kept aggregates with.
pub fn recount_sql() -> String {
    let sums: Vec<String> = ["industry", "participants"]
        .iter()
        .flat_map(|v| {
            OUTCOMES.iter().map(move |o| {
                format!("SUM(CASE WHEN visibility = '{v}' AND outcome = '{o}' THEN 1 ELSE 0 END) AS {v}_{o}")
            })
        })
        .collect();
    format!(
        "SELECT window_id, device_set_id, scenario_code, {} FROM results WHERE visibility <> 'private' \
         GROUP BY window_id, device_set_id, scenario_code",
        sums.join(", ")
    )
}

/// Recounts both aggregates from `results` (after rows were loaded around [`Deltas`]).
pub fn rebuild(conn: &mut DbConn) -> QueryResult<()> {
    super::versions::bump_all(conn)?;
    conn.batch_execute(&format!(
        "DELETE FROM result_cells;
         DELETE FROM result_publishers;
         INSERT INTO result_cells (window_id, device_set_id, scenario_code, {}) {};
         INSERT INTO result_publishers (window_id, org_id, visibility, n)
             SELECT window_id, org_id, visibility, COUNT(*)
             FROM results GROUP BY window_id, org_id, visibility;",
        columns().join(", "),
        recount_sql()
    ))
}

/// The cells of window `$1`: per (set, scenario), the `industry` counts then the
/// `participants` counts, in the order of [`OUTCOMES`]. [`Cell::visible`] picks what a reader
/// sees.
pub fn cells_sql() -> String {
    format!(
        "SELECT device_set_id, scenario_code, {} FROM result_cells WHERE window_id = $1",
        columns().join(", ")
    )
}

/// One row of [`cells_sql`].
#[derive(Debug, QueryableByName)]
pub struct Cell {
    #[diesel(sql_type = Text)]
    pub device_set_id: DeviceSetId,
    #[diesel(sql_type = Text)]
    pub scenario_code: String,
    #[diesel(sql_type = BigInt)]
    industry_fail: i64,
    #[diesel(sql_type = BigInt)]
    industry_blocked: i64,
    #[diesel(sql_type = BigInt)]
    industry_pass_with_observations: i64,
    #[diesel(sql_type = BigInt)]
    industry_pass: i64,
    #[diesel(sql_type = BigInt)]
    industry_not_run: i64,
    #[diesel(sql_type = BigInt)]
    participants_fail: i64,
    #[diesel(sql_type = BigInt)]
    participants_blocked: i64,
    #[diesel(sql_type = BigInt)]
    participants_pass_with_observations: i64,
    #[diesel(sql_type = BigInt)]
    participants_pass: i64,
    #[diesel(sql_type = BigInt)]
    participants_not_run: i64,
}

impl Cell {
    /// The counts, in the order of [`OUTCOMES`], of every organisation's `industry` results
    /// and, when the reader sees them (`sees_participants`), `participants` ones.
    pub fn visible(&self, sees_participants: bool) -> [i64; 5] {
        let industry = [
            self.industry_fail,
            self.industry_blocked,
            self.industry_pass_with_observations,
            self.industry_pass,
            self.industry_not_run,
        ];
        let participants = [
            self.participants_fail,
            self.participants_blocked,
            self.participants_pass_with_observations,
            self.participants_pass,
            self.participants_not_run,
        ];
        std::array::from_fn(|i| industry[i] + if sees_participants { participants[i] } else { 0 })
    }
}

/// Per (set, scenario, outcome), the reader's own results of window `$1` (`$2` its
/// organisation) at the visibilities `$3` and `$4` (the same one twice when only one is
/// wanted): those [`cells_sql`] does not hold. See [`own_visibilities`].
pub const OWN: &str = "SELECT device_set_id, scenario_code, outcome, COUNT(*) AS n
    FROM results
    WHERE window_id = $1 AND org_id = $2 AND visibility IN ($3, $4)
    GROUP BY device_set_id, scenario_code, outcome";

/// The visibilities of the reader's own results that the cells do not hold for it: its
/// `participants` ones when it does not see other organisations' (`!sees_participants`), its
/// `private` ones when they count (`own_private`); none (no query at all) otherwise.
pub fn own_visibilities(sees_participants: bool, own_private: bool) -> Option<(&'static str, &'static str)> {
    match (!sees_participants, own_private) {
        (true, true) => Some(("participants", "private")),
        (true, false) => Some(("participants", "participants")),
        (false, true) => Some(("private", "private")),
        (false, false) => None,
    }
}

/// Per organisation, the results of window `$1` it published that a reader may see: the
/// `VISIBLE` rule of `results::visibility` itself, applied to the aggregate (named `results` for it).
pub fn publishers_sql(visible: &str) -> String {
    format!(
        "SELECT results.org_id, o.name AS org_name, CAST(SUM(results.n) AS BIGINT) AS n
        FROM result_publishers results JOIN organisations o ON o.id = results.org_id
        WHERE {visible} AND o.kind = 'supplier'
        GROUP BY results.org_id, o.name
        HAVING SUM(results.n) > 0
        ORDER BY o.name, results.org_id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_results_are_counted_only_where_the_cells_leave_them_out() {
        assert_eq!(own_visibilities(true, false), None, "a participant's shared evidence");
        assert_eq!(own_visibilities(true, true), Some(("private", "private")));
        assert_eq!(own_visibilities(false, false), Some(("participants", "participants")));
        assert_eq!(own_visibilities(false, true), Some(("participants", "private")));
    }
}
