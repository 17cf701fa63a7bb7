-- The versions behind the matrix's and coverage's ETags (src/matrix/versions.rs). Scope ''
-- is everything a grid reads besides results: device sets and their members, the catalogue,
-- organisations' names. The triggers below bump it on every change to those tables, so no
-- write path can forget to. A window's own scope (its id) is bumped by every result write
-- (`results::model::upsert`), in the write's transaction. The global version starts at the
-- clock in microseconds, so a database rebuilt from nothing never repeats an earlier ETag.
CREATE TABLE grid_versions (
    scope TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO grid_versions (scope, version)
VALUES ('', CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
CREATE TRIGGER grid_version_claims_insert AFTER INSERT ON claims BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_claims_update AFTER UPDATE ON claims BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_claims_delete AFTER DELETE ON claims BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_masks_insert AFTER INSERT ON defect_masks BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_masks_update AFTER UPDATE ON defect_masks BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_masks_delete AFTER DELETE ON defect_masks BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_mask_firmware_insert AFTER INSERT ON defect_mask_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_mask_firmware_update AFTER UPDATE ON defect_mask_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_defect_mask_firmware_delete AFTER DELETE ON defect_mask_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_sets_insert AFTER INSERT ON device_sets BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_sets_update AFTER UPDATE ON device_sets BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_sets_delete AFTER DELETE ON device_sets BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_set_members_insert AFTER INSERT ON device_set_members BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_set_members_update AFTER UPDATE ON device_set_members BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_set_members_delete AFTER DELETE ON device_set_members BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_models_insert AFTER INSERT ON device_models BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_models_update AFTER UPDATE ON device_models BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_device_models_delete AFTER DELETE ON device_models BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_firmware_versions_insert AFTER INSERT ON firmware_versions BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_firmware_versions_update AFTER UPDATE ON firmware_versions BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_firmware_versions_delete AFTER DELETE ON firmware_versions BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_release_firmware_insert AFTER INSERT ON release_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_release_firmware_update AFTER UPDATE ON release_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_release_firmware_delete AFTER DELETE ON release_firmware BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_uit_windows_insert AFTER INSERT ON uit_windows BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_uit_windows_update AFTER UPDATE ON uit_windows BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_uit_windows_delete AFTER DELETE ON uit_windows BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_scenarios_insert AFTER INSERT ON window_scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_scenarios_update AFTER UPDATE ON window_scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_scenarios_delete AFTER DELETE ON window_scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_participants_insert AFTER INSERT ON window_participants BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_participants_update AFTER UPDATE ON window_participants BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_window_participants_delete AFTER DELETE ON window_participants BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_scenarios_insert AFTER INSERT ON scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_scenarios_update AFTER UPDATE ON scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_scenarios_delete AFTER DELETE ON scenarios BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_organisations_insert AFTER INSERT ON organisations BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_organisations_update AFTER UPDATE ON organisations BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
CREATE TRIGGER grid_version_organisations_delete AFTER DELETE ON organisations BEGIN UPDATE grid_versions SET version = version + 1 WHERE scope = ''; END;
