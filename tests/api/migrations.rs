use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};
use uit_portal::db::{migrations, DbTarget};

use crate::helpers::{fresh_postgres_schema, with_search_path};

/// A database of its own on whichever backend the suite runs against, and what drops it.
fn own_database(dir: &tempfile::TempDir) -> (DbTarget, Option<(DbTarget, String)>) {
    match fresh_postgres_schema() {
        Some((admin, schema)) => {
            let url = with_search_path(&admin.url, &schema);
            (DbTarget::parse(&url, "normal").unwrap(), Some((admin, schema)))
        }
        None => (
            DbTarget::parse(&format!("sqlite://{}", dir.path().join("m.db").display()), "normal").unwrap(),
            None,
        ),
    }
}

fn drop_own(cleanup: Option<(DbTarget, String)>) {
    if let Some((admin, schema)) = cleanup {
        admin
            .connect()
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}

/// Up, down and up again, on whichever backend the suite runs against.
#[test]
fn migrations_run_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let (target, cleanup) = own_database(&dir);
    let mut conn = target.connect().unwrap();
    let up = migrations::run_pending(&mut conn).unwrap();
    assert!(!up.is_empty());
    assert!(migrations::is_current(&mut conn).unwrap());
    let down = migrations::revert_all(&mut conn).unwrap();
    assert_eq!(down.len(), up.len());
    assert!(!migrations::is_current(&mut conn).unwrap());
    let again = migrations::run_pending(&mut conn).unwrap();
    assert_eq!(again, up);
    assert!(migrations::is_current(&mut conn).unwrap());
    drop_own(cleanup);
}

/// Change events recorded before their producers stated the audience get, from the migration
/// that adds the column, the audience the fan-out used to read from their details.
#[test]
fn events_recorded_before_the_audience_column_keep_the_audience_they_had() {
    let dir = tempfile::tempdir().unwrap();
    let (target, cleanup) = own_database(&dir);
    let mut conn = target.connect().unwrap();
    migrations::run_pending(&mut conn).unwrap();
    // Back to just before `2026-12-07-000400_event_audience`.
    while migrations::revert_last(&mut conn).unwrap().replace('-', "") != "20261207000400" {}
    let legacy = [
        ("e1", "release", json!({ "field": "target_date" })),
        (
            "e2",
            "roadmap_item",
            json!({ "visibility": "participants", "owner_org_id": "m1" }),
        ),
        (
            "e3",
            "roadmap_item",
            json!({ "visibility": "private", "owner_org_id": "m1" }),
        ),
        ("e4", "roadmap_item", json!({ "visibility": "industry" })),
        ("e5", "library_contact", json!({ "manufacturer_org_id": "m1" })),
        (
            "e6",
            "results",
            json!({ "visibility": "industry", "uit_window_id": "w1", "org_id": "o1" }),
        ),
        (
            "e7",
            "results",
            json!({ "visibility": "participants", "uit_window_id": "w1", "org_id": "o1" }),
        ),
        (
            "e8",
            "uit_issue",
            json!({ "uit_window_id": "w1", "raised_by_org_id": "o1", "resolving_org_id": "m1" }),
        ),
        ("e9", "something_else", json!({})),
    ];
    for (id, entity_type, details) in &legacy {
        conn.batch_execute(&format!(
            "INSERT INTO change_events (id, occurred_at, topic, kind, entity_type, entity_id, summary, details_json,
                device_types_json, device_model_ids_json, manufacturer_org_ids_json, uit_window_ids_json)
             VALUES ('{id}', '2026-12-01 10:00:00', 'releases', 'x.y', '{entity_type}', 'x', 's', '{details}',
                '[]', '[]', '[]', '[]')"
        ))
        .unwrap();
    }
    migrations::run_pending(&mut conn).unwrap();
    use uit_portal::db::schema::change_events as ce;
    let stored: Vec<(String, String)> = ce::table
        .select((ce::id, ce::audience))
        .order(ce::id.asc())
        .load(&mut conn)
        .unwrap();
    let got: Vec<Value> = stored.iter().map(|(_, a)| serde_json::from_str(a).unwrap()).collect();
    let window = |orgs: Value| json!({ "kind": "window_participants", "window_id": "w1", "org_ids": orgs });
    assert_eq!(
        got,
        [
            json!({ "kind": "industry" }),
            json!({ "kind": "participants", "owner_org_id": "m1" }),
            json!({ "kind": "owner", "owner_org_id": "m1" }),
            json!({ "kind": "nobody" }),
            json!({ "kind": "owner_admins", "owner_org_id": "m1" }),
            json!({ "kind": "members" }),
            window(json!(["o1"])),
            window(json!(["o1", "m1"])),
            json!({ "kind": "nobody" }),
        ]
    );
    drop_own(cleanup);
}

#[test]
fn both_backends_have_the_same_migration_names() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}
