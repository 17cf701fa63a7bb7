//! `/roadmap`: the planned versions the member may see (the API's `Viewer`), by product and date.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use super::{human_date, paginate, words, Names, Page, Pager, MAX_ROWS};
use crate::catalogue::model::DeviceModelRow;
use crate::db::DbConn;
use crate::http::ApiError;
use crate::roadmaps::model::{self as roadmaps, ItemFilter, Order, RoadmapRow, Viewer};
use crate::roadmaps::RoadmapStatus;
use crate::ui::member::Member;
use crate::ui::{render, Chrome, Exposure};
use crate::AppState;

pub struct ItemLine {
    pub anchor: String,
    pub version: String,
    pub date: String,
    pub category: String,
    pub status: String,
    pub visibility: String,
    pub summary: String,
}

/// One product's items on this page.
pub struct ProductGroup {
    pub name: String,
    pub items: Vec<ItemLine>,
}

#[derive(Template)]
#[template(path = "lib_roadmap.html")]
pub struct RoadmapPage {
    pub chrome: Chrome,
    pub groups: Vec<ProductGroup>,
    pub pager: Pager,
    pub from: String,
    pub to: String,
    pub status: String,
    pub statuses: Vec<(&'static str, String)>,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct RoadmapQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    status: String,
    page: Option<usize>,
}

/// The items `viewer` may see (`roadmaps::select`, as `GET /roadmap-items` and `GET /roadmap`),
/// in the page's order: by product name, then planned date (undated last), then id.
fn ordered(
    conn: &mut DbConn,
    ctx: &crate::auth::AuthContext,
    filter: ItemFilter,
) -> Result<(Vec<(RoadmapRow, DeviceModelRow)>, Names), ApiError> {
    let viewer = Viewer::of(conn, ctx)?;
    let mut rows = roadmaps::select(conn, &viewer, filter, Order::ById { after: None }, MAX_ROWS)?;
    let names = Names::load(conn)?;
    rows.sort_by(|(a, am), (b, bm)| {
        let key = |r: &RoadmapRow, m: &DeviceModelRow| {
            (
                names.product(&m.id),
                r.planned_date.is_none(),
                r.planned_date,
                r.id.clone(),
            )
        };
        key(a, am).cmp(&key(b, bm))
    });
    Ok((rows, names))
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// `/roadmap`: filters `from`, `to` (planned dates, inclusive) and `status`, 50 items a page.
pub async fn roadmap(state: web::Data<AppState>, member: Member, query: web::Query<RoadmapQuery>) -> Page {
    let q = query.into_inner();
    let (from, to) = (date(&q.from), date(&q.to));
    let status = RoadmapStatus::parse(&q.status);
    let error = filter_error(&q, from, to);
    let filter = ItemFilter {
        from,
        to,
        status,
        ..ItemFilter::default()
    };
    let ctx = member.auth.clone();
    let (rows, names) = state.db.run(move |conn| ordered(conn, &ctx, filter)).await?;
    let from_text = from.map(|d| d.to_string()).unwrap_or_default();
    let to_text = to.map(|d| d.to_string()).unwrap_or_default();
    let status_text = status.map(|s| s.as_str().to_string()).unwrap_or_default();
    let (shown, pager) = paginate(
        rows,
        q.page,
        "/roadmap",
        &[
            ("from", from_text.clone()),
            ("to", to_text.clone()),
            ("status", status_text.clone()),
        ],
    );
    let page = RoadmapPage {
        chrome: Chrome::new("Roadmap", Some(member.nav())),
        groups: groups(shown, &names),
        pager,
        from: from_text,
        to: to_text,
        status: status_text,
        statuses: status_choices(),
        error,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// The status menu: (value, label).
fn status_choices() -> Vec<(&'static str, String)> {
    RoadmapStatus::ALL
        .iter()
        .map(|s| (s.as_str(), words(s.as_str())))
        .collect()
}

/// What is wrong with the date filters, said beside them (the list is shown all the same): a
/// date that does not parse, then the API's range check.
fn filter_error(q: &RoadmapQuery, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Option<String> {
    let mut error = None;
    if (!q.from.trim().is_empty() && from.is_none()) || (!q.to.trim().is_empty() && to.is_none()) {
        error = Some("Write dates as YYYY-MM-DD, for example 2027-03-01.".to_string());
    }
    if let Err(e) = crate::roadmaps::handlers::check_range(from, to) {
        error = Some(
            e.errors
                .first()
                .map(|f| format!("{} {}.", f.field, f.message))
                .unwrap_or(e.detail),
        );
    }
    error
}

/// The page's items under their products, in the order given.
fn groups(shown: Vec<(RoadmapRow, DeviceModelRow)>, names: &Names) -> Vec<ProductGroup> {
    let mut groups: Vec<ProductGroup> = Vec::new();
    for (row, product) in shown {
        let name = names.product(&product.id);
        let line = ItemLine {
            anchor: format!("item-{}", row.id),
            version: row.planned_version.clone(),
            date: row
                .planned_date
                .map(human_date)
                .unwrap_or_else(|| "date not set".into()),
            category: words(row.category.as_str()),
            status: words(row.status.as_str()),
            visibility: match row.visibility {
                crate::roadmaps::RoadmapVisibility::Private => "private to its owner".into(),
                crate::roadmaps::RoadmapVisibility::Participants => "UIT participants".into(),
                crate::roadmaps::RoadmapVisibility::Industry => "industry".into(),
            },
            summary: row.summary.clone(),
        };
        match groups.last_mut() {
            Some(g) if g.name == name => g.items.push(line),
            _ => groups.push(ProductGroup {
                name,
                items: vec![line],
            }),
        }
    }
    groups
}

/// `/roadmap/{id}`: 303 to the item's row on the roadmap when the member may see it
/// (`roadmaps::find_visible`, as `GET /roadmap-items/{id}`), else the 404 page.
pub async fn item(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let ctx = member.auth.clone();
    let found = state
        .db
        .run(move |conn| {
            let viewer = Viewer::of(conn, &ctx)?;
            roadmaps::find_visible(conn, &viewer, &id)?;
            let (rows, _) = ordered(conn, &ctx, ItemFilter::default())?;
            let at = rows.iter().position(|(r, _)| r.id == id).unwrap_or(0);
            Ok((id, at))
        })
        .await;
    super::to_row(found, "/roadmap", "item")
}
