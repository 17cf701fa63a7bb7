-- Catalogue (device models, firmware), device sets, releases, UIT windows and change events.

CREATE TABLE device_models (
    id TEXT PRIMARY KEY NOT NULL,
    manufacturer_org_id TEXT NOT NULL REFERENCES organisations (id),
    device_type TEXT NOT NULL CHECK (device_type IN ('ESME','GSME','CHF','GPF','PPMID','HCALCS','IHD','CAD')),
    name TEXT NOT NULL,
    hardware_version TEXT NOT NULL,
    cpl_listed BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (manufacturer_org_id, name, hardware_version)
);
CREATE INDEX device_models_type ON device_models (device_type, id);
CREATE INDEX device_models_manufacturer ON device_models (manufacturer_org_id, id);

-- `version` is the firmware's own version string; `row_version` is the ETag counter.
CREATE TABLE firmware_versions (
    id TEXT PRIMARY KEY NOT NULL,
    device_model_id TEXT NOT NULL REFERENCES device_models (id),
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planned','in_test','approved','deployed','previous','retired','withdrawn')),
    released_on DATE,
    retirement_date DATE,
    successor_id TEXT REFERENCES firmware_versions (id),
    ota_upgradable BOOLEAN NOT NULL DEFAULT TRUE,
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    row_version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (device_model_id, version)
);
CREATE INDEX firmware_versions_model ON firmware_versions (device_model_id, version_key);
-- At most one deployed version (N) per product, guaranteed by the database.
CREATE UNIQUE INDEX firmware_versions_one_deployed ON firmware_versions (device_model_id) WHERE status = 'deployed';

-- Single-hop upgrade paths: `from_firmware_id` upgrades directly to `firmware_id`.
CREATE TABLE firmware_upgrade_paths (
    firmware_id TEXT NOT NULL REFERENCES firmware_versions (id) ON DELETE CASCADE,
    from_firmware_id TEXT NOT NULL REFERENCES firmware_versions (id) ON DELETE CASCADE,
    PRIMARY KEY (firmware_id, from_firmware_id)
);
CREATE INDEX firmware_upgrade_paths_from ON firmware_upgrade_paths (from_firmware_id);

-- A device set's identity is its membership: `membership_key` is the sorted firmware ids.
CREATE TABLE device_sets (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    membership_key TEXT NOT NULL UNIQUE,
    comms_hub_firmware_id TEXT NOT NULL REFERENCES firmware_versions (id),
    prevalence BIGINT NOT NULL DEFAULT 0 CHECK (prevalence >= 0),
    created_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX device_sets_prevalence ON device_sets (prevalence, id);

CREATE TABLE device_set_members (
    device_set_id TEXT NOT NULL REFERENCES device_sets (id) ON DELETE CASCADE,
    firmware_id TEXT NOT NULL REFERENCES firmware_versions (id),
    PRIMARY KEY (device_set_id, firmware_id)
);
CREATE INDEX device_set_members_firmware ON device_set_members (firmware_id, device_set_id);

CREATE TABLE scenarios (
    code TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
INSERT INTO scenarios (code, title, description, created_at) VALUES
    ('install_and_commission', 'Install and commission', 'Install the devices and commission them onto the home area network.', CURRENT_TIMESTAMP),
    ('prepayment_top_up', 'Prepayment top-up', 'Top up a prepayment meter and check the credit reaches the devices.', CURRENT_TIMESTAMP),
    ('comms_hub_replacement', 'Comms Hub replacement', 'Replace the Comms Hub and re-establish the devices.', CURRENT_TIMESTAMP),
    ('change_of_mode', 'Change of mode', 'Switch between credit and prepayment modes.', CURRENT_TIMESTAMP);

CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('sec_release','planned_maintenance','unplanned_maintenance')),
    target_date DATE,
    stage TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX releases_stage ON releases (stage, id);

CREATE TABLE release_firmware (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    firmware_id TEXT NOT NULL REFERENCES firmware_versions (id),
    PRIMARY KEY (release_id, firmware_id)
);
CREATE INDEX release_firmware_firmware ON release_firmware (firmware_id);

CREATE TABLE release_stage_history (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    effective_at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    actor_org_id TEXT,
    decision_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX release_stage_history_release ON release_stage_history (release_id, id);

CREATE TABLE uit_windows (
    id TEXT PRIMARY KEY NOT NULL,
    release_id TEXT NOT NULL REFERENCES releases (id),
    name TEXT NOT NULL UNIQUE,
    opens_at TIMESTAMP NOT NULL,
    closes_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP,
    cancel_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    CHECK (closes_at > opens_at)
);
CREATE INDEX uit_windows_release ON uit_windows (release_id, id);
CREATE INDEX uit_windows_opens ON uit_windows (opens_at);
CREATE INDEX uit_windows_closes ON uit_windows (closes_at);

CREATE TABLE window_scenarios (
    window_id TEXT NOT NULL REFERENCES uit_windows (id) ON DELETE CASCADE,
    scenario_code TEXT NOT NULL REFERENCES scenarios (code),
    position INTEGER NOT NULL,
    PRIMARY KEY (window_id, scenario_code)
);

CREATE TABLE window_participants (
    window_id TEXT NOT NULL REFERENCES uit_windows (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    joined_at TIMESTAMP NOT NULL,
    joined_by_user_id TEXT,
    PRIMARY KEY (window_id, org_id)
);
CREATE INDEX window_participants_org ON window_participants (org_id);

-- What subscribers care about, recorded in the transaction of the change. Consumers take
-- rows with `consumed_at IS NULL` in (occurred_at, id) order and set it in their own
-- transaction; `dedupe_key` makes clock-driven events (opened, closing soon, closed) once-only.
CREATE TABLE change_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    topic TEXT NOT NULL CHECK (topic IN ('releases','uit_windows','retirements','roadmaps','defect_masks')),
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
CREATE INDEX change_events_pending ON change_events (occurred_at, id) WHERE consumed_at IS NULL;
CREATE INDEX change_events_entity ON change_events (entity_type, entity_id, id);
CREATE INDEX change_events_topic ON change_events (topic, id);
