-- The estate (issue 13, part 1): Deployed Products List imports, run as jobs, and each device
-- set's installed count as of each DPL date.

-- One uploaded DPL file. An import is idempotent by its content: the same bytes for the same
-- `as_of` are the same import. Counters and `bytes_read` are updated as the job streams the
-- file (rows read = imported + rejected); `heartbeat_at` tells a live job from one whose
-- worker died.
CREATE TABLE estate_imports (
    id TEXT PRIMARY KEY NOT NULL,
    content_sha256 TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('csv','jsonl')),
    as_of DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed')),
    rows_imported BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    bytes_total BIGINT NOT NULL,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_by_user_id TEXT,
    created_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    heartbeat_at TIMESTAMP,
    UNIQUE (content_sha256, as_of)
);
CREATE INDEX estate_imports_status ON estate_imports (status, id);

-- The first rejected rows of an import (the job keeps 1,000; `rows_rejected` counts all).
CREATE TABLE estate_import_rejections (
    import_id TEXT NOT NULL REFERENCES estate_imports (id) ON DELETE CASCADE,
    line BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- A device set's installed count as of a DPL date; `device_sets.prevalence` is the count of
-- the set's latest `as_of`.
CREATE TABLE device_set_prevalence (
    device_set_id TEXT NOT NULL REFERENCES device_sets (id) ON DELETE CASCADE,
    as_of DATE NOT NULL,
    installed_count BIGINT NOT NULL CHECK (installed_count >= 0),
    import_id TEXT NOT NULL REFERENCES estate_imports (id),
    PRIMARY KEY (device_set_id, as_of)
);
CREATE INDEX device_set_prevalence_import ON device_set_prevalence (import_id);
