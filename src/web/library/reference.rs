//! Releases, firmware, defect masks and library contacts: read-only pages on the API's reads.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::{human_date, paginate, relative_days, see_other, words, Names, Page, Pager, MAX_ROWS};
use crate::db::now;
use crate::defect_masks::model::{self as masks, MaskFilter, MaskStatus};
use crate::http::ApiError;
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{error_page, render, Chrome, Exposure};
use crate::AppState;

/// A 4xx from the domain as a page; anything else stays an error.
fn or_page(r: Result<actix_web::HttpResponse, ApiError>) -> Page {
    match r {
        Ok(page) => Ok(page),
        Err(e) => error_page(e),
    }
}

/// A link: where, and what a person reads.
pub struct Link {
    pub href: String,
    pub text: String,
}

// ---- releases ---------------------------------------------------------------------------------

pub struct StageLine {
    pub from: String,
    pub to: String,
    pub status: String,
    pub decided: String,
    pub effective: String,
    pub by: String,
    pub note: String,
}

pub struct WindowLink {
    pub href: String,
    pub name: String,
    pub status: String,
    pub opens: String,
    pub closes: String,
}

#[derive(Template)]
#[template(path = "lib_release.html")]
pub struct ReleasePage {
    pub chrome: Chrome,
    pub kind: String,
    pub stage: String,
    pub target: Option<String>,
    pub notes: String,
    pub pending: Vec<(String, String)>,
    pub history: Vec<StageLine>,
    pub windows: Vec<WindowLink>,
    pub firmware: Vec<Link>,
}

/// `/releases/{id}`: `GET /releases/{id}`, `/releases/{id}/stages` and `/uit-windows?release_id=`.
pub async fn release(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let found = state
        .db
        .run(move |conn| {
            use crate::releases::model as releases;
            let (_, release) = releases::load(conn, &id)?;
            let at = now();
            let track = releases::tracks(conn, std::slice::from_ref(&id), at)?
                .remove(&id)
                .unwrap_or_default();
            let history: Vec<_> = releases::stage_history(conn, &id, None, MAX_ROWS)?
                .into_iter()
                .map(|r| releases::StageChange::new(r, &track, at))
                .collect::<Result<_, _>>()?;
            let rows = crate::windows::model::list(conn, Some(id.clone()), None, at, None, MAX_ROWS)?;
            let mut windows = crate::windows::model::assemble(conn, rows, at)?;
            windows.sort_by_key(|w| w.opens_at);
            let mut names = Names::load(conn)?;
            let mut firmware = Vec::new();
            for f in &release.firmware_ids {
                let text = match names.firmware(conn, f)? {
                    Some((product, version)) => format!("{product}: firmware {version}"),
                    None => "a firmware version no longer listed".into(),
                };
                firmware.push(Link {
                    href: format!("/firmware/{f}"),
                    text,
                });
            }
            let history = history
                .into_iter()
                .map(|c| StageLine {
                    from: c
                        .from_stage
                        .map(|s| words(s.as_str()))
                        .unwrap_or_else(|| "(created)".into()),
                    to: words(c.to_stage.as_str()),
                    status: words(c.status.as_str()),
                    decided: human_time(c.decided_at),
                    effective: human_time(c.effective_at),
                    by: c.actor_org_id.as_deref().map(|o| names.org(o)).unwrap_or_default(),
                    note: c.decision_note,
                })
                .collect();
            Ok((release, history, windows, firmware))
        })
        .await;
    let (release, history, windows, firmware) = match found {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let at = chrono::Utc::now();
    let page = ReleasePage {
        chrome: Chrome::new(release.name.clone(), Some(member.nav())),
        kind: words(release.kind.as_str()),
        stage: words(release.stage.as_str()),
        target: release.target_date.map(human_date),
        notes: release.notes.clone(),
        pending: release
            .pending_moves
            .iter()
            .map(|m| {
                (
                    words(m.stage.as_str()),
                    format!(
                        "{} ({})",
                        human_time(m.effective_at),
                        super::relative_time(m.effective_at, at)
                    ),
                )
            })
            .collect(),
        history,
        windows: windows
            .into_iter()
            .map(|w| WindowLink {
                href: format!("/windows/{}", w.id),
                status: words(w.status.as_str()),
                opens: human_time(w.opens_at),
                closes: format!(
                    "{} ({})",
                    human_time(w.closes_at),
                    super::relative_time(w.closes_at, at)
                ),
                name: w.name,
            })
            .collect(),
        firmware,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- firmware ---------------------------------------------------------------------------------

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
    let found = state
        .db
        .run(move |conn| {
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
                firmware_id: Some(id.clone()),
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
            Ok((view, model, manufacturer, successor, upgrade_from, masks))
        })
        .await;
    let (view, model, manufacturer, successor, upgrade_from, masks) = match found {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let model_name = model.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let today = now().date();
    let page = FirmwarePage {
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
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- defect masks -----------------------------------------------------------------------------

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
    let status = MaskStatus::parse(&q.status);
    let product = q.device_model_id.trim().to_string();
    let filter = MaskFilter {
        device_model_id: (!product.is_empty()).then(|| product.clone()),
        firmware_id: None,
        status,
    };
    let (lines, products) = state
        .db
        .run(move |conn| {
            let rows = masks::list(conn, filter, None, MAX_ROWS)?;
            let views = masks::views(conn, rows)?;
            let mut names = Names::load(conn)?;
            let mut lines = Vec::new();
            for m in views {
                let mut firmware = Vec::new();
                for f in &m.affected_firmware_ids {
                    firmware.push(names.firmware_version(conn, f)?);
                }
                lines.push(MaskLine {
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
                });
            }
            lines.sort_by(|a, b| a.code.cmp(&b.code));
            Ok((lines, names.products()))
        })
        .await?;
    let status_text = status.map(|s| s.as_str().to_string()).unwrap_or_default();
    let filtered = !product.is_empty() || status.is_some();
    let (masks, pager) = paginate(
        lines,
        q.page,
        "/defect-masks",
        &[("device_model_id", product.clone()), ("status", status_text.clone())],
    );
    let page = MasksPage {
        chrome: Chrome::new("Defect masks", Some(member.nav())),
        masks,
        pager,
        products,
        statuses: MaskStatus::ALL
            .iter()
            .map(|s| (s.as_str(), words(s.as_str())))
            .collect(),
        product,
        status: status_text,
        filtered,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
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
    let found = state
        .db
        .run(move |conn| {
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
            let product = names.product(&m.device_model_id);
            let owner = names.org(&m.owner_org_id);
            Ok((m, firmware, fixed_in, product, owner))
        })
        .await;
    let (m, firmware, fixed_in, product, owner) = match found {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let page = MaskPage {
        chrome: Chrome::new(format!("{}: {}", m.code, m.title), Some(member.nav())),
        code: m.code.clone(),
        severity: words(m.severity.as_str()),
        status: words(m.status.as_str()),
        product,
        firmware,
        fixed_in,
        owner,
        adoptions: m.adoption_count,
        description: m.description.clone(),
        symptom: m.symptom.clone(),
        workaround: m.workaround.clone(),
        published: human_time(m.created_at),
        updated: human_time(m.updated_at),
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- library contacts -------------------------------------------------------------------------

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
fn contact_lines(
    conn: &mut crate::db::DbConn,
    filter: crate::contacts::model::ContactFilter,
) -> Result<(Vec<(String, ContactLine)>, Names), ApiError> {
    use crate::contacts::model as contacts;
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
    let manufacturer = q.manufacturer_org_id.trim().to_string();
    let stale = match q.stale.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let filter = crate::contacts::model::ContactFilter {
        manufacturer_org_id: (!manufacturer.is_empty()).then(|| manufacturer.clone()),
        device_model_id: None,
        stale,
    };
    let (lines, manufacturers) = state
        .db
        .run(move |conn| {
            let (lines, names) = contact_lines(conn, filter)?;
            Ok((lines, names.manufacturers()))
        })
        .await?;
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
    let page = ContactsPage {
        chrome: Chrome::new("Firmware library contacts", Some(member.nav())),
        contacts: shown.into_iter().map(|(_, l)| l).collect(),
        pager,
        stale_count,
        manufacturers,
        manufacturer,
        stale: stale_text,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// `/library-contacts/{id}`: 303 to its row on the list (`GET /library-contacts/{id}` decides
/// whether it exists).
pub async fn contact(state: web::Data<AppState>, _member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let found = state
        .db
        .run(move |conn| {
            crate::contacts::model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            let (lines, _) = contact_lines(conn, Default::default())?;
            let at = lines.iter().position(|(c, _)| *c == id).unwrap_or(0);
            Ok((id, super::page_of(at)))
        })
        .await;
    or_page(found.map(|(id, page)| {
        let query = if page > 1 {
            format!("?page={page}")
        } else {
            String::new()
        };
        see_other(&format!("/library-contacts{query}#contact-{id}"))
    }))
}
