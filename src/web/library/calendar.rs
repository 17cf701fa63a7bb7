//! `/calendar`: what is coming (the feed's own entries from now on, as the member's feed would
//! hold them) and the button that makes the member's personal feed link (`POST /me/calendar-token`).

use actix_web::http::StatusCode;
use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{human_date, paginate, relative_days, relative_time, Names, Page, Pager};
use crate::auth::tokens::{hash_secret, new_secret};
use crate::auth::AuthContext;
use crate::calendar::feed;
use crate::calendar::handlers::{feed_url, store_token, CALENDAR_TOKEN_PREFIX};
use crate::catalogue::model::{DeviceModelRow, FirmwareRow};
use crate::db::{now, DbConn};
use crate::http::ApiError;
use crate::roadmaps::model::RoadmapRow;
use crate::roadmaps::Viewer;
use crate::ui::member::{Member, MemberForm};
use crate::ui::pages::human_time;
use crate::ui::{render, Chrome, Exposure};
use crate::windows::model::WindowRow;
use crate::AppState;

pub struct EntryLine {
    pub when: String,
    pub relative: String,
    pub kind: &'static str,
    pub what: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "lib_calendar.html")]
pub struct CalendarPage {
    pub chrome: Chrome,
    pub entries: Vec<EntryLine>,
    pub pager: Pager,
    pub csrf: String,
    /// The new feed URL, shown once, right after it was made.
    pub feed_url: Option<String>,
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    page: Option<usize>,
}

/// A line and the moment it sorts by.
type Dated = (DateTime<Utc>, EntryLine);

/// The entries from now on that `ctx`'s feed holds, by date.
fn upcoming(conn: &mut DbConn, ctx: &AuthContext) -> Result<Vec<EntryLine>, ApiError> {
    let since = now();
    let viewer = Viewer::of(conn, ctx)?;
    let entries = feed::entries(conn, &viewer, since)?;
    let names = Names::load(conn)?;
    let at = Utc::now();
    let today = at.date_naive();
    let mut dated = window_entries(entries.windows, at);
    dated.extend(retirement_entries(entries.retiring, &entries.successors, &names, today));
    dated.extend(roadmap_entries(entries.committed, &names, today));
    dated.sort_by_key(|a| a.0);
    Ok(dated.into_iter().map(|(_, e)| e).collect())
}

/// Each window's opening and closing still ahead of `at` (cancelled windows have none).
fn window_entries(windows: Vec<(WindowRow, String)>, at: DateTime<Utc>) -> Vec<Dated> {
    let mut dated = Vec::new();
    for (w, release) in windows {
        if w.cancelled_at.is_some() {
            continue;
        }
        for (t, verb) in [(w.opens_at.and_utc(), "opens"), (w.closes_at.and_utc(), "closes")] {
            if t < at {
                continue;
            }
            dated.push((
                t,
                EntryLine {
                    when: human_time(t),
                    relative: relative_time(t, at),
                    kind: "UIT window",
                    what: format!("{} ({release}) {verb}", w.name),
                    href: format!("/windows/{}", w.id),
                },
            ));
        }
    }
    dated
}

/// Each firmware retirement from `today` on, with its successor when it has one.
fn retirement_entries(
    retiring: Vec<(FirmwareRow, DeviceModelRow)>,
    successors: &HashMap<String, String>,
    names: &Names,
    today: NaiveDate,
) -> Vec<Dated> {
    let mut dated = Vec::new();
    for (f, product) in retiring {
        let Some(d) = f.retirement_date else { continue };
        if d < today {
            continue;
        }
        let successor = f
            .successor_id
            .as_ref()
            .and_then(|s| successors.get(s))
            .map(|v| format!(", replaced by {v}"))
            .unwrap_or_default();
        dated.push((
            d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            EntryLine {
                when: human_date(d),
                relative: relative_days(d, today),
                kind: "Firmware retirement",
                what: format!(
                    "{} firmware {} retires{successor}",
                    names.product(&product.id),
                    f.version
                ),
                href: format!("/firmware/{}", f.id),
            },
        ));
    }
    dated
}

/// Each committed roadmap date from `today` on.
fn roadmap_entries(committed: Vec<(RoadmapRow, DeviceModelRow)>, names: &Names, today: NaiveDate) -> Vec<Dated> {
    let mut dated = Vec::new();
    for (item, product) in committed {
        let Some(d) = item.planned_date else { continue };
        if d < today {
            continue;
        }
        dated.push((
            d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            EntryLine {
                when: human_date(d),
                relative: relative_days(d, today),
                kind: "Committed roadmap date",
                what: format!("{} version {}", names.product(&product.id), item.planned_version),
                href: format!("/roadmap/{}", item.id),
            },
        ));
    }
    dated
}

async fn page(state: &AppState, member: &Member, page: Option<usize>, feed_url: Option<String>) -> Page {
    let ctx = member.auth.clone();
    let entries = state.db.run(move |conn| upcoming(conn, &ctx)).await?;
    let (entries, pager) = paginate(entries, page, "/calendar", &[]);
    let page = CalendarPage {
        chrome: Chrome::new("Calendar", Some(member.nav())),
        entries,
        pager,
        csrf: member.csrf().to_string(),
        feed_url,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

pub async fn calendar(state: web::Data<AppState>, member: Member, query: web::Query<CalendarQuery>) -> Page {
    page(&state, &member, query.page, None).await
}

#[derive(Deserialize)]
pub struct FeedForm {}

/// `POST /calendar`: a new feed link for the member (the old one stops working), shown once
/// on the page this answers with.
pub async fn create_feed(state: web::Data<AppState>, form: MemberForm<FeedForm>) -> Page {
    let member = form.member;
    let token = new_secret(CALENDAR_TOKEN_PREFIX);
    let hash = hash_secret(&token);
    let ctx = member.auth.clone();
    state.db.write(move |conn| store_token(conn, &ctx, &hash)).await?;
    let url = feed_url(&state.config.public_url, &token);
    page(&state, &member, None, Some(url)).await
}
