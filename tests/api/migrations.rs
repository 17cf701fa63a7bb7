use diesel::connection::SimpleConnection;
use uit_portal::db::{migrations, DbTarget};

use crate::helpers::{fresh_postgres_schema, with_search_path};

/// Up, down and up again, on whichever backend the suite runs against.
#[test]
fn migrations_run_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let (target, cleanup) = match fresh_postgres_schema() {
        Some((admin, schema)) => {
            let url = with_search_path(&admin.url, &schema);
            (DbTarget::parse(&url, "normal").unwrap(), Some((admin, schema)))
        }
        None => (
            DbTarget::parse(&format!("sqlite://{}", dir.path().join("m.db").display()), "normal").unwrap(),
            None,
        ),
    };
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
    if let Some((admin, schema)) = cleanup {
        admin
            .connect()
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
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
