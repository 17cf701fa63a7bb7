//! A million results for the matrix and coverage benchmarks: one open benchmark window whose
//! every (set, scenario, supplier) has a result, and closed windows holding the rest.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::firmware_versions;
use crate::db::{new_id, write_tx, DbConn};
use crate::http::ApiError;
use crate::seed::{insert_rows, insert_window_rows, q, ts, Rng};

const SCENARIOS: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];
const COLUMNS: &str =
    "id, window_id, device_set_id, scenario_code, org_id, outcome, executed_at, notes, external_ref, \
     visibility, lead, defect_mask_ids, published_by_user_id, created_at, updated_at, version";
const OTHER_WINDOWS: usize = 11;
const CHUNK: usize = 500;

fn outcome(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..=69 => "pass",
        70..=79 => "pass_with_observations",
        80..=89 => "fail",
        90..=94 => "blocked",
        _ => "not_run",
    }
}

/// Suppliers 0-3 publish to the industry, 4-6 to participants, 7-9 privately.
fn visibility(org_index: usize) -> &'static str {
    match org_index {
        0..=3 => "industry",
        4..=6 => "participants",
        _ => "private",
    }
}

#[allow(clippy::too_many_arguments)]
pub fn seed(
    conn: &mut DbConn,
    rng: &mut Rng,
    suppliers: &[(String, String)],
    bench_sets: &[String],
    all_sets: &[String],
    bench_hub: &str,
    total: usize,
    tag: &str,
    now: NaiveDateTime,
) -> Result<String, ApiError> {
    let hub_model: String = firmware_versions::table
        .find(bench_hub)
        .select(firmware_versions::device_model_id)
        .first(conn)?;
    let bench_release = new_id();
    let bench_window = new_id();
    let mut releases = vec![format!(
        "({}, {}, 'sec_release', NULL, 'uit', '', {}, {}, 1)",
        q(&bench_release),
        q(&format!("Scale bench release {tag}")),
        ts(now),
        ts(now)
    )];
    let mut windows = vec![format!(
        "({}, {}, {}, {}, {}, NULL, NULL, {}, {}, 1)",
        q(&bench_window),
        q(&bench_release),
        q(&format!("UIT-BENCH-{tag}")),
        ts(now - Duration::days(1)),
        ts(now + Duration::days(14)),
        ts(now),
        ts(now)
    )];
    let mut other_windows = Vec::new();
    for k in 0..OTHER_WINDOWS {
        let (release, window) = (new_id(), new_id());
        let opens = now - Duration::days(400 - 30 * k as i64);
        releases.push(format!(
            "({}, {}, 'planned_maintenance', NULL, 'complete', '', {}, {}, 1)",
            q(&release),
            q(&format!("Scale release {k} {tag}")),
            ts(now),
            ts(now)
        ));
        windows.push(format!(
            "({}, {}, {}, {}, {}, NULL, NULL, {}, {}, 1)",
            q(&window),
            q(&release),
            q(&format!("UIT-SCALE-{k}-{tag}")),
            ts(opens),
            ts(opens + Duration::days(21)),
            ts(now),
            ts(now)
        ));
        other_windows.push(window);
    }
    let all_windows: Vec<&String> = std::iter::once(&bench_window).chain(other_windows.iter()).collect();
    let scenarios: Vec<String> = all_windows
        .iter()
        .flat_map(|w| {
            SCENARIOS
                .iter()
                .enumerate()
                .map(move |(i, s)| format!("({}, {}, {i})", q(w), q(s)))
        })
        .collect();
    let participants: Vec<String> = all_windows
        .iter()
        .flat_map(|w| {
            suppliers
                .iter()
                .map(move |(org, _)| format!("({}, {}, {}, NULL)", q(w), q(org), ts(now)))
        })
        .collect();
    let mask = new_id();
    let mut holders: HashMap<&String, usize> = HashMap::new();
    let mut claims = Vec::new();
    for set in bench_sets {
        if rng.below(10) < 6 {
            let holder = rng.below(suppliers.len());
            holders.insert(set, holder);
            claims.push(format!(
                "({}, {}, {}, {}, '', NULL, {})",
                q(&new_id()),
                q(&bench_window),
                q(set),
                q(&suppliers[holder].0),
                ts(now)
            ));
        }
    }
    write_tx(conn, |conn| {
        insert_rows(
            conn,
            "releases",
            "id, name, kind, target_date, stage, notes, created_at, updated_at, version",
            &releases,
        )?;
        insert_rows(
            conn,
            "release_firmware",
            "release_id, firmware_id",
            &[format!("({}, {})", q(&bench_release), q(bench_hub))],
        )?;
        insert_rows(
            conn,
            "uit_windows",
            "id, release_id, name, opens_at, closes_at, cancelled_at, cancel_reason, created_at, updated_at, version",
            &windows,
        )?;
        insert_window_rows(conn, &scenarios, &participants)?;
        insert_rows(
            conn,
            "defect_masks",
            "id, code, title, description, severity, device_model_id, symptom, workaround, status, fixed_in_firmware_id, \
             owner_org_id, created_at, updated_at, version",
            &[format!(
                "({}, {}, 'Hub drops HAN after swap', '', 'major', {}, '', '', 'open', NULL, {}, {}, {}, 1)",
                q(&mask),
                q(&format!("DM-SCALE-{tag}")),
                q(&hub_model),
                q(&suppliers[0].0),
                ts(now),
                ts(now)
            )],
        )?;
        insert_rows(
            conn,
            "claims",
            "id, window_id, device_set_id, org_id, note, claimed_by_user_id, claimed_at",
            &claims,
        )
    })?;

    // The keys, in order: the bench window's every (set, scenario, supplier), then the other
    // windows', walking all sets, until `total`.
    let bench_keys = bench_sets
        .iter()
        .flat_map(|s| (0..SCENARIOS.len()).flat_map(move |c| (0..10).map(move |o| (0usize, s, c, o))));
    let other_keys = (0..OTHER_WINDOWS).flat_map(|w| {
        all_sets
            .iter()
            .flat_map(move |s| (0..SCENARIOS.len()).flat_map(move |c| (0..10).map(move |o| (w + 1, s, c, o))))
    });
    let mut keys = bench_keys.chain(other_keys).take(total);
    let mask_json = serde_json::to_string(&[&mask]).unwrap_or_default();
    loop {
        let mut rows = Vec::with_capacity(CHUNK * 40);
        let mut masked = Vec::new();
        for (w, set, c, o) in keys.by_ref().take(CHUNK * 40) {
            let id = new_id();
            let out = outcome(rng);
            let explained = out == "fail" && rng.below(10) < 3;
            if explained {
                masked.push(format!("({}, {})", q(&id), q(&mask)));
            }
            let lead = w == 0 && holders.get(set) == Some(&o);
            rows.push(format!(
                "({}, {}, {}, {}, {}, {}, {}, '', NULL, {}, {}, {}, NULL, {}, {}, 1)",
                q(&id),
                q(all_windows[w]),
                q(set),
                q(SCENARIOS[c]),
                q(&suppliers[o].0),
                q(out),
                ts(now - Duration::hours(1 + rng.below(500) as i64)),
                q(visibility(o)),
                if lead { "TRUE" } else { "FALSE" },
                q(if explained { &mask_json } else { "[]" }),
                ts(now),
                ts(now)
            ));
        }
        if rows.is_empty() {
            break;
        }
        write_tx(conn, |conn| {
            insert_rows(conn, "results", COLUMNS, &rows)?;
            insert_rows(conn, "result_defect_masks", "result_id, defect_mask_id", &masked)
        })?;
    }
    // Rows loaded around `results::model::upsert`: recount the per-cell aggregates.
    write_tx(conn, crate::matrix::cells::rebuild)?;
    Ok(bench_window)
}
