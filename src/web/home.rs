//! `/`: the home page. Signed out, a welcome; signed in, the open and upcoming windows (the
//! API's list), the organisation's claims and the recent changes the person may hear of.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::pages::{human_time, Page};
use super::session::{self, FormGuard, WebSession};
use super::{render, Chrome, Exposure, Nav};
use crate::db::{now, DbConn};
use crate::http::ApiError;
use crate::windows::model::UitWindow;
use crate::windows::WindowStatus;
use crate::AppState;

/// A window as the home page lists it.
pub struct WindowLine {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub opens: String,
    pub closes: String,
    /// "in 4 days", beside the date that is next: opening for an upcoming window, else closing.
    pub next_in: String,
    pub scenarios: String,
    pub participants: i64,
}

impl From<&UitWindow> for WindowLine {
    fn from(w: &UitWindow) -> Self {
        let next = match w.status {
            WindowStatus::Scheduled => w.opens_at,
            _ => w.closes_at,
        };
        Self {
            id: w.id.to_string(),
            name: w.name.clone(),
            status: match w.status {
                WindowStatus::Open => "open",
                WindowStatus::Scheduled => "upcoming",
                WindowStatus::Closed => "closed",
                WindowStatus::Cancelled => "cancelled",
            },
            opens: human_time(w.opens_at),
            closes: human_time(w.closes_at),
            next_in: super::rest::relative(next, chrono::Utc::now()),
            scenarios: w.scenarios.join(", "),
            participants: w.participant_count,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub signed_in: Option<Signed>,
}

pub struct Signed {
    pub name: String,
    pub org_name: String,
    pub role: &'static str,
    pub open: Vec<WindowLine>,
    pub upcoming: Vec<WindowLine>,
    pub extras: super::rest::HomeExtras,
    pub csrf: String,
}

pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let current = session::current(&state, &req).await?;
    let Some(s) = current else {
        let page = HomePage {
            chrome: Chrome::new("Welcome", None),
            signed_in: None,
        };
        return Ok(render(StatusCode::OK, Exposure::Plain, &page, |_| {}));
    };
    let guard = session::guard(&state, &req, Some(&s));
    let page = state.db.run(move |conn| load(conn, &s, &guard)).await?;
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// The home page of `s`, whose forms `guard` binds: the open windows (closing soonest first),
/// the upcoming ones (opening soonest first), and the organisation's claims and recent changes.
fn load(conn: &mut DbConn, s: &WebSession, guard: &FormGuard) -> Result<HomePage, ApiError> {
    // The API's list (`GET /uit-windows`): the same query, so the same windows.
    let now = now();
    let mut lists = Vec::new();
    for status in [WindowStatus::Open, WindowStatus::Scheduled] {
        let rows = crate::windows::model::list(conn, None, Some(status), now, None, 50)?;
        lists.push(crate::windows::model::assemble(conn, rows, now)?);
    }
    let upcoming = lists.pop().unwrap_or_default();
    let open = lists.pop().unwrap_or_default();
    let extras = super::rest::home_extras(conn, s, now)?;
    let mut open: Vec<&UitWindow> = open.iter().collect();
    open.sort_by_key(|w| w.closes_at);
    let mut upcoming: Vec<&UitWindow> = upcoming.iter().collect();
    upcoming.sort_by_key(|w| w.opens_at);
    Ok(HomePage {
        chrome: Chrome::new("Home", Some(nav(s, guard))),
        signed_in: Some(Signed {
            name: s.name.clone(),
            org_name: s.org_name.clone(),
            role: s.role.as_str(),
            open: open.into_iter().map(WindowLine::from).collect(),
            upcoming: upcoming.into_iter().map(WindowLine::from).collect(),
            extras,
            csrf: guard.csrf.clone(),
        }),
    })
}

fn nav(session: &WebSession, guard: &FormGuard) -> Nav {
    Nav {
        name: session.name.clone(),
        org_name: session.org_name.clone(),
        csrf: guard.csrf.clone(),
    }
}
