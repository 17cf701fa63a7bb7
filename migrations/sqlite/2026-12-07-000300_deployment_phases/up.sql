-- Co-operative deployment (issue 13, part 6): what suppliers nominate for a deployment phase
-- (one nomination per organisation per release and phase), and the operator's assessment of
-- each phase after its meeting. The latest assessment of the phase a release is in decides
-- whether it may move to the next phase.
CREATE TABLE deployment_nominations (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id),
    phase TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    device_set_ids_json TEXT NOT NULL,
    hub_count BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by_user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (release_id, phase, org_id)
);
CREATE TABLE deployment_assessments (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id),
    phase TEXT NOT NULL,
    outcome TEXT NOT NULL,
    issues_json TEXT NOT NULL,
    minutes TEXT NOT NULL,
    recorded_by_user_id TEXT NOT NULL REFERENCES users (id),
    recorded_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX deployment_assessments_release ON deployment_assessments (release_id, phase, id);
