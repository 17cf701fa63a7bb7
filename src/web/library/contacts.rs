//! `/library-contacts`: the firmware library contacts, filtered and paged, on the API's reads.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::{human_date, paginate, Names, Page, Pager, MAX_ROWS};
use crate::contacts::model::{self as contacts, ContactFilter};
use crate::db::{DbConn, OrgId};
use crate::http::ApiError;
use crate::ui::member::Member;
use crate::ui::{render, Chrome, Exposure};
use crate::AppState;

pub struct ContactLine {
    pub anchor: String,
    pub manufacturer: String,
    pub product: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub url: String,
    pub notes: String,
    pub verified: String,
    pub stale: bool,
}

#[derive(Template)]
#[template(path = "lib_contacts.html")]
pub struct ContactsPage {
    pub chrome: Chrome,
    pub contacts: Vec<ContactLine>,
    pub pager: Pager,
    pub stale_count: usize,
    pub manufacturers: Vec<(String, String)>,
    pub manufacturer: String,
    pub stale: String,
}

#[derive(Deserialize)]
pub struct ContactQuery {
    #[serde(default)]
    manufacturer_org_id: String,
    #[serde(default)]
    stale: String,
    page: Option<usize>,
}

/// Every contact, by manufacturer then product, with the API's filters.
fn contact_lines(conn: &mut DbConn, filter: ContactFilter) -> Result<(Vec<(String, ContactLine)>, Names), ApiError> {
    let today = contacts::today();
    let rows = contacts::list(conn, filter, today, None, MAX_ROWS)?;
    let names = Names::load(conn)?;
    let mut lines: Vec<(String, ContactLine)> = rows
        .into_iter()
        .map(|r| contacts::LibraryContact::new(r, today))
        .map(|c| {
            let line = ContactLine {
                anchor: format!("contact-{}", c.id),
                manufacturer: names.org(&c.manufacturer_org_id),
                product: c
                    .device_model_id
                    .as_deref()
                    .and_then(|m| names.model(m))
                    .map(|m| format!("{} ({})", m.name, m.device_type))
                    .unwrap_or_else(|| "every product".into()),
                name: c.contact_name,
                email: c.email,
                phone: c.phone.unwrap_or_default(),
                url: c.url.unwrap_or_default(),
                notes: c.notes,
                verified: human_date(c.verified_on),
                stale: c.stale,
            };
            (c.id, line)
        })
        .collect();
    lines.sort_by(|a, b| {
        (&a.1.manufacturer, &a.1.product, &a.1.name, &a.0).cmp(&(&b.1.manufacturer, &b.1.product, &b.1.name, &b.0))
    });
    Ok((lines, names))
}

/// `/library-contacts`: `GET /library-contacts` (filters: manufacturer, stale), 50 a page.
pub async fn contacts(state: web::Data<AppState>, member: Member, query: web::Query<ContactQuery>) -> Page {
    let q = query.into_inner();
    let page = state.db.run(move |conn| load(conn, &member, q)).await?;
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// The page of contacts `q` asks for: filtered by manufacturer and whether stale, 50 a page,
/// with how many are stale and the manufacturer menu.
fn load(conn: &mut DbConn, member: &Member, q: ContactQuery) -> Result<ContactsPage, ApiError> {
    let manufacturer = q.manufacturer_org_id.trim().to_string();
    let stale = match q.stale.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let filter = ContactFilter {
        manufacturer_org_id: (!manufacturer.is_empty()).then(|| OrgId::from(manufacturer.as_str())),
        device_model_id: None,
        stale,
    };
    let (lines, names) = contact_lines(conn, filter)?;
    let stale_text = stale.map(|s| s.to_string()).unwrap_or_default();
    let stale_count = lines.iter().filter(|(_, l)| l.stale).count();
    let (shown, pager) = paginate(
        lines,
        q.page,
        "/library-contacts",
        &[
            ("manufacturer_org_id", manufacturer.clone()),
            ("stale", stale_text.clone()),
        ],
    );
    Ok(ContactsPage {
        chrome: Chrome::new("Firmware library contacts", Some(member.nav())),
        contacts: shown.into_iter().map(|(_, l)| l).collect(),
        pager,
        stale_count,
        manufacturers: names.manufacturers(),
        manufacturer,
        stale: stale_text,
    })
}

/// `/library-contacts/{id}`: 303 to its row on the list (`GET /library-contacts/{id}` decides
/// whether it exists).
pub async fn contact(state: web::Data<AppState>, _member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let found = state
        .db
        .run(move |conn| {
            contacts::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            let (lines, _) = contact_lines(conn, Default::default())?;
            let at = lines.iter().position(|(c, _)| *c == id).unwrap_or(0);
            Ok((id, at))
        })
        .await;
    super::to_row(found, "/library-contacts", "contact")
}
