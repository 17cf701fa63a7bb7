//! The reference pages (releases, firmware, defect masks, the roadmap, library contacts, the
//! calendar) and the signed-in user's subscriptions: read-only pages on the API's reads, one
//! file each, beside the subscription forms. Each page calls the domain functions its
//! `GET /api/v1/...` twin calls, with the member's `AuthContext`, so it shows what the API
//! would; the lists are small reference data, read whole and paged here at 50.

pub mod calendar;
pub mod contacts;
pub mod firmware;
pub mod masks;
pub mod releases;
pub mod roadmap;
pub mod subscriptions;

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;

use crate::catalogue::model::{self as catalogue, DeviceModelRow};
use crate::db::{DbConn, DeviceModelId, OrgId};
use crate::http::ApiError;

/// Rows a page shows.
pub const PAGE_SIZE: usize = 50;

/// The most rows a reference list reads before paging (far above what the industry keeps).
pub const MAX_ROWS: i64 = 10_000;

pub type Page = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/releases/{id}").route(web::get().to(releases::release)))
        .service(web::resource("/firmware/{id}").route(web::get().to(firmware::firmware)))
        .service(web::resource("/defect-masks").route(web::get().to(masks::masks)))
        .service(web::resource("/defect-masks/{id}").route(web::get().to(masks::mask)))
        .service(web::resource("/roadmap").route(web::get().to(roadmap::roadmap)))
        .service(web::resource("/roadmap/{id}").route(web::get().to(roadmap::item)))
        .service(web::resource("/library-contacts").route(web::get().to(contacts::contacts)))
        .service(web::resource("/library-contacts/{id}").route(web::get().to(contacts::contact)))
        .service(
            web::resource("/calendar")
                .route(web::get().to(calendar::calendar))
                .route(web::post().to(calendar::create_feed)),
        )
        .service(
            web::resource("/subscriptions")
                .route(web::get().to(subscriptions::list))
                .route(web::post().to(subscriptions::create)),
        )
        .service(web::resource("/subscriptions/{id}").route(web::post().to(subscriptions::change)))
        .service(web::resource("/subscriptions/{id}/delete").route(web::post().to(subscriptions::delete)));
}

pub use crate::ui::see_other;

/// A link: where, and what a person reads.
pub struct Link {
    pub href: String,
    pub text: String,
}

/// "Fri 19 Dec 2026".
pub fn human_date(d: NaiveDate) -> String {
    d.format("%a %-d %b %Y").to_string()
}

/// "in 4 days", "today", "3 days ago": beside a deadline.
pub fn relative_days(d: NaiveDate, today: NaiveDate) -> String {
    let days = (d - today).num_days();
    match days {
        0 => "today".into(),
        1 => "tomorrow".into(),
        -1 => "yesterday".into(),
        n if n > 1 => format!("in {n} days"),
        n => format!("{} days ago", -n),
    }
}

/// "in 3 hours", "in 4 days", "2 days ago".
pub fn relative_time(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (t - now).num_seconds();
    let (n, unit) = match secs.abs() {
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if secs >= 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// One page of a list: which, how many, and the links to its neighbours (with the filters).
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// Page `page` (from 1) of `items`; `path` and `filters` make the neighbours' links.
pub fn paginate<T>(items: Vec<T>, page: Option<usize>, path: &str, filters: &[(&str, String)]) -> (Vec<T>, Pager) {
    let total = items.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let link = |p: usize| {
        let mut pairs: Vec<(&str, String)> = filters.iter().filter(|(_, v)| !v.is_empty()).cloned().collect();
        if p > 1 {
            pairs.push(("page", p.to_string()));
        }
        match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
            q if q.is_empty() => path.to_string(),
            q => format!("{path}?{q}"),
        }
    };
    let pager = Pager {
        page,
        pages,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    let shown = items.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
    (shown, pager)
}

/// The page a row at `index` (from 0) of a list lands on.
fn page_of(index: usize) -> usize {
    index / PAGE_SIZE + 1
}

/// The 303 from an item's own address to its row on the list at `list`: `found` is the item's
/// id and its index (from 0) in the list; the row's anchor is `{anchor}-{id}`. A failed lookup
/// is the error page (404 for a missing item or one the member may not see).
pub fn to_row(found: Result<(String, usize), ApiError>, list: &str, anchor: &str) -> Page {
    match found {
        Ok((id, index)) => {
            let page = page_of(index);
            let query = if page > 1 {
                format!("?page={page}")
            } else {
                String::new()
            };
            Ok(see_other(&format!("{list}{query}#{anchor}-{id}")))
        }
        Err(e) => crate::ui::error_page(e),
    }
}

/// Names for ids, from the directory every signed-in user may read (`GET /organisations`,
/// `GET /device-models`, `GET /firmware/{id}`), so pages say names, never ids.
pub struct Names {
    orgs: HashMap<OrgId, String>,
    models: HashMap<DeviceModelId, DeviceModelRow>,
    firmware: HashMap<String, Option<(String, String)>>,
}

impl Names {
    pub fn load(conn: &mut DbConn) -> Result<Self, ApiError> {
        let orgs = crate::organisations::model::list_orgs(conn, None, None, MAX_ROWS)?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let models = catalogue::list_models(conn, None, None, None, MAX_ROWS)?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        Ok(Self {
            orgs,
            models,
            firmware: HashMap::new(),
        })
    }

    pub fn org(&self, id: &str) -> String {
        self.orgs
            .get(id)
            .cloned()
            .unwrap_or_else(|| "an organisation no longer listed".into())
    }

    pub fn model(&self, id: &str) -> Option<&DeviceModelRow> {
        self.models.get(id)
    }

    /// "Acme ESME-2 (ESME, hardware 1.0)".
    pub fn product(&self, id: &str) -> String {
        match self.models.get(id) {
            Some(m) => format!(
                "{} {} ({}, hardware {})",
                self.org(&m.manufacturer_org_id),
                m.name,
                m.device_type,
                m.hardware_version
            ),
            None => "a product no longer listed".into(),
        }
    }

    /// Every product by name, for filter menus: (id, label).
    pub fn products(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .models
            .keys()
            .map(|id| (id.to_string(), self.product(id)))
            .collect();
        all.sort_by(|a, b| a.1.cmp(&b.1));
        all
    }

    /// Every manufacturer of a listed product, by name: (id, name).
    pub fn manufacturers(&self) -> Vec<(String, String)> {
        let mut ids: Vec<&OrgId> = self.models.values().map(|m| &m.manufacturer_org_id).collect();
        ids.sort();
        ids.dedup();
        let mut all: Vec<(String, String)> = ids.into_iter().map(|id| (id.to_string(), self.org(id))).collect();
        all.sort_by(|a, b| a.1.cmp(&b.1));
        all
    }

    /// A firmware version's (product label, version), read once per id.
    pub fn firmware(&mut self, conn: &mut DbConn, id: &str) -> Result<Option<(String, String)>, ApiError> {
        if let Some(known) = self.firmware.get(id) {
            return Ok(known.clone());
        }
        let found = catalogue::find_firmware(conn, id)?.map(|f| (self.product(&f.device_model_id), f.version));
        self.firmware.insert(id.to_string(), found.clone());
        Ok(found)
    }

    /// "version 3.10.2": its version only (the product is said beside it).
    pub fn firmware_version(&mut self, conn: &mut DbConn, id: &str) -> Result<String, ApiError> {
        Ok(self
            .firmware(conn, id)?
            .map(|(_, v)| v)
            .unwrap_or_else(|| "a version no longer listed".into()))
    }
}

/// Words for an enum's code: "deployment_phase_1" -> "deployment phase 1".
pub fn words(code: &str) -> String {
    code.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::{page_of, paginate, relative_days, PAGE_SIZE};

    #[test]
    fn lists_page_at_fifty_and_keep_their_filters_in_the_links() {
        let items: Vec<usize> = (0..120).collect();
        let (shown, pager) = paginate(
            items.clone(),
            Some(2),
            "/defect-masks",
            &[("status", "open".into()), ("device_model_id", String::new())],
        );
        assert_eq!(shown.first(), Some(&PAGE_SIZE));
        assert_eq!(shown.len(), PAGE_SIZE);
        assert_eq!((pager.page, pager.pages, pager.total), (2, 3, 120));
        assert_eq!(pager.prev.as_deref(), Some("/defect-masks?status=open"));
        assert_eq!(pager.next.as_deref(), Some("/defect-masks?status=open&page=3"));
        let (shown, pager) = paginate(items, Some(99), "/roadmap", &[]);
        assert_eq!((shown.len(), pager.page, pager.next), (20, 3, None));
        let (shown, pager) = paginate(Vec::<u8>::new(), None, "/roadmap", &[]);
        assert!(shown.is_empty());
        assert_eq!((pager.page, pager.pages, pager.prev), (1, 1, None));
        assert_eq!((page_of(0), page_of(49), page_of(50)), (1, 1, 2));
    }

    #[test]
    fn days_read_as_people_say_them() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let day = |n: i64| today + chrono::Duration::days(n);
        assert_eq!(relative_days(day(0), today), "today");
        assert_eq!(relative_days(day(1), today), "tomorrow");
        assert_eq!(relative_days(day(4), today), "in 4 days");
        assert_eq!(relative_days(day(-3), today), "3 days ago");
    }
}
