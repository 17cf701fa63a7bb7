//! `/firmware/{id}`: a firmware version, its upgrade paths and the defect masks naming it, on
//! the API's reads.

use actix_web::web;
use askama::Template;

use super::{human_date, relative_days, words, Link, Names, Page, MAX_ROWS};
use crate::db::{now, DbConn, FirmwareId};
use crate::defect_masks::model::{self as masks, MaskFilter};
use crate::http::ApiError;
use crate::ui::member::Member;
use crate::ui::{member_page, Chrome};
use crate::AppState;

#[derive(Template)]
#[template(path = "lib_firmware.html")]
pub struct FirmwarePage {
    pub chrome: Chrome,
    pub manufacturer: String,
    pub model: String,
    pub hardware: String,
    pub device_type: String,
    pub version: String,
    pub status: String,
    pub released: Option<String>,
    pub retirement: Option<String>,
    pub successor: Option<Link>,
    pub ota: bool,
    pub upgrade_from: Vec<Link>,
    pub notes: String,
    pub masks: Vec<Link>,
}

/// `/firmware/{id}`: `GET /firmware/{id}`, and the masks naming it (`GET /defect-masks?firmware_id=`).
pub async fn firmware(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    member_page(state.db.run(move |conn| load(conn, &member, id)).await)
}

/// Firmware `id`'s page (404 when there is none): its product, successor and the versions it
/// upgrades from, by name, and the defect masks naming it.
fn load(conn: &mut DbConn, member: &Member, id: String) -> Result<FirmwarePage, ApiError> {
    let (view, _) = crate::catalogue::firmware::load_view(conn, &id)?;
    let mut names = Names::load(conn)?;
    let model = names.model(&view.device_model_id).cloned();
    let successor = match &view.successor_id {
        Some(s) => Some(Link {
            href: format!("/firmware/{s}"),
            text: names.firmware_version(conn, s)?,
        }),
        None => None,
    };
    let mut upgrade_from = Vec::new();
    for f in &view.upgrade_from {
        upgrade_from.push(Link {
            href: format!("/firmware/{f}"),
            text: names.firmware_version(conn, f)?,
        });
    }
    let filter = MaskFilter {
        device_model_id: None,
        firmware_id: Some(FirmwareId::from(id.clone())),
        status: None,
    };
    let masks: Vec<Link> = masks::list(conn, filter, None, MAX_ROWS)?
        .into_iter()
        .map(|m| Link {
            href: format!("/defect-masks/{}", m.id),
            text: format!("{}: {}", m.code, m.title),
        })
        .collect();
    let manufacturer = names.org(&view.manufacturer_org_id);
    let model_name = model.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let today = now().date();
    Ok(FirmwarePage {
        chrome: Chrome::new(
            format!("{manufacturer} {model_name} firmware {}", view.version),
            Some(member.nav()),
        ),
        manufacturer,
        hardware: model.as_ref().map(|m| m.hardware_version.clone()).unwrap_or_default(),
        model: model_name,
        device_type: view.device_type.to_string(),
        version: view.version.clone(),
        status: words(view.status.as_str()),
        released: view.released_on.map(human_date),
        retirement: view
            .retirement_date
            .map(|d| format!("{} ({})", human_date(d), relative_days(d, today))),
        successor,
        ota: view.ota_upgradable,
        upgrade_from,
        notes: view.notes.clone(),
        masks,
    })
}
