//! A large estate for benchmarks: `uit-portal seed-scale --device-models 200 --firmware 2000
//! --device-sets 20000`. Deterministic for a given `--seed`; additive (its organisations get a
//! fresh suffix each run).

use std::collections::HashSet;

use crate::db::{new_id, now, write_tx, DbConn, WindowId};
use crate::http::ApiError;

use super::{firmware_row, insert_rows, model_row, org_row, q, set_rows, ts, FirmwareSeed, Rng};

mod results;

pub struct ScaleOptions {
    pub device_models: usize,
    pub firmware: usize,
    pub device_sets: usize,
    pub seed: u64,
    /// Results to generate (0 for none). With results, a benchmark window is created: the first
    /// 2,000 sets hold a new hub firmware of its release, and ten supplier organisations publish
    /// every scenario of every one of those sets in it; the rest go to other windows.
    pub results: usize,
    /// When given, each generated supplier gets an admin `admin@<slug>.scale` with this password.
    pub user_password: Option<String>,
}

/// What was created: counts, and the firmware ids of the most and least used hub firmware
/// (handy for benchmark filters).
#[derive(Debug, serde::Serialize)]
pub struct ScaleReport {
    pub organisations: usize,
    pub device_models: usize,
    pub firmware: usize,
    pub device_sets: usize,
    pub busiest_firmware_id: String,
    pub busiest_firmware_sets: usize,
    pub quietest_firmware_id: String,
    pub quietest_firmware_sets: usize,
    pub results: usize,
    /// The open benchmark window (present when results were generated).
    pub bench_window_id: Option<WindowId>,
    pub bench_window_sets: usize,
    /// Supplier admins (when a user password was given): participants of the bench window.
    pub supplier_emails: Vec<String>,
}

/// Device types by share of the estate: hubs first, then meters and home devices.
const TYPES: [(&str, usize); 6] = [
    ("CHF", 10),
    ("ESME", 30),
    ("GSME", 25),
    ("IHD", 20),
    ("PPMID", 10),
    ("GPF", 5),
];

pub fn seed(conn: &mut DbConn, o: &ScaleOptions) -> Result<ScaleReport, ApiError> {
    let mut rng = Rng::new(o.seed);
    let now = now();
    let tag = &new_id()[24..];
    let makers: Vec<(String, String)> = (0..10)
        .map(|i| (new_id(), format!("scale-mfr-{i}-{tag}")))
        .chain((0..2).map(|i| (new_id(), format!("scale-csp-{i}-{tag}"))))
        .collect();
    let suppliers: Vec<(String, String)> = (0..10)
        .map(|i| (new_id(), format!("scale-supplier-{i}-{tag}")))
        .collect();
    let supplier = suppliers[0].clone();
    let mut orgs: Vec<String> = makers
        .iter()
        .map(|(id, slug)| {
            let kind = if slug.contains("csp") {
                "service_provider"
            } else {
                "manufacturer"
            };
            org_row(id, slug, slug, kind, now)
        })
        .collect();
    orgs.extend(
        suppliers
            .iter()
            .map(|(id, slug)| org_row(id, slug, slug, "supplier", now)),
    );

    let total_share: usize = TYPES.iter().map(|(_, s)| s).sum();
    let mut models: Vec<(String, &str)> = Vec::new();
    let mut model_rows = Vec::new();
    for (t, share) in TYPES {
        let count = (o.device_models * share / total_share).max(1);
        for i in 0..count {
            let id = new_id();
            let owner = if t == "CHF" {
                &makers[10 + i % 2].0
            } else {
                &makers[i % 10].0
            };
            model_rows.push(model_row(
                &id,
                owner,
                t,
                &format!("{t} model {i}"),
                &format!("HW{}", i % 4),
                now,
            ));
            models.push((id, t));
        }
    }
    let per_model = (o.firmware / models.len()).max(2);
    let mut firmware_by_type: Vec<(&str, Vec<String>)> = TYPES.iter().map(|(t, _)| (*t, Vec::new())).collect();
    let mut firmware_rows = Vec::new();
    for (model, t) in &models {
        for v in 0..per_model {
            let id = new_id();
            let status = match per_model - 1 - v {
                0 => "deployed",
                1 => "previous",
                2 => "approved",
                _ => "retired",
            };
            let version = format!("{}.{}", 1 + v / 10, v % 10);
            let row = FirmwareSeed {
                id: &id,
                model,
                version: &version,
                status,
                released_on: None,
                retirement_date: None,
                successor: None,
            };
            firmware_rows.push(firmware_row(&row, now));
            firmware_by_type
                .iter_mut()
                .find(|(ft, _)| ft == t)
                .expect("type")
                .1
                .push(id);
        }
    }
    // The benchmark release's new hub firmware, in the first hub product.
    let bench = o.results > 0;
    let bench_hub = new_id();
    if bench {
        let hub_model = models
            .iter()
            .find(|(_, t)| *t == "CHF")
            .map(|(id, _)| id.clone())
            .expect("a hub model");
        let row = FirmwareSeed {
            id: &bench_hub,
            model: &hub_model,
            version: "99.0",
            status: "in_test",
            released_on: None,
            retirement_date: None,
            successor: None,
        };
        firmware_rows.push(firmware_row(&row, now));
    }
    let bench_sets = if bench { o.device_sets.min(2000) } else { 0 };
    let pick = |rng: &mut Rng, t: &str| -> String {
        let list = &firmware_by_type.iter().find(|(ft, _)| *ft == t).expect("type").1;
        // Skewed choice: low indexes are far more common, like real estates.
        let i = (rng.below(list.len()) * rng.below(list.len())) / list.len().max(1);
        list[i].clone()
    };
    let mut seen = HashSet::new();
    let mut set_ids: Vec<String> = Vec::new();
    let mut set_rows_out = Vec::new();
    let mut member_rows = Vec::new();
    let mut usage: std::collections::HashMap<String, usize> = Default::default();
    let mut attempts = 0;
    while set_rows_out.len() < o.device_sets && attempts < o.device_sets * 20 {
        attempts += 1;
        let hub = if set_rows_out.len() < bench_sets {
            bench_hub.clone()
        } else {
            pick(&mut rng, "CHF")
        };
        let meter = if rng.below(2) == 0 { "ESME" } else { "GSME" };
        let mut members = vec![hub.clone(), pick(&mut rng, meter)];
        for t in ["IHD", "PPMID", "GPF", "ESME"] {
            if rng.below(3) == 0 {
                members.push(pick(&mut rng, t));
            }
        }
        members.sort();
        members.dedup();
        if !seen.insert(members.join(",")) {
            continue;
        }
        for m in &members {
            *usage.entry(m.clone()).or_default() += 1;
        }
        let prevalence = (100_000 / (1 + rng.below(2000))) as i64;
        let set_id = new_id();
        set_ids.push(set_id.clone());
        let (set, rows) = set_rows(
            &set_id,
            &format!("scale set {}", set_rows_out.len()),
            &hub,
            &members,
            prevalence,
            &supplier.0,
            now,
        );
        set_rows_out.push(set);
        member_rows.extend(rows);
    }
    let hubs = &firmware_by_type[0].1;
    let busiest = hubs
        .iter()
        .max_by_key(|f| usage.get(*f).copied().unwrap_or(0))
        .cloned()
        .unwrap_or_default();
    let quietest = firmware_by_type
        .iter()
        .skip(1)
        .flat_map(|(_, ids)| ids)
        .filter(|f| usage.get(*f).copied().unwrap_or(0) > 0)
        .min_by_key(|f| usage.get(*f).copied().unwrap_or(0))
        .cloned()
        .unwrap_or_default();
    write_tx(conn, |conn| {
        insert_rows(conn, "organisations", super::ORG_COLUMNS, &orgs)?;
        insert_rows(conn, "device_models", super::MODEL_COLUMNS, &model_rows)?;
        insert_rows(conn, "firmware_versions", super::FIRMWARE_COLUMNS, &firmware_rows)?;
        insert_rows(conn, "device_sets", super::SET_COLUMNS, &set_rows_out)?;
        insert_rows(conn, "device_set_members", super::MEMBER_COLUMNS, &member_rows)?;
        Ok::<_, ApiError>(())
    })?;
    let mut supplier_emails = Vec::new();
    if let Some(password) = &o.user_password {
        let hash = crate::auth::password::hash_blocking(password)?;
        let users: Vec<String> = suppliers
            .iter()
            .map(|(id, slug)| {
                let email = format!("admin@{slug}.scale");
                let row = format!(
                    "({}, {}, {}, 'Scale admin', 'admin', {}, 0, {}, {}, 1)",
                    q(&new_id()),
                    q(id),
                    q(&email),
                    q(&hash),
                    ts(now),
                    ts(now)
                );
                supplier_emails.push(email);
                row
            })
            .collect();
        write_tx(conn, |conn| {
            insert_rows(
                conn,
                "users",
                "id, org_id, email, name, role, password_hash, token_version, created_at, updated_at, version",
                &users,
            )
        })?;
    }
    let bench_window_id = if bench {
        Some(results::seed(
            conn,
            &mut rng,
            &suppliers,
            &set_ids[..bench_sets],
            &set_ids,
            &bench_hub,
            o.results,
            tag,
            now,
        )?)
    } else {
        None
    };
    if let crate::db::DbConn::Pg(_) = conn {
        diesel::RunQueryDsl::execute(diesel::sql_query("VACUUM ANALYZE"), conn)?;
    }
    Ok(ScaleReport {
        organisations: orgs.len(),
        device_models: model_rows.len(),
        firmware: firmware_rows.len(),
        device_sets: set_rows_out.len(),
        busiest_firmware_sets: usage.get(&busiest).copied().unwrap_or(0),
        busiest_firmware_id: busiest,
        quietest_firmware_sets: usage.get(&quietest).copied().unwrap_or(0),
        quietest_firmware_id: quietest,
        results: o.results,
        bench_window_id: bench_window_id.map(Into::into),
        bench_window_sets: bench_sets,
        supplier_emails,
    })
}
