//! Per-cell aggregates of results: `result_counts` (window, device set, scenario, visibility,
//! outcome -> n) and `result_publishers` (window, organisation, visibility -> n), kept by every
//! result write in its own transaction ([`Deltas`], applied by `results::model::upsert`), and
//! rebuilt from `results` by [`rebuild`] after bulk loads (the seeds) and by the migration.
//!
//! The grid reads shared evidence from the aggregates and counts only the reader's own results
//! that the aggregates cannot attribute (its `private` working notes; its `participants`
//! results when it does not see other organisations' ones) from `results` itself:
//! [`counts_sql`] is the `VISIBLE` rule of `model.rs`, split along the organisation.

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{DbBackend, DbConn};
use crate::http::ApiError;
use crate::results::model::ResultRow;

/// Rows per multi-row statement (6 values each, inside SQLite's variable limit).
const CHUNK: usize = 500;

/// What a write changes in the aggregates: +1 for the row as written, -1 for the row it
/// replaced, summed per key so that a batch applies each key once.
#[derive(Debug, Default)]
pub struct Deltas {
    /// (window, set, scenario, visibility, outcome) -> change.
    counts: BTreeMap<(String, String, String, String, String), i64>,
    /// (window, organisation, visibility) -> change.
    publishers: BTreeMap<(String, String, String), i64>,
}

impl Deltas {
    fn add(&mut self, row: &ResultRow, by: i64) {
        *self
            .counts
            .entry((
                row.window_id.clone(),
                row.device_set_id.clone(),
                row.scenario_code.clone(),
                row.visibility.clone(),
                row.outcome.clone(),
            ))
            .or_default() += by;
        *self
            .publishers
            .entry((row.window_id.clone(), row.org_id.clone(), row.visibility.clone()))
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
        let counts: Vec<_> = self.counts.into_iter().filter(|(_, n)| *n != 0).collect();
        for chunk in counts.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_counts (window_id, device_set_id, scenario_code, visibility, outcome, n) \
                 VALUES {} ON CONFLICT (window_id, device_set_id, scenario_code, visibility, outcome) \
                 DO UPDATE SET n = result_counts.n + excluded.n",
                crate::notifications::fanout::values_clause(conn, chunk.len(), 6, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for ((w, s, c, v, o), n) in chunk {
                q = q
                    .bind::<Text, _>(w.clone())
                    .bind::<Text, _>(s.clone())
                    .bind::<Text, _>(c.clone())
                    .bind::<Text, _>(v.clone())
                    .bind::<Text, _>(o.clone())
                    .bind::<BigInt, _>(*n);
            }
            q.execute(conn)?;
        }
        let publishers: Vec<_> = self.publishers.into_iter().filter(|(_, n)| *n != 0).collect();
        for chunk in publishers.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_publishers (window_id, org_id, visibility, n) VALUES {} \
                 ON CONFLICT (window_id, org_id, visibility) DO UPDATE SET n = result_publishers.n + excluded.n",
                crate::notifications::fanout::values_clause(conn, chunk.len(), 4, None)
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

/// Recounts both aggregates from `results` (after rows were loaded around [`Deltas`]).
pub fn rebuild(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute(
        "DELETE FROM result_counts;
         DELETE FROM result_publishers;
         INSERT INTO result_counts (window_id, device_set_id, scenario_code, visibility, outcome, n)
             SELECT window_id, device_set_id, scenario_code, visibility, outcome, COUNT(*)
             FROM results GROUP BY window_id, device_set_id, scenario_code, visibility, outcome;
         INSERT INTO result_publishers (window_id, org_id, visibility, n)
             SELECT window_id, org_id, visibility, COUNT(*)
             FROM results GROUP BY window_id, org_id, visibility;",
    )
}

/// Per (set, scenario, outcome), the results of window `$1` a reader may see, under the binds
/// of `model::VISIBLE` (`$2` the reader's organisation, `$3` whether it sees `participants`
/// results, `$4` whether its own `private` ones count). Every organisation's `industry`
/// results and, when `$3`, `participants` ones come from the aggregate; the reader's own
/// results outside those (private ones when `$4`; participants ones when not `$3`) from
/// `results`. The two parts never hold the same result, and together they are exactly
/// `VISIBLE`: own OR industry OR (participants AND $3), and ($4 OR not private).
/// A (set, scenario, outcome) can come from both parts: callers add them up. (The binds first
/// appear in the order $1..$4: SQLite numbers `$n` parameters by first appearance.)
pub const COUNTS: &str = "SELECT device_set_id, scenario_code, outcome, COUNT(*) AS n
    FROM results
    WHERE window_id = $1 AND org_id = $2
        AND ((visibility = 'participants' AND NOT $3) OR (visibility = 'private' AND $4))
    GROUP BY device_set_id, scenario_code, outcome
    UNION ALL
    SELECT device_set_id, scenario_code, outcome, CAST(SUM(n) AS BIGINT) AS n
    FROM result_counts
    WHERE window_id = $1 AND (visibility = 'industry' OR (visibility = 'participants' AND $3))
    GROUP BY device_set_id, scenario_code, outcome
    HAVING SUM(n) > 0";

/// Per organisation, the results of window `$1` it published that a reader may see: the
/// `VISIBLE` rule of `model.rs` itself, applied to the aggregate (named `results` for it).
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
