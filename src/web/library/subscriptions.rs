//! `/subscriptions`: the signed-in user's own subscriptions, with forms to subscribe, change
//! and end them. The forms call the functions the API's `POST /subscriptions` (with a bearer
//! token), `PATCH` and `DELETE /subscriptions/{id}` call, audit rows included; a domain
//! refusal (422) shows next to its field on the form, re-filled.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

use super::{words, Names, Page, MAX_ROWS};
use crate::catalogue::model::DeviceType;
use crate::db::{DeviceModelId, OrgId, WindowId};
use crate::events::Topic;
use crate::http::etag::IfMatch;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::notifications::email::topic_label;
use crate::notifications::model::{self as model, Filters, SubscriptionRow};
use crate::notifications::subscriptions::{
    check_new, check_patch, create_own, end_own, normalise_new, update_own, NewSubscription, SubscriptionPatch,
};
use crate::notifications::Mode;
use crate::ui::member::{Member, MemberForm};
use crate::ui::{error_page, render, see_other_or_error, Chrome, Exposure};
use crate::AppState;

/// A checkbox or menu entry: value, label, whether chosen.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub on: bool,
}

/// What the person chose on a form, as sent (unknown values kept out, and reported).
#[derive(Default, Clone)]
pub struct Chosen {
    pub topics: Vec<Topic>,
    pub filters: Filters,
    pub mode: Option<Mode>,
}

impl Chosen {
    fn of(row: &SubscriptionRow) -> Self {
        Self {
            topics: row.topics(),
            filters: row.filters(),
            mode: Some(row.mode),
        }
    }

    /// The form's fields; errors for values that are not on the form's lists.
    fn parse(pairs: &[(String, String)], v: &mut Validator) -> Self {
        let mut c = Chosen::default();
        for (name, value) in pairs {
            let value = value.trim();
            match name.as_str() {
                "topics" => match Topic::parse(value) {
                    Some(t) => c.topics.push(t),
                    None => v.error("topics", "names a topic that does not exist"),
                },
                "device_types" => match DeviceType::parse(value) {
                    Some(t) => c.filters.device_types.push(t),
                    None => v.error("filters.device_types", "names a device type that does not exist"),
                },
                "device_model_ids" if !value.is_empty() => c.filters.device_model_ids.push(DeviceModelId::from(value)),
                "manufacturer_org_ids" if !value.is_empty() => c.filters.manufacturer_org_ids.push(OrgId::from(value)),
                "uit_window_ids" if !value.is_empty() => c.filters.uit_window_ids.push(WindowId::from(value)),
                "mode" => match Mode::parse(value) {
                    Some(m) => c.mode = Some(m),
                    None => v.error("mode", "must be immediate or daily digest"),
                },
                _ => {}
            }
        }
        c
    }
}

/// One subscription form (new, or changing one), with its messages.
pub struct SubForm {
    /// Prefix of the form's element ids, so each label names its own input.
    pub key: String,
    pub action: String,
    pub submit: &'static str,
    pub open: bool,
    pub topics: Vec<Choice>,
    pub device_types: Vec<Choice>,
    pub products: Vec<Choice>,
    pub manufacturers: Vec<Choice>,
    pub windows: Vec<Choice>,
    pub daily: bool,
    pub errors: FormErrors,
}

#[derive(Default)]
pub struct FormErrors {
    pub topics: Option<String>,
    pub device_types: Option<String>,
    pub products: Option<String>,
    pub manufacturers: Option<String>,
    pub windows: Option<String>,
    pub mode: Option<String>,
    pub other: Option<String>,
}

impl FormErrors {
    fn of(e: &ApiError) -> Self {
        let find = |field: &str, label: &str| {
            let found: Vec<String> = e
                .errors
                .iter()
                .filter(|f| f.field == field)
                .map(|f| format!("{label} {}.", f.message))
                .collect();
            (!found.is_empty()).then(|| found.join(" "))
        };
        let known = [
            "topics",
            "filters.device_types",
            "filters.device_model_ids",
            "filters.manufacturer_org_ids",
            "filters.uit_window_ids",
            "mode",
        ];
        let other = e.errors.iter().any(|f| !known.contains(&f.field.as_str())) || e.errors.is_empty();
        Self {
            topics: find("topics", "Topics:"),
            device_types: find("filters.device_types", "Device types:"),
            products: find("filters.device_model_ids", "Products:"),
            manufacturers: find("filters.manufacturer_org_ids", "Manufacturers:"),
            windows: find("filters.uit_window_ids", "UIT windows:"),
            mode: find("mode", "How often:"),
            other: other.then(|| e.detail.clone()),
        }
    }
}

/// The directory's names, and the UIT windows by name (newest first) for the window filter.
struct Lists {
    names: Names,
    windows: Vec<(String, String)>,
}

impl Lists {
    fn load(conn: &mut crate::db::DbConn) -> Result<Self, ApiError> {
        use crate::db::schema::uit_windows as w;
        use diesel::prelude::*;
        let windows = w::table
            .order((w::opens_at.desc(), w::id.asc()))
            .select((w::id, w::name))
            .limit(MAX_ROWS)
            .load(conn)?;
        Ok(Self {
            names: Names::load(conn)?,
            windows,
        })
    }

    fn window(&self, id: &str) -> String {
        self.windows
            .iter()
            .find(|(w, _)| w == id)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| "a UIT window no longer listed".into())
    }
}

fn form(lists: &Lists, key: &str, action: String, submit: &'static str, c: &Chosen, errors: FormErrors) -> SubForm {
    let names = &lists.names;
    let open = errors.topics.is_some()
        || errors.device_types.is_some()
        || errors.products.is_some()
        || errors.manufacturers.is_some()
        || errors.windows.is_some()
        || errors.mode.is_some()
        || errors.other.is_some();
    SubForm {
        key: key.to_string(),
        action,
        submit,
        open,
        topics: Topic::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str().into(),
                label: topic_label(*t).into(),
                on: c.topics.contains(t),
            })
            .collect(),
        device_types: DeviceType::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str().into(),
                label: t.as_str().into(),
                on: c.filters.device_types.contains(t),
            })
            .collect(),
        products: names
            .products()
            .into_iter()
            .map(|(id, label)| Choice {
                on: c.filters.device_model_ids.iter().any(|m| m.as_str() == id),
                value: id,
                label,
            })
            .collect(),
        manufacturers: names
            .manufacturers()
            .into_iter()
            .map(|(id, label)| Choice {
                on: c.filters.manufacturer_org_ids.iter().any(|m| m.as_str() == id),
                value: id,
                label,
            })
            .collect(),
        windows: lists
            .windows
            .iter()
            .map(|(id, name)| Choice {
                on: c.filters.uit_window_ids.iter().any(|w| w.as_str() == id),
                value: id.clone(),
                label: name.clone(),
            })
            .collect(),
        daily: c.mode == Some(Mode::DailyDigest),
        errors,
    }
}

pub struct SubLine {
    pub topics: String,
    pub filters: String,
    pub mode: &'static str,
    pub status: String,
    pub delete_action: String,
    pub form: SubForm,
}

#[derive(Template)]
#[template(path = "lib_subscriptions.html")]
pub struct SubscriptionsPage {
    pub chrome: Chrome,
    pub email: String,
    pub csrf: String,
    pub subscriptions: Vec<SubLine>,
    pub new: SubForm,
}

/// A form being answered: which (`None`: the new one), what was sent, what was wrong.
struct Retry {
    id: Option<String>,
    chosen: Chosen,
    error: ApiError,
}

/// "device types ESME, GSME; products: ...; manufacturers: ..." in names.
fn describe(lists: &Lists, f: &Filters) -> String {
    let names = &lists.names;
    let mut parts = Vec::new();
    if !f.device_types.is_empty() {
        let types: Vec<&str> = f.device_types.iter().map(|t| t.as_str()).collect();
        parts.push(format!("device types {}", types.join(", ")));
    }
    if !f.device_model_ids.is_empty() {
        let products: Vec<String> = f.device_model_ids.iter().map(|m| names.product(m)).collect();
        parts.push(format!("products {}", products.join(", ")));
    }
    if !f.manufacturer_org_ids.is_empty() {
        let orgs: Vec<String> = f.manufacturer_org_ids.iter().map(|o| names.org(o)).collect();
        parts.push(format!("manufacturers {}", orgs.join(", ")));
    }
    if !f.uit_window_ids.is_empty() {
        let windows: Vec<String> = f.uit_window_ids.iter().map(|w| lists.window(w)).collect();
        parts.push(format!("UIT windows {}", windows.join(", ")));
    }
    if parts.is_empty() {
        "all products".into()
    } else {
        parts.join("; ")
    }
}

/// The page, with `retry`'s form re-filled and its messages; 404 page when `retry` names a
/// subscription that is not the member's own (`GET /subscriptions` lists only those).
async fn page(state: &AppState, member: &Member, retry: Option<Retry>) -> Page {
    let user_id = member.auth.user_id.clone();
    let (rows, lists) = state
        .db
        .run(move |conn| Ok((model::list_own(conn, &user_id, None, MAX_ROWS)?, Lists::load(conn)?)))
        .await?;
    match subscriptions_page(member, &rows, &lists, retry) {
        Some((status, page)) => Ok(render(status, Exposure::Private, &page, |_| {})),
        None => error_page(ApiError::not_found()),
    }
}

/// The page of the member's own subscriptions `rows`, with its status: 422 when it answers a
/// refused form (`retry`), else 200; `None` when `retry` names a subscription not in `rows`.
fn subscriptions_page(
    member: &Member,
    rows: &[SubscriptionRow],
    lists: &Lists,
    retry: Option<Retry>,
) -> Option<(StatusCode, SubscriptionsPage)> {
    let (mut retry_new, mut retry_one) = (None, None);
    match retry {
        Some(r @ Retry { id: None, .. }) => retry_new = Some(r),
        Some(r) => {
            if !rows.iter().any(|row| Some(&row.id) == r.id.as_ref()) {
                return None;
            }
            retry_one = Some(r)
        }
        None => {}
    }
    let status = if retry_new.is_some() || retry_one.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let subscriptions = rows
        .iter()
        .enumerate()
        .map(|(i, row)| sub_line(lists, i, row, retry_one.as_ref()))
        .collect();
    let (chosen, errors) = match &retry_new {
        Some(r) => (r.chosen.clone(), FormErrors::of(&r.error)),
        None => (
            Chosen {
                mode: Some(Mode::Immediate),
                ..Chosen::default()
            },
            FormErrors::default(),
        ),
    };
    let page = SubscriptionsPage {
        chrome: Chrome::new("My subscriptions", Some(member.nav())),
        email: member.session.email.clone(),
        csrf: member.csrf().to_string(),
        subscriptions,
        new: form(lists, "new", "/subscriptions".into(), "Subscribe", &chosen, errors),
    };
    Some((status, page))
}

/// The line and form of the member's `i`th subscription: as it is, or as sent when `retry` is
/// the refusal of its form.
fn sub_line(lists: &Lists, i: usize, row: &SubscriptionRow, retry: Option<&Retry>) -> SubLine {
    let (chosen, errors) = match retry {
        Some(r) if r.id.as_ref() == Some(&row.id) => (r.chosen.clone(), FormErrors::of(&r.error)),
        _ => (Chosen::of(row), FormErrors::default()),
    };
    SubLine {
        topics: model::describe_topics(&row.topics()),
        filters: describe(lists, &row.filters()),
        mode: match row.mode {
            Mode::Immediate => "an email for each change",
            Mode::DailyDigest => "a daily digest",
        },
        status: words(row.status.as_str()),
        delete_action: format!("/subscriptions/{}/delete", row.id),
        form: form(
            lists,
            &format!("s{}", i + 1),
            format!("/subscriptions/{}", row.id),
            "Save changes",
            &chosen,
            errors,
        ),
    }
}

pub async fn list(state: web::Data<AppState>, member: Member) -> Page {
    page(&state, &member, None).await
}

/// A subscription form's fields, in order (`topics` and the filters repeat).
type Pairs = Vec<(String, String)>;

/// `POST /subscriptions`: subscribe the member (`create_own`, as the API with a bearer token).
pub async fn create(state: web::Data<AppState>, form: MemberForm<Pairs>) -> Page {
    let MemberForm { member, form: pairs } = form;
    let mut v = Validator::new();
    let chosen = Chosen::parse(&pairs, &mut v);
    let mut new = NewSubscription {
        email: None,
        topics: chosen.topics.clone(),
        filters: chosen.filters.clone(),
        mode: chosen.mode,
    };
    check_new(&mut v, &new);
    let checked = match v.finish() {
        Ok(()) => {
            normalise_new(&mut new);
            let ctx = member.auth.clone();
            let public_url = state.config.public_url.clone();
            state
                .db
                .write(move |conn| create_own(conn, &ctx, &new, &public_url))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    answer(&state, &member, None, chosen, checked).await
}

/// `POST /subscriptions/{id}`: change the member's own subscription (`update_own`, as `PATCH`):
/// topics, filters and mode as the form shows them.
pub async fn change(state: web::Data<AppState>, form: MemberForm<Pairs>, path: web::Path<String>) -> Page {
    let MemberForm { member, form: pairs } = form;
    let id = path.into_inner();
    let mut v = Validator::new();
    let chosen = Chosen::parse(&pairs, &mut v);
    let patch = SubscriptionPatch {
        topics: Some(chosen.topics.clone()),
        filters: Some(chosen.filters.clone()),
        mode: chosen.mode,
    };
    check_patch(&mut v, &patch);
    let checked = match v.finish() {
        Ok(()) => {
            let ctx = member.auth.clone();
            let public_url = state.config.public_url.clone();
            let target = id.clone();
            state
                .db
                .write(move |conn| update_own(conn, &ctx, &target, &IfMatch(None), patch, &public_url))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    answer(&state, &member, Some(id), chosen, checked).await
}

/// 303 back to the list when done; the form again with its messages on a 422; the error page
/// (404 for another user's subscription) otherwise.
async fn answer(
    state: &AppState,
    member: &Member,
    id: Option<String>,
    chosen: Chosen,
    done: Result<(), ApiError>,
) -> Page {
    match done {
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            page(state, member, Some(Retry { id, chosen, error: e })).await
        }
        done => see_other_or_error(done, |()| "/subscriptions".into()),
    }
}

/// `POST /subscriptions/{id}/delete`: end the member's own subscription (`end_own`, as `DELETE`).
pub async fn delete(state: web::Data<AppState>, form: MemberForm<Pairs>, path: web::Path<String>) -> Page {
    let member = form.member;
    let id = path.into_inner();
    let ctx = member.auth.clone();
    let public_url = state.config.public_url.clone();
    let done = state
        .db
        .write(move |conn| end_own(conn, &ctx, &id, &IfMatch(None), &public_url))
        .await;
    see_other_or_error(done, |()| "/subscriptions".into())
}
