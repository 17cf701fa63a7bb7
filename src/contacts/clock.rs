//! The staleness clock: records `library_contact.stale` once per verification of a contact.
//!
//! `stale_reminded_for` holds the `verified_on` a reminder was recorded for, so re-verifying
//! (a new `verified_on`) and going stale again reminds again. The event's dedupe key carries
//! the same date, so instances sweeping at once record it only once.

use actix_web::web;
use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::{stale_before, today, ContactRow, STALE_AFTER_DAYS};
use crate::db::schema::{device_models, library_contacts as lc, organisations};
use crate::db::DbConn;
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::notifications::audience::Audience;
use crate::AppState;

/// Most contacts one sweep reminds about; the rest wait for the next tick.
const BATCH: i64 = 500;

/// Records `library_contact.stale` (topic `roadmaps`, scoped to the manufacturer and, when the
/// entry is for one product, that product) for each contact that is stale on `today` and was
/// not yet reminded about for its current `verified_on`, and marks it reminded in the same
/// transaction. Returns how many events it recorded. Run it inside a write transaction.
pub fn sweep(conn: &mut DbConn, today: NaiveDate) -> Result<usize, ApiError> {
    let due: Vec<ContactRow> = lc::table
        .filter(lc::verified_on.lt(stale_before(today)))
        .filter(
            lc::stale_reminded_for
                .is_null()
                .or(lc::stale_reminded_for.ne(lc::verified_on.nullable())),
        )
        .select(ContactRow::as_select())
        .order(lc::id.asc())
        .limit(BATCH)
        .load(conn)?;
    let mut count = 0;
    for contact in due {
        let manufacturer: String = organisations::table
            .find(&contact.manufacturer_org_id)
            .select(organisations::name)
            .first(conn)?;
        let product: Option<(String, String)> = match &contact.device_model_id {
            Some(id) => device_models::table
                .find(id)
                .select((device_models::name, device_models::device_type))
                .first(conn)
                .optional()?,
            None => None,
        };
        let subject = match &product {
            Some((name, _)) => format!("{manufacturer} ({name})"),
            None => manufacturer.clone(),
        };
        let verified = contact.verified_on.format("%Y-%m-%d");
        let summary = format!(
            "The firmware-library contact {} for {subject} was last verified on {verified}, \
             more than {STALE_AFTER_DAYS} days ago; please check it",
            contact.contact_name
        );
        let event = NewEvent::new(
            Topic::Roadmaps,
            "library_contact.stale",
            "library_contact",
            &contact.id,
            summary,
        )
        .details(serde_json::json!({
            "contact_id": contact.id,
            "manufacturer_org_id": contact.manufacturer_org_id,
            "device_model_id": contact.device_model_id,
            "verified_on": contact.verified_on,
        }))
        .audience(Audience::OwnerAdmins {
            owner_org_id: contact.manufacturer_org_id.clone(),
        })
        .scope(
            product.iter().map(|(_, device_type)| device_type.clone()).collect(),
            contact.device_model_id.iter().cloned().collect(),
            vec![contact.manufacturer_org_id.clone()],
        )
        .once(format!("library_contact.stale:{}:{verified}", contact.id));
        if events::record_once(conn, event)? {
            count += 1;
        }
        diesel::update(lc::table.find(&contact.id))
            .set(lc::stale_reminded_for.eq(contact.verified_on))
            .execute(conn)?;
    }
    Ok(count)
}

/// Spawns the sweep every `window_clock_interval_seconds` (none when 0). It reuses the window
/// clock's setting as its tick: staleness changes once a day, so any tick that keeps windows
/// current is more than often enough, and one setting turns both clocks off.
pub fn start(state: &web::Data<AppState>) {
    crate::ops::clock::every(state, "library contact", |conn| sweep(conn, today()));
}
