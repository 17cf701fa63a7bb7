//! Who may read a result, written once. A result is read by its own organisation always;
//! `industry` results by every organisation; `participants` results by the operator and by
//! the organisations that joined the result's UIT window; `private` results by no one else.
//!
//! The rule has three forms, one per way the service reads results, and they live here side
//! by side: [`visible_to`] (a diesel predicate, for lists and joins), [`VISIBLE`] with
//! [`lens`] (an SQL fragment and its binds, for the matrix's aggregates) and [`may_read`]
//! (a check of one row). The unit test below runs all three over one table of cases.

use diesel::prelude::*;

use crate::auth::AuthContext;
use crate::db::schema::{results as r, window_participants as wp};
use crate::db::{DbBackend, DbConn, OrgId, WindowId};

/// The boxed results query, narrowed to what `ctx` may read: its own organisation's results,
/// `industry` ones, and `participants` ones of windows it joined (all of them for the operator).
pub fn visible_to(ctx: &AuthContext) -> r::BoxedQuery<'static, DbBackend> {
    let org = ctx.org_id.clone();
    let own_or_industry = r::org_id
        .eq(org.clone())
        .or(r::visibility.eq(crate::results::model::Visibility::Industry));
    if ctx.is_operator() {
        r::table
            .filter(own_or_industry.or(r::visibility.eq(crate::results::model::Visibility::Participants)))
            .into_boxed()
    } else {
        let joined = wp::table.filter(wp::org_id.eq(org)).select(wp::window_id);
        r::table
            .filter(
                own_or_industry.or(r::visibility
                    .eq(crate::results::model::Visibility::Participants)
                    .and(r::window_id.eq_any(joined))),
            )
            .into_boxed()
    }
}

/// Whether `ctx` may read a result of `org_id` with `visibility` in `window_id`.
pub fn may_read(
    conn: &mut DbConn,
    ctx: &AuthContext,
    org_id: &OrgId,
    visibility: &str,
    window_id: &WindowId,
) -> QueryResult<bool> {
    Ok(match visibility {
        _ if org_id == ctx.org_id => true,
        "industry" => true,
        "participants" if ctx.is_operator() => true,
        "participants" => is_participant(conn, window_id, &ctx.org_id)?,
        _ => false,
    })
}

/// Whether `org_id` joined UIT window `window_id`.
pub fn is_participant(conn: &mut DbConn, window_id: &WindowId, org_id: &OrgId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        wp::table.filter(wp::window_id.eq(window_id).and(wp::org_id.eq(org_id))),
    ))
    .get_result(conn)
}

/// The results of window `$1` the caller may see: its organisation's (`$2`), `industry` ones,
/// and `participants` ones when it may see those (`$3`); its own `private` ones only when
/// `$4` (shared evidence leaves them out). Bind with [`lens`]. (`$n` placeholders work on
/// both backends: SQLite reads `$2` as a named parameter bound by first use.)
pub const VISIBLE: &str = "results.window_id = $1
      AND (results.org_id = $2 OR results.visibility = 'industry'
           OR (results.visibility = 'participants' AND $3))
      AND ($4 OR results.visibility <> 'private')";

/// Which of the results a caller may see a grid counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Every result the caller may read, its own private working notes included (the matrix
    /// and coverage).
    Readable,
    /// Shared evidence only: the results at `participants` or `industry` visibility the caller
    /// may read. A `private` result counts for no one else, the operator included, and not for
    /// its owner either, since nobody else could check it (readiness).
    Shared,
    /// `industry` results only, whoever asks: what every organisation may read (review packs).
    Industry,
}

/// The binds behind [`VISIBLE`] for `ctx` and `evidence`: the reader's organisation, whether
/// it sees `participants` results, whether its own `private` ones count. For
/// [`Evidence::Industry`] the organisation is the empty string, which no organisation's id is.
pub fn lens(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    evidence: Evidence,
) -> QueryResult<(String, bool, bool)> {
    Ok(match evidence {
        Evidence::Industry => (String::new(), false, false),
        Evidence::Readable | Evidence::Shared => (
            ctx.org_id.to_string(),
            ctx.is_operator() || is_participant(conn, window_id, &ctx.org_id)?,
            evidence == Evidence::Readable,
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{Bool, Text};

    use super::*;
    use crate::auth::{OrgKind, Role};
    use crate::db::{migrations, DbTarget};

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }

    fn reader(org: &str, kind: OrgKind) -> AuthContext {
        AuthContext {
            user_id: format!("{org}-user").into(),
            org_id: org.into(),
            org_kind: kind,
            role: Role::Member,
            email: format!("{org}@example.test"),
            api_token_id: None,
            request_id: None,
        }
    }

    /// One table of cases: results of `pub` (a participant of window w1, not of w2) at each
    /// visibility in both windows, read by the publisher, a participant of w1, an outsider
    /// and the operator. The diesel predicate, the SQL fragment and the row check must each
    /// give exactly the expected set.
    #[test]
    fn the_three_forms_of_the_rule_agree_with_the_table() {
        let mut conn = DbTarget::parse("sqlite://:memory:", "normal")
            .unwrap()
            .connect()
            .unwrap();
        migrations::run_pending(&mut conn).unwrap();
        let DbConn::Sqlite(c) = &mut conn else { unreachable!() };
        c.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        let visibilities = ["private", "participants", "industry"];
        let mut rows = Vec::new();
        for window in ["w1", "w2"] {
            for (i, visibility) in visibilities.iter().enumerate() {
                let id = format!("{window}-{visibility}");
                c.batch_execute(&format!(
                    "INSERT INTO results (id, window_id, device_set_id, scenario_code, org_id, outcome, \
                     visibility, created_at, updated_at) VALUES ('{id}', '{window}', 'set{i}', \
                     'change_of_mode', 'pub', 'pass', '{visibility}', '2026-12-01', '2026-12-01')"
                ))
                .unwrap();
                rows.push((id, window, *visibility));
            }
        }
        for (window, org) in [("w1", "pub"), ("w1", "joined"), ("w2", "pub")] {
            c.batch_execute(&format!(
                "INSERT INTO window_participants (window_id, org_id, joined_at) VALUES ('{window}', '{org}', '2026-12-01')"
            ))
            .unwrap();
        }
        let all: Vec<&str> = rows.iter().map(|(id, ..)| id.as_str()).collect();
        let expected: [(&str, OrgKind, Vec<&str>); 4] = [
            ("pub", OrgKind::Supplier, all.clone()),
            (
                "joined",
                OrgKind::Supplier,
                vec!["w1-participants", "w1-industry", "w2-industry"],
            ),
            ("outsider", OrgKind::Supplier, vec!["w1-industry", "w2-industry"]),
            (
                "dcc",
                OrgKind::Operator,
                vec!["w1-participants", "w1-industry", "w2-participants", "w2-industry"],
            ),
        ];
        for (org, kind, want) in expected {
            let ctx = reader(org, kind);
            let want: BTreeSet<String> = want.into_iter().map(str::to_string).collect();
            let by_predicate: BTreeSet<String> = visible_to(&ctx)
                .select(r::id)
                .load(&mut conn)
                .unwrap()
                .into_iter()
                .collect();
            let mut by_sql = BTreeSet::new();
            for window in ["w1", "w2"] {
                let (reader_org, sees_participants, own_private) =
                    lens(&mut conn, &ctx, &WindowId::from(window), Evidence::Readable).unwrap();
                let ids: Vec<Id> = diesel::sql_query(format!("SELECT id FROM results WHERE {VISIBLE}"))
                    .bind::<Text, _>(window)
                    .bind::<Text, _>(reader_org)
                    .bind::<Bool, _>(sees_participants)
                    .bind::<Bool, _>(own_private)
                    .load(&mut conn)
                    .unwrap();
                by_sql.extend(ids.into_iter().map(|r| r.id));
            }
            let by_check: BTreeSet<String> = rows
                .iter()
                .filter(|(_, window, visibility)| {
                    may_read(
                        &mut conn,
                        &ctx,
                        &OrgId::from("pub"),
                        visibility,
                        &WindowId::from(*window),
                    )
                    .unwrap()
                })
                .map(|(id, ..)| id.clone())
                .collect();
            assert_eq!(by_predicate, want, "diesel predicate, reader {org}");
            assert_eq!(by_sql, want, "SQL fragment, reader {org}");
            assert_eq!(by_check, want, "row check, reader {org}");
        }
    }
}
