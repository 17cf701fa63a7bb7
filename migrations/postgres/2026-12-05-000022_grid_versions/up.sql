-- The versions behind the matrix's and coverage's ETags (src/matrix/versions.rs). Scope ''
-- is everything a grid reads besides results: device sets and their members, the catalogue,
-- organisations' names. The triggers below bump it once per statement that changes those
-- tables, so no write path can forget to. A window's own scope (its id) is bumped by every
-- result write (`results::model::upsert`), in the write's transaction. The global version
-- starts at the clock in microseconds, so a database rebuilt from nothing never repeats an
-- earlier ETag.
CREATE TABLE grid_versions (
    scope TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO grid_versions (scope, version)
VALUES ('', (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
CREATE FUNCTION bump_grid_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE grid_versions SET version = version + 1 WHERE scope = '';
    RETURN NULL;
END
$$;
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON claims FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON defect_masks FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON defect_mask_firmware FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_sets FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_set_members FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_models FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON firmware_versions FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON release_firmware FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON uit_windows FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON window_scenarios FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON window_participants FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scenarios FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organisations FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
