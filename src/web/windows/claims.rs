//! Claiming and releasing a device set from the window page.

use actix_web::web;
use serde::Deserialize;

use super::Page;
use crate::claims::handlers::NewClaim;
use crate::db::{DeviceSetId, WindowId};
use crate::http::ApiError;
use crate::ui::member::{safe_next, MemberForm};
use crate::ui::{error_page, see_other_or_error};
use crate::AppState;

#[derive(Deserialize)]
pub struct SetForm {
    device_set_id: DeviceSetId,
    /// The page (with its filters) to return to.
    back: Option<String>,
}

/// Where to go after a claim or release: the window page the form was on.
pub(super) fn back_to(window_id: &str, back: Option<&str>) -> String {
    let base = format!("/windows/{window_id}");
    let next = safe_next(back);
    if next == base || next.starts_with(&format!("{base}?")) {
        next
    } else {
        base
    }
}

/// "Lead this set": the API's claim, for the member's organisation; 303 back to the page.
pub async fn claim(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<SetForm>,
    path: web::Path<WindowId>,
) -> Page {
    let id = path.into_inner();
    let back = back_to(&id, form.back.as_deref());
    let new = NewClaim {
        device_set_id: form.device_set_id,
        note: String::new(),
        queue: false,
    };
    let done = crate::claims::handlers::claim(state.get_ref(), member.auth.into(), id, new).await;
    see_other_or_error(done, |_| back)
}

/// "Release": the API's release of the member's organisation's claim on the set; 303 back.
pub async fn release(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<SetForm>,
    path: web::Path<WindowId>,
) -> Page {
    let id = path.into_inner();
    let back = back_to(&id, form.back.as_deref());
    let (w, s) = (id.clone(), form.device_set_id);
    let holder = state
        .db
        .run(move |conn| Ok(crate::claims::model::holder(conn, &w, &s)?))
        .await?;
    let Some(held) = holder else {
        return error_page(ApiError::not_found());
    };
    let done = crate::claims::handlers::release(state.get_ref(), member.auth.into(), held.id).await;
    see_other_or_error(done, |()| back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_address_stays_on_the_window() {
        assert_eq!(back_to("w1", Some("/windows/w1?page=2")), "/windows/w1?page=2");
        assert_eq!(back_to("w1", Some("/windows/w2")), "/windows/w1");
        assert_eq!(back_to("w1", Some("//evil.example/windows/w1")), "/windows/w1");
        assert_eq!(back_to("w1", None), "/windows/w1");
    }
}
