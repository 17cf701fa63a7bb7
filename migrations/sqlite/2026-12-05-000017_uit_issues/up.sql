-- Runs outside diesel's transaction (metadata.toml): a CHECK constraint changes only by
-- rebuilding the table, and the rebuild of change_events (which notifications reference)
-- needs foreign keys off, which SQLite allows only outside a transaction (the procedure of
-- https://sqlite.org/lang_altertable.html#otheralter).
PRAGMA foreign_keys = OFF;
BEGIN;
-- UIT issues: incidents found in a UIT window, before they are known defects. Visible like
-- participants-level results (the window's participants, the operator) plus the raising and
-- resolving organisations (src/uit_issues/model.rs).
CREATE TABLE uit_issues (
    id TEXT PRIMARY KEY NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL CHECK (severity IN ('blocking','major','minor')),
    status TEXT NOT NULL CHECK (status IN ('open','triaged','resolved','confirmed','wont_fix')),
    raised_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    -- No foreign key: users can be removed, their issues stay.
    raised_by_user_id TEXT,
    resolving_org_id TEXT NOT NULL REFERENCES organisations (id),
    defect_mask_id TEXT REFERENCES defect_masks (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX uit_issues_window ON uit_issues (window_id, status, severity);
CREATE INDEX uit_issues_resolving ON uit_issues (resolving_org_id, id);
CREATE INDEX uit_issues_raiser ON uit_issues (raised_by_org_id, id);

CREATE TABLE uit_issue_device_sets (
    uit_issue_id TEXT NOT NULL REFERENCES uit_issues (id) ON DELETE CASCADE,
    device_set_id TEXT NOT NULL REFERENCES device_sets (id),
    PRIMARY KEY (uit_issue_id, device_set_id)
);

CREATE TABLE uit_issue_results (
    uit_issue_id TEXT NOT NULL REFERENCES uit_issues (id) ON DELETE CASCADE,
    result_id TEXT NOT NULL REFERENCES results (id),
    PRIMARY KEY (uit_issue_id, result_id)
);
CREATE INDEX uit_issue_results_result ON uit_issue_results (result_id);

-- Every step of an issue: raised (from_status NULL), each status transition and each
-- reassignment, with who, when, the comment and the resolving organisation after the step.
CREATE TABLE uit_issue_history (
    id TEXT PRIMARY KEY NOT NULL,
    uit_issue_id TEXT NOT NULL REFERENCES uit_issues (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status TEXT NOT NULL,
    resolving_org_id TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    actor_user_id TEXT,
    actor_org_id TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX uit_issue_history_issue ON uit_issue_history (uit_issue_id, id);

-- The new notification topic.
CREATE TABLE change_events_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    topic TEXT NOT NULL CHECK (topic IN ('releases','uit_windows','retirements','roadmaps','defect_masks','uit_issues')),
    kind TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    details_json TEXT NOT NULL,
    device_types_json TEXT NOT NULL DEFAULT '[]',
    device_model_ids_json TEXT NOT NULL DEFAULT '[]',
    manufacturer_org_ids_json TEXT NOT NULL DEFAULT '[]',
    actor_org_id TEXT,
    dedupe_key TEXT UNIQUE,
    consumed_at TIMESTAMP
);
INSERT INTO change_events_rebuilt (id, occurred_at, topic, kind, entity_type, entity_id, summary, details_json,
    device_types_json, device_model_ids_json, manufacturer_org_ids_json, actor_org_id, dedupe_key, consumed_at)
SELECT id, occurred_at, topic, kind, entity_type, entity_id, summary, details_json,
    device_types_json, device_model_ids_json, manufacturer_org_ids_json, actor_org_id, dedupe_key, consumed_at
FROM change_events;
DROP TABLE change_events;
ALTER TABLE change_events_rebuilt RENAME TO change_events;
CREATE INDEX change_events_pending ON change_events (occurred_at, id) WHERE consumed_at IS NULL;
CREATE INDEX change_events_entity ON change_events (entity_type, entity_id, id);
CREATE INDEX change_events_topic ON change_events (topic, id);
COMMIT;
PRAGMA foreign_keys = ON;
