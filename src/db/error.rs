//! What the data layer says of a refused write, in its own terms: which unique key of the
//! schema a violation hit, recognised from PostgreSQL's constraint name or SQLite's message.
//! `http::error` maps each key to a problem code, so no code path re-reads the table to find
//! out why an insert failed, and a PostgreSQL race that slips past a check-then-insert is
//! answered with the same code as the check.

use diesel::result::DatabaseErrorInformation;

/// A unique key of the schema that the API answers with its own problem code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    OrganisationSlug,
    UserEmail,
    DeviceModel,
    FirmwareVersion,
    DeviceSetMembership,
    ReleaseName,
    WindowName,
    ScenarioCode,
    Claim,
    DefectMaskCode,
    Result,
    ManufacturingDecision,
    DeploymentNomination,
    ResultRevision,
    IdempotencyKey,
}

/// Each key: PostgreSQL's name for it (`<table>_<columns>_key`, `<table>_pkey`) and the
/// columns SQLite lists in `UNIQUE constraint failed: ...`.
const KEYS: &[(UniqueKey, &str, &str)] = &[
    (
        UniqueKey::OrganisationSlug,
        "organisations_slug_key",
        "organisations.slug",
    ),
    (UniqueKey::UserEmail, "users_email_key", "users.email"),
    (
        UniqueKey::DeviceModel,
        "device_models_manufacturer_org_id_name_hardware_version_key",
        "device_models.manufacturer_org_id, device_models.name, device_models.hardware_version",
    ),
    (
        UniqueKey::FirmwareVersion,
        "firmware_versions_device_model_id_version_key",
        "firmware_versions.device_model_id, firmware_versions.version",
    ),
    (
        UniqueKey::DeviceSetMembership,
        "device_sets_membership_key_key",
        "device_sets.membership_key",
    ),
    (UniqueKey::ReleaseName, "releases_name_key", "releases.name"),
    (UniqueKey::WindowName, "uit_windows_name_key", "uit_windows.name"),
    (UniqueKey::ScenarioCode, "scenarios_pkey", "scenarios.code"),
    (
        UniqueKey::Claim,
        "claims_window_id_device_set_id_key",
        "claims.window_id, claims.device_set_id",
    ),
    (UniqueKey::DefectMaskCode, "defect_masks_code_key", "defect_masks.code"),
    (
        UniqueKey::Result,
        "results_window_id_device_set_id_scenario_code_org_id_key",
        "results.window_id, results.device_set_id, results.scenario_code, results.org_id",
    ),
    (
        UniqueKey::ManufacturingDecision,
        "manufacturing_decisions_device_model_id_from_date_key",
        "manufacturing_decisions.device_model_id, manufacturing_decisions.from_date",
    ),
    (
        UniqueKey::DeploymentNomination,
        "deployment_nominations_release_id_phase_org_id_key",
        "deployment_nominations.release_id, deployment_nominations.phase, deployment_nominations.org_id",
    ),
    (
        UniqueKey::ResultRevision,
        "result_revisions_result_id_revision_key",
        "result_revisions.result_id, result_revisions.revision",
    ),
    (
        UniqueKey::IdempotencyKey,
        "idempotency_keys_pkey",
        "idempotency_keys.principal, idempotency_keys.idem_key",
    ),
];

impl UniqueKey {
    /// The key a unique violation hit, when it is one the API names.
    pub fn of(info: &dyn DatabaseErrorInformation) -> Option<UniqueKey> {
        if let Some(name) = info.constraint_name() {
            return KEYS.iter().find(|(_, pg, _)| *pg == name).map(|(key, ..)| *key);
        }
        let columns = info.message().strip_prefix("UNIQUE constraint failed: ")?;
        KEYS.iter()
            .find(|(.., sqlite)| *sqlite == columns)
            .map(|(key, ..)| *key)
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::result::{DatabaseErrorKind, Error};
    use diesel::sql_types::Text;

    use super::*;
    use crate::db::{migrations, DbConn, DbTarget};

    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        columns: String,
    }

    #[test]
    fn every_named_key_is_a_unique_key_of_the_schema_under_both_backends_names() {
        let mut conn = DbTarget::parse("sqlite://:memory:", "normal")
            .unwrap()
            .connect()
            .unwrap();
        migrations::run_pending(&mut conn).unwrap();
        // Every unique index (primary keys included) as SQLite's message lists its columns.
        let unique: Vec<String> = diesel::sql_query(
            "SELECT group_concat(m.name || '.' || ii.name, ', ') AS columns \
             FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND il.\"unique\" = 1 GROUP BY m.name, il.name",
        )
        .load::<Key>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|k| k.columns)
        .collect();
        for (key, pg, sqlite) in KEYS {
            assert!(
                unique.contains(&sqlite.to_string()),
                "{key:?}: no unique key on {sqlite}"
            );
            // PostgreSQL's own names: `<table>_<column>_..._key` for a UNIQUE constraint,
            // `<table>_pkey` for a primary key.
            let table = sqlite.split('.').next().unwrap();
            let columns: Vec<&str> = sqlite.split(", ").map(|c| c.split_once('.').unwrap().1).collect();
            let named = [format!("{table}_{}_key", columns.join("_")), format!("{table}_pkey")];
            assert!(
                named.contains(&pg.to_string()),
                "{key:?}: {pg} is not PostgreSQL's name"
            );
        }
        // SQLite's message, from a real violation: a seeded scenario's code again.
        let DbConn::Sqlite(c) = &mut conn else { unreachable!() };
        match c.batch_execute(
            "INSERT INTO scenarios (code, title, created_at) VALUES ('change_of_mode', 'x', CURRENT_TIMESTAMP)",
        ) {
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
                assert_eq!(UniqueKey::of(info.as_ref()), Some(UniqueKey::ScenarioCode))
            }
            other => panic!("expected a unique violation: {other:?}"),
        }
    }
}
