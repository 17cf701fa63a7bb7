//! Change events as emails and the home page read them back: the row, its columns, and the
//! context a batch of notifications renders from.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::email::Change;
use super::model::SubscriptionRow;
use crate::db::schema::{change_events as ce, notifications as n, subscriptions as s};
use crate::db::{DbConn, OrgId};

/// What rendering a batch needs, loaded in three queries.
pub struct Context {
    pub subscriptions: HashMap<String, SubscriptionRow>,
    pub changes: HashMap<String, Change>,
    /// Digest id -> its changes, oldest first.
    pub digests: HashMap<String, Vec<Change>>,
}

/// The columns of a change event that an email or the home page quotes.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ce)]
pub struct ChangeRow {
    pub id: String,
    occurred_at: NaiveDateTime,
    topic: String,
    kind: String,
    entity_type: String,
    entity_id: String,
    summary: String,
    details_json: String,
    actor_org_id: Option<OrgId>,
}

pub fn change(row: ChangeRow) -> Change {
    let details = serde_json::from_str(&row.details_json).unwrap_or_else(|error| {
        // The email goes out without the details it would quote.
        tracing::error!(change_event_id = %row.id, %error, "stored details of a change do not read");
        serde_json::Value::Null
    });
    Change {
        id: row.id,
        occurred_at: row.occurred_at,
        topic: row.topic,
        kind: row.kind,
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        summary: row.summary,
        details,
        actor_org_id: row.actor_org_id,
        names: Default::default(),
    }
}

impl Context {
    /// Loads the subscriptions, the change events and the digests' changes (named) that a
    /// batch of notifications renders from.
    pub fn load(
        conn: &mut DbConn,
        mut sub_ids: Vec<&str>,
        mut event_ids: Vec<&str>,
        digest_ids: Vec<&str>,
    ) -> QueryResult<Context> {
        sub_ids.sort_unstable();
        sub_ids.dedup();
        let subscriptions = s::table
            .filter(s::id.eq_any(&sub_ids))
            .select(SubscriptionRow::as_select())
            .load::<SubscriptionRow>(conn)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let changes = ce::table
            .filter(ce::id.eq_any(&event_ids))
            .select(ChangeRow::as_select())
            .load::<ChangeRow>(conn)?
            .into_iter()
            .map(|r| (r.id.clone(), change(r)))
            .collect();
        let mut digests: HashMap<String, Vec<Change>> = HashMap::new();
        if !digest_ids.is_empty() {
            let items: Vec<(Option<String>, ChangeRow)> = n::table
                .inner_join(ce::table)
                .filter(n::digest_id.eq_any(&digest_ids))
                .order((ce::occurred_at.asc(), ce::id.asc()))
                .select((n::digest_id, ChangeRow::as_select()))
                .load(conn)?;
            for (digest_id, row) in items {
                if let Some(digest_id) = digest_id {
                    digests.entry(digest_id).or_default().push(change(row));
                }
            }
        }
        let mut changes: HashMap<String, Change> = changes;
        super::wording::name_all(conn, changes.values_mut().chain(digests.values_mut().flatten()))?;
        Ok(Context {
            subscriptions,
            changes,
            digests,
        })
    }
}
