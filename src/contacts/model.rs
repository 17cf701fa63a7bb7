//! Library contacts: rows, the API type (with `stale`), validation and queries.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::library_contacts as lc;
use crate::db::{now, DbConn, DeviceModelId, OrgId};
use crate::http::validate::{is_email, Validator};

/// A contact not verified for this many days is stale.
pub const STALE_AFTER_DAYS: i64 = 365;

pub const MAX_NAME: usize = 200;
pub const MAX_EMAIL: usize = 254;
pub const MAX_URL: usize = 2000;
pub const MAX_NOTES: usize = 4000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lc)]
pub struct ContactRow {
    pub id: String,
    pub manufacturer_org_id: OrgId,
    pub device_model_id: Option<DeviceModelId>,
    pub contact_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub url: Option<String>,
    pub notes: String,
    pub verified_on: NaiveDate,
    pub stale_reminded_for: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// Today's date in UTC, the calendar staleness is counted in.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Contacts verified before this date are stale on `today`.
pub fn stale_before(today: NaiveDate) -> NaiveDate {
    today - Duration::days(STALE_AFTER_DAYS)
}

/// Whom a gaining supplier contacts for a manufacturer's (or one product's) firmware and support.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LibraryContact {
    pub id: String,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    /// The product this contact is for; null for all of the manufacturer's products.
    #[schema(value_type = Option<String>)]
    pub device_model_id: Option<DeviceModelId>,
    #[schema(example = "Firmware library desk")]
    pub contact_name: String,
    #[schema(example = "firmware@meterwise.example")]
    pub email: String,
    #[schema(example = "+44 20 7946 0000")]
    pub phone: Option<String>,
    #[schema(example = "https://meterwise.example/firmware")]
    pub url: Option<String>,
    pub notes: String,
    /// When the entry was last confirmed to be right.
    pub verified_on: NaiveDate,
    /// Not verified for more than 365 days.
    pub stale: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LibraryContact {
    pub fn new(r: ContactRow, today: NaiveDate) -> Self {
        Self {
            stale: r.verified_on < stale_before(today),
            id: r.id,
            manufacturer_org_id: r.manufacturer_org_id,
            device_model_id: r.device_model_id,
            contact_name: r.contact_name,
            email: r.email,
            phone: r.phone,
            url: r.url,
            notes: r.notes,
            verified_on: r.verified_on,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// Digits, spaces, `+`, `-` and parentheses, 5-30 characters, with at least five digits.
pub fn is_phone(value: &str) -> bool {
    let n = value.chars().count();
    (5..=30).contains(&n)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'))
        && value.chars().filter(|c| c.is_ascii_digit()).count() >= 5
}

/// An absolute `http` or `https` URL with a host and no spaces.
pub fn is_web_url(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let rest = match lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        Some(rest) => rest,
        None => return false,
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty()
        && !host.starts_with(':')
        && !host.starts_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Field checks shared by create and update; `None` means "not given".
pub struct ContactFields<'a> {
    pub contact_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub url: Option<&'a str>,
    pub notes: Option<&'a str>,
    pub verified_on: Option<NaiveDate>,
}

pub fn check(v: &mut Validator, f: ContactFields<'_>, today: NaiveDate) {
    if let Some(name) = f.contact_name {
        v.text("contact_name", name, MAX_NAME);
    }
    if let Some(email) = f.email {
        if email.chars().count() > MAX_EMAIL || !is_email(email.trim()) {
            v.error("email", "must be a valid email address");
        }
    }
    if let Some(phone) = f.phone {
        if !is_phone(phone.trim()) {
            v.error(
                "phone",
                "must be 5-30 characters of digits, spaces, +, - and parentheses",
            );
        }
    }
    if let Some(url) = f.url {
        if url.chars().count() > MAX_URL {
            v.error("url", format!("must be at most {MAX_URL} characters"));
        } else if !is_web_url(url.trim()) {
            v.error("url", "must be an http:// or https:// URL");
        }
    }
    if let Some(notes) = f.notes {
        if notes.chars().count() > MAX_NOTES {
            v.error("notes", format!("must be at most {MAX_NOTES} characters"));
        }
    }
    if let Some(date) = f.verified_on {
        if !(0..=9999).contains(&date.year()) {
            v.error("verified_on", "must have a four-digit year (0000-9999)");
        } else if date > today {
            v.error("verified_on", "must not be in the future");
        }
    }
}

/// What a list is narrowed to.
#[derive(Debug, Default)]
pub struct ContactFilter {
    pub manufacturer_org_id: Option<OrgId>,
    pub device_model_id: Option<DeviceModelId>,
    pub stale: Option<bool>,
}

pub fn list(
    conn: &mut DbConn,
    filter: ContactFilter,
    today: NaiveDate,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<ContactRow>> {
    let mut q = lc::table.select(ContactRow::as_select()).into_boxed();
    if let Some(org) = filter.manufacturer_org_id {
        q = q.filter(lc::manufacturer_org_id.eq(org));
    }
    if let Some(model) = filter.device_model_id {
        q = q.filter(lc::device_model_id.eq(model));
    }
    match filter.stale {
        Some(true) => q = q.filter(lc::verified_on.lt(stale_before(today))),
        Some(false) => q = q.filter(lc::verified_on.ge(stale_before(today))),
        None => {}
    }
    if let Some(after) = after {
        q = q.filter(lc::id.gt(after));
    }
    q.order(lc::id.asc()).limit(limit).load(conn)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<ContactRow>> {
    lc::table
        .find(id)
        .select(ContactRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConn, row: &ContactRow) -> QueryResult<()> {
    diesel::insert_into(lc::table).values(row).execute(conn).map(|_| ())
}

/// Saves every editable field when the row is still at `row.version`; the saved row, or
/// `None` when it moved on.
pub fn update(conn: &mut DbConn, row: &ContactRow) -> QueryResult<Option<ContactRow>> {
    let n = diesel::update(lc::table.find(&row.id).filter(lc::version.eq(row.version)))
        .set((
            lc::device_model_id.eq(&row.device_model_id),
            lc::contact_name.eq(&row.contact_name),
            lc::email.eq(&row.email),
            lc::phone.eq(&row.phone),
            lc::url.eq(&row.url),
            lc::notes.eq(&row.notes),
            lc::verified_on.eq(row.verified_on),
            lc::updated_at.eq(now()),
            lc::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    if n != 1 {
        return Ok(None);
    }
    find(conn, &row.id)
}

/// Deletes the contact when it is still at `version`; `false` when it moved on.
pub fn delete(conn: &mut DbConn, id: &str, version: i64) -> QueryResult<bool> {
    let n = diesel::delete(lc::table.find(id).filter(lc::version.eq(version))).execute(conn)?;
    Ok(n == 1)
}
crate::audit::audited!(LibraryContact, "library_contact", id, owner = manufacturer_org_id);
crate::http::idempotency::located!(LibraryContact, "/api/v1/library-contacts", id);

#[cfg(test)]
mod tests {
    use super::{is_phone, is_web_url};

    #[test]
    fn phones_are_digits_and_a_little_punctuation() {
        for ok in ["+44 20 7946 0000", "(020) 7946-0000", "01234"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in ["1234", "call me", "+44 20 7946 0000 ext 5", "+()- 12", &"1".repeat(31)] {
            assert!(!is_phone(bad), "{bad}");
        }
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        for ok in [
            "https://meterwise.example/firmware",
            "http://x.example",
            "HTTPS://A.example?q=1",
        ] {
            assert!(is_web_url(ok), "{ok}");
        }
        for bad in [
            "ftp://x.example",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://a b.example",
            "meterwise.example",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
