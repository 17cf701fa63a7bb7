//! The demo window's activity for `seed-demo`: claims, results (shared and private, a known
//! issue and an unexplained failure), defect masks, roadmap items and firmware-library contacts,
//! so that every read a newcomer tries first answers with something to look at.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::{date, insert_rows, opt, q, ts};
use crate::db::{new_id, DbConn};
use crate::http::ApiError;

/// What the activity hangs on, from the estate `demo::seed` wrote.
pub struct Estate<'a> {
    pub now: NaiveDateTime,
    pub window_id: &'a str,
    /// Device set ids in the order the sets were numbered ("Demo set 01" first).
    pub sets: &'a [String],
    /// (org slug, org id, user id of its admin)
    pub orgs: &'a [(String, String, String)],
    /// Product index (as in `demo::PRODUCTS`) -> (model id, [N-1, N, N+1] firmware ids).
    pub products: &'a [(String, [String; 3])],
}

impl Estate<'_> {
    fn org(&self, slug: &str) -> (&str, &str) {
        let o = self.orgs.iter().find(|o| o.0 == slug).expect("demo org");
        (&o.1, &o.2)
    }
}

/// (claim index, scenario index, outcome, visibility, notes, defect mask index)
type DemoResult = (usize, usize, &'static str, &'static str, &'static str, Option<usize>);

const SCENARIOS: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];

/// Loads the activity in the caller's transaction.
pub fn seed(conn: &mut DbConn, e: &Estate<'_>) -> Result<(), ApiError> {
    let now = e.now;
    let today = now.date();

    // Defect masks: (id, code, title, severity, product index, firmware index, symptom,
    // workaround, status, owner slug).
    let masks = [
        (
            new_id(),
            "DM-0001",
            "Comms Hub replacement loses the PPMID binding",
            "major",
            1usize,
            2usize,
            "After a Comms Hub replacement on firmware 5.11 the PPMID shows 'No connection' until re-paired.",
            "Re-pair the PPMID from the meter menu after the replacement.",
            "open",
            "csp-central-south",
        ),
        (
            new_id(),
            "DM-0002",
            "IHD shows yesterday's cost for ten minutes after midnight",
            "cosmetic",
            8,
            1,
            "The Glow IHD keeps the previous day's cost until its next refresh.",
            "None needed; the display corrects itself.",
            "mitigated",
            "brightside",
        ),
    ];
    let mask_rows: Vec<String> = masks
        .iter()
        .map(|m| {
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}, {}, 1)",
                q(&m.0),
                q(m.1),
                q(m.2),
                q(m.6),
                q(m.3),
                q(&e.products[m.4].0),
                q(m.6),
                q(m.7),
                q(m.8),
                q(e.org(m.9).0),
                ts(now - Duration::days(3)),
                ts(now - Duration::days(3))
            )
        })
        .collect();
    let mask_firmware: Vec<String> = masks
        .iter()
        .map(|m| format!("({}, {})", q(&m.0), q(&e.products[m.4].1[m.5])))
        .collect();
    insert_rows(
        conn,
        "defect_masks",
        "id, code, title, description, severity, device_model_id, symptom, workaround, status, \
         fixed_in_firmware_id, owner_org_id, created_at, updated_at, version",
        &mask_rows,
    )?;
    insert_rows(
        conn,
        "defect_mask_firmware",
        "defect_mask_id, firmware_id",
        &mask_firmware,
    )?;

    // Claims: sets 03 and 07 (North, new hub firmware) to Northern Lights; 16 (with a PPMID)
    // and 19 (Central/South, new hub firmware) to Thames Valley.
    let claims = [
        ("northern-lights", 2usize),
        ("northern-lights", 6),
        ("thames-valley", 15),
        ("thames-valley", 18),
    ];
    let claim_rows: Vec<String> = claims
        .iter()
        .map(|(slug, set)| {
            let (org, user) = e.org(slug);
            format!(
                "({}, {}, {}, {}, {}, {}, {})",
                q(&new_id()),
                q(e.window_id),
                q(&e.sets[*set]),
                q(org),
                q("We lead on this set for the November release."),
                q(user),
                ts(now - Duration::days(6))
            )
        })
        .collect();
    insert_rows(
        conn,
        "claims",
        "id, window_id, device_set_id, org_id, note, claimed_by_user_id, claimed_at",
        &claim_rows,
    )?;

    // Results on the claimed sets: (claim index, scenario index, outcome, visibility, notes, mask).
    let results: [DemoResult; 16] = [
        (0, 0, "pass", "industry", "", None),
        (0, 1, "pass", "industry", "", None),
        (0, 2, "pass", "industry", "", None),
        (
            0,
            3,
            "blocked",
            "participants",
            "Waiting for a prepayment test card from the meter manufacturer.",
            None,
        ),
        (1, 0, "pass", "industry", "", None),
        (
            1,
            1,
            "pass_with_observations",
            "industry",
            "Top-up reached the meter after 95 s (expected under 60 s).",
            None,
        ),
        (1, 2, "pass", "industry", "", None),
        (
            1,
            3,
            "pass",
            "private",
            "Re-run after the lab's HAN interference is fixed.",
            None,
        ),
        (2, 0, "pass", "industry", "", None),
        (2, 1, "pass", "industry", "", None),
        (
            2,
            2,
            "fail",
            "industry",
            "PPMID lost its binding after the hub swap; matches DM-0001.",
            Some(0),
        ),
        (2, 3, "pass", "industry", "", None),
        (3, 0, "pass", "participants", "", None),
        (3, 1, "not_run", "participants", "Scheduled for next week.", None),
        (3, 2, "pass", "participants", "", None),
        (
            3,
            3,
            "fail",
            "industry",
            "Mode change from credit to prepay timed out at the meter (DCC alert 8F3E).",
            None,
        ),
    ];
    let mut result_rows = Vec::new();
    let mut result_masks = Vec::new();
    for (i, (claim, scenario, outcome, visibility, notes, mask)) in results.iter().enumerate() {
        let (slug, set) = claims[*claim];
        let (org, user) = e.org(slug);
        let id = new_id();
        let at = now - Duration::days(5) + Duration::hours(i as i64);
        let mask_ids = match mask {
            Some(m) => {
                result_masks.push(format!("({}, {})", q(&id), q(&masks[*m].0)));
                serde_json::to_string(&[&masks[*m].0])?
            }
            None => "[]".into(),
        };
        result_rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, TRUE, {}, {}, {}, {}, 1)",
            q(&id),
            q(e.window_id),
            q(&e.sets[set]),
            q(SCENARIOS[*scenario]),
            q(org),
            q(outcome),
            ts(at),
            q(notes),
            opt(Some(q(&format!("RUN-{:04}", 1000 + i)))),
            q(visibility),
            q(&mask_ids),
            q(user),
            ts(at),
            ts(at)
        ));
    }
    insert_rows(
        conn,
        "results",
        "id, window_id, device_set_id, scenario_code, org_id, outcome, executed_at, notes, external_ref, \
         visibility, lead, defect_mask_ids, published_by_user_id, created_at, updated_at, version",
        &result_rows,
    )?;
    insert_rows(conn, "result_defect_masks", "result_id, defect_mask_id", &result_masks)?;
    // Rows loaded around `results::model::upsert`: recount the per-cell aggregates.
    crate::matrix::cells::rebuild(conn)?;

    // Roadmap items: (product index, owner slug, version, days ahead, category, summary, status, visibility).
    let roadmap = [
        (
            2usize,
            "meterwise",
            "1.11",
            120i64,
            "defect_fix",
            "Fixes the tariff switch display lag",
            "committed",
            "industry",
        ),
        (
            0,
            "csp-north",
            "2.5.0",
            200,
            "security",
            "Security update to the ZigBee stack",
            "proposed",
            "participants",
        ),
        (
            8,
            "brightside",
            "6.3",
            90,
            "enhancement",
            "Shows the gas cost per day",
            "proposed",
            "private",
        ),
    ];
    let mut roadmap_rows = Vec::new();
    let mut history_rows = Vec::new();
    for (product, owner, version, ahead, category, summary, status, visibility) in roadmap {
        let id = new_id();
        let (org, user) = e.org(owner);
        let model = &e.products[product].0;
        let planned: NaiveDate = today + Duration::days(ahead);
        roadmap_rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}, 1)",
            q(&id),
            q(model),
            q(org),
            q(version),
            date(planned),
            q(category),
            q(summary),
            q(status),
            q(visibility),
            ts(now),
            ts(now)
        ));
        let snapshot = serde_json::json!({
            "id": id,
            "device_model_id": model,
            "device_type": super::demo::PRODUCTS[product].1,
            "owner_org_id": org,
            "planned_version": version,
            "planned_date": planned.format("%Y-%m-%d").to_string(),
            "category": category,
            "summary": summary,
            "status": status,
            "visibility": visibility,
            "created_at": now.and_utc(),
            "updated_at": now.and_utc(),
        });
        history_rows.push(format!(
            "({}, {}, 1, 'created', {}, {}, {}, {})",
            q(&new_id()),
            q(&id),
            q(&snapshot.to_string()),
            ts(now),
            q(user),
            q(org)
        ));
    }
    insert_rows(
        conn,
        "roadmap_items",
        "id, device_model_id, owner_org_id, planned_version, planned_date, category, summary, status, \
         visibility, deleted_at, created_at, updated_at, version",
        &roadmap_rows,
    )?;
    insert_rows(
        conn,
        "roadmap_item_history",
        "id, roadmap_item_id, version, change, snapshot_json, changed_at, changed_by_user_id, changed_by_org_id",
        &history_rows,
    )?;

    // Firmware-library contacts; the Pennine one was last verified over a year ago (stale).
    let contacts = [
        (
            "meterwise",
            Some(2usize),
            "Meterwise firmware desk",
            "firmware@meterwise.demo",
            30i64,
        ),
        ("brightside", None, "Brightside support", "support@brightside.demo", 60),
        (
            "pennine",
            Some(5),
            "Pennine field engineering",
            "field@pennine.demo",
            400,
        ),
    ];
    let contact_rows: Vec<String> = contacts
        .iter()
        .map(|(owner, product, name, email, age)| {
            format!(
                "({}, {}, {}, {}, {}, {}, NULL, {}, {}, NULL, {}, {}, 1)",
                q(&new_id()),
                q(e.org(owner).0),
                opt(product.map(|p| q(&e.products[p].0))),
                q(name),
                q(email),
                q("+44 20 7946 0000"),
                q("Ask for the firmware image and its release notes; give the MPxN and the device GUID."),
                date(today - Duration::days(*age)),
                ts(now),
                ts(now)
            )
        })
        .collect();
    insert_rows(
        conn,
        "library_contacts",
        "id, manufacturer_org_id, device_model_id, contact_name, email, phone, url, notes, verified_on, \
         stale_reminded_for, created_at, updated_at, version",
        &contact_rows,
    )?;
    Ok(())
}
