//! A small, realistic industry to try every endpoint with: `uit-portal seed-demo`.
//! Organisation names are invented; the shapes (N/N-1 firmware, North and Central/South
//! Comms Hubs, a SEC release in UIT with an open window) follow the industry's.

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use super::{
    date, firmware_row, insert_rows, insert_window_rows, model_row, org_row, q, set_rows, ts, FirmwareSeed, Rng,
};
use crate::auth::password;
use crate::db::schema::{device_models, organisations};
use crate::db::{new_id, now, write_tx, DbConn, WindowId};
use crate::http::ApiError;
use crate::http::ErrorCode;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "uit-demo-password";

/// One demo login.
pub struct DemoAccount {
    pub email: String,
    pub organisation: String,
    pub kind: &'static str,
    pub role: &'static str,
}

const ORGS: [(&str, &str, &str); 12] = [
    ("Northern Lights Energy", "northern-lights", "supplier"),
    ("Thames Valley Power", "thames-valley", "supplier"),
    ("Severn Supply Co", "severn-supply", "supplier"),
    ("Highland Gas & Power", "highland", "supplier"),
    ("Meterwise", "meterwise", "manufacturer"),
    ("Albion Metering", "albion", "manufacturer"),
    ("Pennine Gas Meters", "pennine", "manufacturer"),
    ("Brightside Displays", "brightside", "manufacturer"),
    ("Kelvin Controls", "kelvin", "manufacturer"),
    ("CSP North", "csp-north", "service_provider"),
    ("CSP Central and South", "csp-central-south", "service_provider"),
    ("SEC Administrator", "secas", "reviewer"),
];

/// Products: (owner slug, device type, name, hardware version, firmware versions oldest first).
#[rustfmt::skip]
pub const PRODUCTS: [(&str, &str, &str, &str, [&str; 3]); 10] = [
    ("csp-north", "CHF", "Comms Hub North (SMETS2)", "CH-N 3", ["2.2.1", "2.3.0", "2.4.0"]),
    ("csp-central-south", "CHF", "Comms Hub Central/South (SMETS2)", "CH-CS 2", ["5.9", "5.10", "5.11"]),
    ("meterwise", "ESME", "Meterwise E470 single-phase", "E470-2", ["1.8", "1.9", "1.10"]),
    ("albion", "ESME", "Albion A100 credit/prepay", "A100", ["3.0.4", "3.1.0", "3.2.0"]),
    ("kelvin", "ESME", "Kelvin Twin-element", "TE-1", ["0B0D0011", "0B0D0012", "0B0D0013"]),
    ("pennine", "GSME", "Pennine G4 smart gas meter", "G4-R2", ["4.1", "4.2", "4.3"]),
    ("albion", "GSME", "Albion GX gas", "GX", ["2.0", "2.1", "2.2"]),
    ("meterwise", "PPMID", "Meterwise Keypad PPMID", "KP-1", ["1.0", "1.1", "1.2"]),
    ("brightside", "IHD", "Brightside Glow IHD", "GLOW-3", ["6.0", "6.1", "6.2"]),
    ("brightside", "IHD", "Brightside Mini IHD", "MINI-1", ["2.5", "2.6", "2.7"]),
];

/// What `seed-demo` loaded, for its closing message.
pub struct Demo {
    pub accounts: Vec<DemoAccount>,
    pub window_id: WindowId,
    pub window_name: String,
}

/// Loads the demo estate and its window's activity; refuses when the catalogue already holds data.
pub fn seed(conn: &mut DbConn) -> Result<Demo, ApiError> {
    let existing: i64 = device_models::table.count().get_result(conn)?;
    if existing > 0 {
        return Err(ApiError::conflict(
            ErrorCode::NotEmpty,
            "the catalogue already holds data; seed-demo wants a fresh database",
        ));
    }
    let operator: (String, String) = organisations::table
        .filter(organisations::kind.eq("operator"))
        .order(organisations::id)
        .select((organisations::id, organisations::slug))
        .first(conn)
        .map_err(|_| ApiError::unprocessable(ErrorCode::NoOperator, "start the server once (or run migrate) first"))?;
    let hash = password::hash_blocking(DEMO_PASSWORD)?;
    let now = now();
    let today = now.date();
    let mut rng = Rng::new(7);

    let org_ids: Vec<(String, &str, &str, &str)> = ORGS.iter().map(|(n, s, k)| (new_id(), *n, *s, *k)).collect();
    let id_of = |slug: &str| org_ids.iter().find(|o| o.2 == slug).map(|o| o.0.clone()).expect("org");
    let mut accounts = Vec::new();
    let mut user_rows = Vec::new();
    // (org slug, org id, admin user id), for the activity.
    let mut admins: Vec<(String, String, String)> = Vec::new();
    let mut add_user = |org_id: &str, org_name: &str, slug: &str, kind: &'static str, role: &'static str| {
        let email = format!("{role}@{slug}.demo");
        let user_id = new_id();
        if role == "admin" {
            admins.push((slug.to_string(), org_id.to_string(), user_id.clone()));
        }
        user_rows.push(format!(
            "({}, {}, {}, {}, {}, {}, 0, {}, {}, 1)",
            q(&user_id),
            q(org_id),
            q(&email),
            q(&format!("{org_name} {role}")),
            q(role),
            q(&hash),
            ts(now),
            ts(now)
        ));
        accounts.push(DemoAccount {
            email,
            organisation: org_name.to_string(),
            kind,
            role,
        });
    };
    for (id, name, slug, kind) in &org_ids {
        let kind: &'static str = match *kind {
            "supplier" => "supplier",
            "manufacturer" => "manufacturer",
            "service_provider" => "service_provider",
            _ => "reviewer",
        };
        add_user(id, name, slug, kind, "admin");
        if kind == "supplier" {
            add_user(id, name, slug, kind, "member");
        }
    }
    add_user(&operator.0, "Operator", &operator.1, "operator", "member");
    add_user(
        &id_of("northern-lights"),
        "Northern Lights Energy",
        "northern-lights",
        "supplier",
        "viewer",
    );

    let mut model_rows = Vec::new();
    let mut firmware_rows = Vec::new();
    // (device type, [previous, deployed, approved] ids)
    let mut firmware: Vec<(&str, [String; 3])> = Vec::new();
    // Per product, in PRODUCTS order: (model id, [N-1, N, N+1] firmware ids).
    let mut products: Vec<(String, [String; 3])> = Vec::new();
    for (owner, device_type, name, hw, versions) in PRODUCTS {
        let model_id = new_id();
        model_rows.push(model_row(&model_id, &id_of(owner), device_type, name, hw, now));
        let ids = [new_id(), new_id(), new_id()];
        let statuses = ["previous", "deployed", "approved"];
        for i in 0..3 {
            let row = FirmwareSeed {
                id: &ids[i],
                model: &model_id,
                version: versions[i],
                status: statuses[i],
                released_on: Some(today - Duration::days(400 - 150 * i as i64)),
                // N-1 is scheduled to retire, with N as its successor.
                retirement_date: (i == 0).then(|| today + Duration::days(90)),
                successor: (i == 0).then_some(ids[1].as_str()),
            };
            firmware_rows.push(firmware_row(&row, now));
        }
        products.push((model_id.clone(), ids.clone()));
        firmware.push((device_type, ids));
    }
    let of_type =
        |t: &str| -> Vec<&[String; 3]> { firmware.iter().filter(|(ft, _)| *ft == t).map(|(_, ids)| ids).collect() };
    let (hubs, esmes, gsmes, ihds, ppmids) = (
        of_type("CHF"),
        of_type("ESME"),
        of_type("GSME"),
        of_type("IHD"),
        of_type("PPMID"),
    );

    // 24 sets: every hub's deployed firmware with each ESME (and a GSME, an IHD), plus the
    // new hub firmware under test in the release with the most prevalent combinations.
    let mut sets = Vec::new();
    let mut set_ids = Vec::new();
    let mut members = Vec::new();
    let mut combos: Vec<(String, Vec<String>)> = Vec::new();
    for hub in &hubs {
        for (i, esme) in esmes.iter().enumerate() {
            let gsme = &gsmes[i % gsmes.len()][1];
            let ihd = &ihds[i % ihds.len()][1];
            combos.push((
                hub[1].clone(),
                vec![hub[1].clone(), esme[1].clone(), gsme.clone(), ihd.clone()],
            ));
            combos.push((hub[1].clone(), vec![hub[1].clone(), esme[1].clone()]));
            combos.push((
                hub[2].clone(),
                vec![hub[2].clone(), esme[1].clone(), gsme.clone(), ihd.clone()],
            ));
            combos.push((
                hub[2].clone(),
                vec![hub[2].clone(), esme[0].clone(), ppmids[0][1].clone()],
            ));
        }
    }
    for (n, (hub, ids)) in combos.iter().enumerate() {
        let prevalence = (250_000 / (1 + n as i64)) + rng.below(5000) as i64;
        let set_id = new_id();
        let (set, rows) = set_rows(
            &set_id,
            &format!("Demo set {:02}", n + 1),
            hub,
            ids,
            prevalence,
            &operator.0,
            now,
        );
        sets.push(set);
        set_ids.push(set_id);
        members.extend(rows);
    }

    let release_id = new_id();
    let window_id = new_id();
    let opened = now - Duration::days(7);
    let closes = now + Duration::days(14);
    let release_firmware: Vec<String> = hubs
        .iter()
        .map(|h| format!("({}, {})", q(&release_id), q(&h[2])))
        .collect();
    let stages = ["content_agreed", "pit", "sit", "uit"];
    let history: Vec<String> = stages
        .iter()
        .enumerate()
        .map(|(i, to)| {
            let at = now - Duration::days(60 - 15 * i as i64);
            let from = if i == 0 { "NULL".to_string() } else { q(stages[i - 1]) };
            format!(
                "({}, {}, {from}, {}, {}, {}, NULL, {}, {})",
                q(&new_id()),
                q(&release_id),
                q(to),
                ts(at),
                ts(at),
                q(&operator.0),
                q("Demo: agreed at the release board")
            )
        })
        .collect();
    let scenarios = [
        "install_and_commission",
        "prepayment_top_up",
        "comms_hub_replacement",
        "change_of_mode",
    ];
    write_tx(conn, |conn| {
        let orgs: Vec<String> = org_ids.iter().map(|(id, n, s, k)| org_row(id, n, s, k, now)).collect();
        insert_rows(conn, "organisations", super::ORG_COLUMNS, &orgs)?;
        insert_rows(
            conn,
            "users",
            "id, org_id, email, name, role, password_hash, token_version, created_at, updated_at, version",
            &user_rows,
        )?;
        insert_rows(conn, "device_models", super::MODEL_COLUMNS, &model_rows)?;
        insert_rows(conn, "firmware_versions", super::FIRMWARE_COLUMNS, &firmware_rows)?;
        insert_rows(conn, "device_sets", super::SET_COLUMNS, &sets)?;
        insert_rows(conn, "device_set_members", super::MEMBER_COLUMNS, &members)?;
        insert_rows(
            conn,
            "releases",
            "id, name, kind, target_date, stage, notes, created_at, updated_at, version",
            &[format!(
                "({}, {}, 'sec_release', {}, 'uit', {}, {}, {}, 1)",
                q(&release_id),
                q("SEC Release November 2026: Comms Hub firmware"),
                date(NaiveDate::from_ymd_opt(2027, 2, 25).unwrap_or(today)),
                q("New Comms Hub firmware for both regions."),
                ts(now),
                ts(now)
            )],
        )?;
        insert_rows(conn, "release_firmware", "release_id, firmware_id", &release_firmware)?;
        insert_rows(
            conn,
            "release_stage_history",
            "id, release_id, from_stage, to_stage, decided_at, effective_at, actor_user_id, actor_org_id, decision_note",
            &history,
        )?;
        insert_rows(
            conn,
            "uit_windows",
            "id, release_id, name, opens_at, closes_at, cancelled_at, cancel_reason, created_at, updated_at, version, \
             exit_criteria",
            &[format!(
                "({}, {}, {}, {}, {}, NULL, NULL, {}, {}, 1, {})",
                q(&window_id),
                q(&release_id),
                q(WINDOW_NAME),
                ts(opened),
                ts(closes),
                ts(now),
                ts(now),
                q(EXIT_CRITERIA)
            )],
        )?;
        let window_scenarios: Vec<String> = scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| format!("({}, {}, {i})", q(&window_id), q(s)))
            .collect();
        let participants: Vec<String> = ["northern-lights", "thames-valley"]
            .iter()
            .map(|s| format!("({}, {}, {}, NULL)", q(&window_id), q(&id_of(s)), ts(opened)))
            .collect();
        insert_window_rows(conn, &window_scenarios, &participants)?;
        let orgs: Vec<(String, String, String)> = admins
            .iter()
            .cloned()
            .chain(std::iter::once((operator.1.clone(), operator.0.clone(), String::new())))
            .collect();
        super::activity::seed(
            conn,
            &super::activity::Estate {
                now,
                window_id: &window_id,
                sets: &set_ids,
                orgs: &orgs,
                products: &products,
            },
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Demo {
        accounts,
        window_id: window_id.into(),
        window_name: WINDOW_NAME.into(),
    })
}

const WINDOW_NAME: &str = "UIT-2026-11";
/// What the demo window must show before its firmware leaves UIT (see /windows/{id}/readiness).
const EXIT_CRITERIA: &str = r#"{"min_weighted_share":0.5,"max_unexplained_failures":0,"min_publishing_suppliers":3,"no_open_blocking_issues":true}"#;
