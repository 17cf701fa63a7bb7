-- Claims, results (with revisions), defect masks and their adoptions.

-- One lead per device set per window, guaranteed here rather than by check-then-insert.
CREATE TABLE claims (
    id TEXT PRIMARY KEY NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL REFERENCES device_sets (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    note TEXT NOT NULL DEFAULT '',
    claimed_by_user_id TEXT,
    claimed_at TIMESTAMP NOT NULL,
    UNIQUE (window_id, device_set_id)
);
CREATE INDEX claims_org ON claims (org_id, window_id);

CREATE TABLE defect_masks (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL CHECK (severity IN ('critical','major','minor','cosmetic')),
    device_model_id TEXT NOT NULL REFERENCES device_models (id),
    symptom TEXT NOT NULL DEFAULT '',
    workaround TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('open','mitigated','fixed','withdrawn')),
    fixed_in_firmware_id TEXT REFERENCES firmware_versions (id),
    owner_org_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX defect_masks_model ON defect_masks (device_model_id, id);
CREATE INDEX defect_masks_status ON defect_masks (status, id);

CREATE TABLE defect_mask_firmware (
    defect_mask_id TEXT NOT NULL REFERENCES defect_masks (id) ON DELETE CASCADE,
    firmware_id TEXT NOT NULL REFERENCES firmware_versions (id),
    PRIMARY KEY (defect_mask_id, firmware_id)
);
CREATE INDEX defect_mask_firmware_firmware ON defect_mask_firmware (firmware_id, defect_mask_id);

CREATE TABLE defect_mask_adoptions (
    defect_mask_id TEXT NOT NULL REFERENCES defect_masks (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    adopted_by_user_id TEXT,
    adopted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (defect_mask_id, org_id)
);

-- One current result per (window, set, scenario, organisation); amendments keep revisions.
CREATE TABLE results (
    id TEXT PRIMARY KEY NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL REFERENCES device_sets (id),
    scenario_code TEXT NOT NULL REFERENCES scenarios (code),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    outcome TEXT NOT NULL CHECK (outcome IN ('pass','pass_with_observations','fail','blocked','not_run')),
    executed_at TIMESTAMP,
    notes TEXT NOT NULL DEFAULT '',
    external_ref TEXT,
    visibility TEXT NOT NULL CHECK (visibility IN ('private','participants','industry')),
    lead BOOLEAN NOT NULL DEFAULT FALSE,
    -- The defect mask ids, as a JSON array: kept on the row so reads need no join.
    -- `version` counts amendments: revision N of a result is its row at version N.
    defect_mask_ids TEXT NOT NULL DEFAULT '[]',
    published_by_user_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (window_id, device_set_id, scenario_code, org_id)
);
CREATE INDEX results_window_org ON results (window_id, org_id, id);
-- Covers the matrix and coverage aggregate of a window without touching the table.
CREATE INDEX results_window_matrix ON results (window_id, device_set_id, scenario_code, outcome, visibility, org_id, defect_mask_ids, id);
CREATE INDEX results_set ON results (device_set_id, id);

CREATE TABLE result_defect_masks (
    result_id TEXT NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    defect_mask_id TEXT NOT NULL REFERENCES defect_masks (id),
    PRIMARY KEY (result_id, defect_mask_id)
);
CREATE INDEX result_defect_masks_mask ON result_defect_masks (defect_mask_id);

CREATE TABLE result_revisions (
    id TEXT PRIMARY KEY NOT NULL,
    result_id TEXT NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    snapshot_json TEXT NOT NULL,
    visibility TEXT NOT NULL,
    replaced_at TIMESTAMP NOT NULL,
    replaced_by_user_id TEXT,
    UNIQUE (result_id, revision)
);
