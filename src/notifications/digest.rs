//! Daily digests: a daily-digest subscriber's changes of one (UTC) day wait as `digest_item`
//! rows until `notification_digest_hour` o'clock the next day; then they are folded into one
//! `digest` notification, which is delivered like any other.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::fanout::day_end;
use super::{NotificationKind, NotificationStatus};
use crate::db::schema::notifications as n;
use crate::db::{new_id, write_tx, DbConn};
use crate::http::ApiError;

/// Subscriber-days folded per transaction.
const GROUPS_PER_TX: i64 = 500;

/// Folds every digest that is due at `now` (items of days that ended at least `hour` hours
/// ago) into one `digest` row per subscription and day; returns how many digests it made.
/// Run it as often as you like, on every instance: each (subscription, day) gets one digest.
pub fn assemble(conn: &mut DbConn, now: NaiveDateTime, hour: u32) -> Result<usize, ApiError> {
    let cutoff = now - Duration::hours(i64::from(hour));
    let mut made = 0;
    loop {
        // Reading first keeps an idle tick off SQLite's write lock.
        let due = due_groups(conn, cutoff)?;
        if due.is_empty() {
            return Ok(made);
        }
        let count = due.len();
        made += write_tx(conn, |conn| {
            let mut made = 0;
            for (subscription_id, day) in &due {
                made += fold(conn, subscription_id, *day, cutoff, now)?;
            }
            Ok::<_, ApiError>(made)
        })?;
        if (count as i64) < GROUPS_PER_TX {
            return Ok(made);
        }
    }
}

fn due_groups(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<Vec<(String, NaiveDate)>> {
    let rows: Vec<(String, Option<NaiveDate>)> = n::table
        .filter(n::kind.eq(NotificationKind::DigestItem))
        .filter(n::status.eq(NotificationStatus::Pending))
        .filter(n::next_attempt_at.le(cutoff))
        .select((n::subscription_id, n::digest_day))
        .distinct()
        .limit(GROUPS_PER_TX)
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(s, d)| Some((s, d?))).collect())
}

/// Folds one subscriber-day; returns 1 when it made a digest.
fn fold(
    conn: &mut DbConn,
    subscription_id: &str,
    day: NaiveDate,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let items = n::table
        .filter(n::kind.eq(NotificationKind::DigestItem))
        .filter(n::status.eq(NotificationStatus::Pending))
        .filter(n::subscription_id.eq(subscription_id))
        .filter(n::digest_day.eq(day))
        .filter(n::next_attempt_at.le(cutoff));
    let recipient: Option<String> = items.select(n::recipient).order(n::id.desc()).first(conn).optional()?;
    // Another instance folded it between our read and this transaction.
    let Some(recipient) = recipient else {
        return Ok(0);
    };
    let exists: bool = diesel::select(diesel::dsl::exists(
        n::table
            .filter(n::kind.eq(NotificationKind::Digest))
            .filter(n::subscription_id.eq(subscription_id))
            .filter(n::digest_day.eq(day)),
    ))
    .get_result(conn)?;
    let digest_id = match exists {
        false => {
            // Due at once: `now` says which days are over, the clock says when the row is made.
            let made_at = crate::db::now();
            let id = new_id();
            diesel::insert_into(n::table)
                .values((
                    n::id.eq(&id),
                    n::kind.eq(NotificationKind::Digest),
                    n::subscription_id.eq(subscription_id),
                    n::digest_day.eq(day),
                    n::recipient.eq(&recipient),
                    n::status.eq(NotificationStatus::Pending),
                    n::attempts.eq(0),
                    n::next_attempt_at.eq(made_at),
                    n::created_at.eq(made_at),
                    n::updated_at.eq(made_at),
                ))
                .execute(conn)?;
            id
        }
        true => {
            // Stragglers of a day whose digest was already made (a fan-out that lagged past
            // the digest hour) go into the next day's digest rather than be lost; a digest
            // once made is never added to, as a worker may be sending it.
            let next = day + Duration::days(1);
            diesel::update(items)
                .set((
                    n::digest_day.eq(next),
                    n::next_attempt_at.eq(day_end(next)),
                    n::updated_at.eq(now),
                ))
                .execute(conn)?;
            return Ok(0);
        }
    };
    diesel::update(items)
        .set((
            n::status.eq(NotificationStatus::Digested),
            n::digest_id.eq(&digest_id),
            n::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(1)
}
