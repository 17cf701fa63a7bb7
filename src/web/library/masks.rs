//! `/defect-masks` and `/defect-masks/{id}`: the defect masks, filtered and paged, and one
//! mask, on the API's reads.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::{paginate, words, Link, Names, Page, Pager, MAX_ROWS};
use crate::db::{DbConn, DeviceModelId};
use crate::defect_masks::model::{self as masks, DefectMask, MaskFilter, MaskStatus};
use crate::http::ApiError;
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{member_page, render, Chrome, Exposure};
use crate::AppState;

pub struct MaskLine {
    pub href: String,
    pub code: String,
    pub title: String,
    pub severity: String,
    pub product: String,
    pub firmware: String,
    pub status: String,
    pub owner: String,
}

#[derive(Template)]
#[template(path = "lib_masks.html")]
pub struct MasksPage {
    pub chrome: Chrome,
    pub masks: Vec<MaskLine>,
    pub pager: Pager,
    pub products: Vec<(String, String)>,
    pub statuses: Vec<(&'static str, String)>,
    pub product: String,
    pub status: String,
    pub filtered: bool,
}

#[derive(Deserialize)]
pub struct MaskQuery {
    #[serde(default)]
    device_model_id: String,
    #[serde(default)]
    status: String,
    page: Option<usize>,
}

/// `/defect-masks`: `GET /defect-masks` with its filters (product, status), 50 a page.
pub async fn masks(state: web::Data<AppState>, member: Member, query: web::Query<MaskQuery>) -> Page {
    let q = query.into_inner();
    let page = state.db.run(move |conn| load_list(conn, &member, q)).await?;
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// The page of masks `q` asks for: filtered by product and status (unknown values mean any),
/// by code, 50 a page, with the filter menus.
fn load_list(conn: &mut DbConn, member: &Member, q: MaskQuery) -> Result<MasksPage, ApiError> {
    let status = MaskStatus::parse(&q.status);
    let product = q.device_model_id.trim().to_string();
    let filter = MaskFilter {
        device_model_id: (!product.is_empty()).then(|| DeviceModelId::from(product.clone())),
        firmware_id: None,
        status,
    };
    let rows = masks::list(conn, filter, None, MAX_ROWS)?;
    let views = masks::views(conn, rows)?;
    let mut names = Names::load(conn)?;
    let mut lines = Vec::new();
    for m in views {
        lines.push(mask_line(conn, &mut names, m)?);
    }
    lines.sort_by(|a, b| a.code.cmp(&b.code));
    let status_text = status.map(|s| s.as_str().to_string()).unwrap_or_default();
    let filtered = !product.is_empty() || status.is_some();
    let (masks, pager) = paginate(
        lines,
        q.page,
        "/defect-masks",
        &[("device_model_id", product.clone()), ("status", status_text.clone())],
    );
    Ok(MasksPage {
        chrome: Chrome::new("Defect masks", Some(member.nav())),
        masks,
        pager,
        products: names.products(),
        statuses: MaskStatus::ALL
            .iter()
            .map(|s| (s.as_str(), words(s.as_str())))
            .collect(),
        product,
        status: status_text,
        filtered,
    })
}

/// A mask as the list shows it: its product and firmware versions by name.
fn mask_line(conn: &mut DbConn, names: &mut Names, m: DefectMask) -> Result<MaskLine, ApiError> {
    let mut firmware = Vec::new();
    for f in &m.affected_firmware_ids {
        firmware.push(names.firmware_version(conn, f)?);
    }
    Ok(MaskLine {
        href: format!("/defect-masks/{}", m.id),
        product: names.product(&m.device_model_id),
        firmware: if firmware.is_empty() {
            "every version".into()
        } else {
            firmware.join(", ")
        },
        status: words(m.status.as_str()),
        severity: words(m.severity.as_str()),
        owner: names.org(&m.owner_org_id),
        code: m.code,
        title: m.title,
    })
}

#[derive(Template)]
#[template(path = "lib_mask.html")]
pub struct MaskPage {
    pub chrome: Chrome,
    pub code: String,
    pub severity: String,
    pub status: String,
    pub product: String,
    pub firmware: Vec<Link>,
    pub fixed_in: Option<Link>,
    pub owner: String,
    pub adoptions: i64,
    pub description: String,
    pub symptom: String,
    pub workaround: String,
    pub published: String,
    pub updated: String,
}

/// `/defect-masks/{id}`: `GET /defect-masks/{id}`; 404 page when the API would answer 404.
pub async fn mask(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    member_page(state.db.run(move |conn| load_one(conn, &member, id)).await)
}

/// Mask `id`'s page (404 when there is none): its product, owner and firmware by name.
fn load_one(conn: &mut DbConn, member: &Member, id: String) -> Result<MaskPage, ApiError> {
    let (m, _) = crate::defect_masks::handlers::load_one(conn, &id)?;
    let mut names = Names::load(conn)?;
    let mut firmware = Vec::new();
    for f in &m.affected_firmware_ids {
        firmware.push(Link {
            href: format!("/firmware/{f}"),
            text: names.firmware_version(conn, f)?,
        });
    }
    let fixed_in = match &m.fixed_in_firmware_id {
        Some(f) => Some(Link {
            href: format!("/firmware/{f}"),
            text: names.firmware_version(conn, f)?,
        }),
        None => None,
    };
    Ok(MaskPage {
        chrome: Chrome::new(format!("{}: {}", m.code, m.title), Some(member.nav())),
        code: m.code.clone(),
        severity: words(m.severity.as_str()),
        status: words(m.status.as_str()),
        product: names.product(&m.device_model_id),
        firmware,
        fixed_in,
        owner: names.org(&m.owner_org_id),
        adoptions: m.adoption_count,
        description: m.description.clone(),
        symptom: m.symptom.clone(),
        workaround: m.workaround.clone(),
        published: human_time(m.created_at),
        updated: human_time(m.updated_at),
    })
}
