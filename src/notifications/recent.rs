//! The latest changes a reader may hear of, for the home page: the newest change events, each
//! kept only when its stated audience ([`Audience::admits`], the fan-out's rule) takes this reader,
//! named and worded as the notification emails are.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audience::{self, Audience, Participation, Reader};
use super::changes::{change, ChangeRow};
use super::email::Change;
use super::wording;
use crate::db::schema::change_events as ce;
use crate::db::{DbConn, JsonText};

/// Events read per query while looking for `limit` the reader may see.
const SCAN_CHUNK: i64 = 200;

/// At most this many events are looked at, however few of them the reader may see.
const SCAN_MAX: i64 = 2_000;

/// Up to `limit` of the newest changes `reader` would be notified of, newest first, with the
/// names filled in (see [`wording::describe`]).
pub fn latest_for(conn: &mut DbConn, reader: &Reader, now: NaiveDateTime, limit: usize) -> QueryResult<Vec<Change>> {
    let mut participation = Participation::default();
    let mut open_loaded = false;
    let mut found: Vec<Change> = Vec::new();
    let mut before: Option<String> = None;
    let mut scanned = 0;
    // Newest first by id (UUIDv7, so in the order they were recorded), on the primary key's
    // index, a chunk at a time.
    while found.len() < limit && scanned < SCAN_MAX {
        let mut query = ce::table.select((ChangeRow::as_select(), ce::audience)).into_boxed();
        if let Some(before) = before.take() {
            query = query.filter(ce::id.lt(before));
        }
        let rows: Vec<(ChangeRow, JsonText<Audience>)> = query.order(ce::id.desc()).limit(SCAN_CHUNK).load(conn)?;
        let chunk = rows.len() as i64;
        scanned += chunk;
        before = rows.last().map(|r| r.0.id.clone());
        for (row, JsonText(audience)) in rows {
            let c = change(row);
            if matches!(audience, Audience::Participants { .. }) && !open_loaded {
                participation.open = audience::open_window_participants(conn, now)?;
                open_loaded = true;
            }
            participation.load_windows(conn, std::iter::once(&audience))?;
            if audience.admits(Some(reader), &participation) {
                found.push(c);
                if found.len() == limit {
                    break;
                }
            }
        }
        if chunk < SCAN_CHUNK {
            break;
        }
    }
    wording::name_all(conn, found.iter_mut())?;
    Ok(found)
}
