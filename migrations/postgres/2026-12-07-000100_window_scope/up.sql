-- Sampled window scopes (issue 13, part 2): a window's explicit list of device sets, chosen by
-- the operator from the latest DPL (`prevalence`) or listed (`explicit`). Without a row here a
-- window's scope is the implied one (sets holding its release's firmware, plus claimed sets).
CREATE TABLE window_scopes (
    window_id TEXT PRIMARY KEY NOT NULL REFERENCES uit_windows (id) ON DELETE CASCADE,
    strategy TEXT NOT NULL CHECK (strategy IN ('prevalence','explicit')),
    top_n BIGINT,
    cover_every_live_version BOOLEAN NOT NULL DEFAULT FALSE,
    dpl_as_of DATE,
    set_by_user_id TEXT,
    set_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    set_at TIMESTAMP NOT NULL
);

-- The sets of an explicit scope, in the order chosen, each with why it is in.
CREATE TABLE window_scope_sets (
    window_id TEXT NOT NULL REFERENCES window_scopes (window_id) ON DELETE CASCADE,
    device_set_id TEXT NOT NULL REFERENCES device_sets (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (window_id, device_set_id)
);
CREATE INDEX window_scope_sets_set ON window_scope_sets (device_set_id);

-- A grid reads the scope: its changes bump the global grid version (see grid_versions).
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON window_scopes FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
CREATE TRIGGER grid_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON window_scope_sets FOR EACH STATEMENT EXECUTE FUNCTION bump_grid_version();
