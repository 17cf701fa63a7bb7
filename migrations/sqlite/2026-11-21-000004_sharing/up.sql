-- Product roadmaps (with history), firmware-library contacts and calendar feed tokens.

CREATE TABLE roadmap_items (
    id TEXT PRIMARY KEY NOT NULL,
    device_model_id TEXT NOT NULL REFERENCES device_models (id),
    owner_org_id TEXT NOT NULL REFERENCES organisations (id),
    planned_version TEXT NOT NULL,
    planned_date DATE,
    category TEXT NOT NULL CHECK (category IN ('spec_change','defect_fix','enhancement','security')),
    summary TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('proposed','committed','delivered','cancelled')),
    visibility TEXT NOT NULL CHECK (visibility IN ('private','participants','industry')),
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX roadmap_items_model ON roadmap_items (device_model_id, id);
CREATE INDEX roadmap_items_owner ON roadmap_items (owner_org_id, id);
CREATE INDEX roadmap_items_date ON roadmap_items (planned_date);

CREATE TABLE roadmap_item_history (
    id TEXT PRIMARY KEY NOT NULL,
    roadmap_item_id TEXT NOT NULL REFERENCES roadmap_items (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    change TEXT NOT NULL,
    snapshot_json TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    changed_by_user_id TEXT,
    changed_by_org_id TEXT
);
CREATE INDEX roadmap_item_history_item ON roadmap_item_history (roadmap_item_id, id);

CREATE TABLE library_contacts (
    id TEXT PRIMARY KEY NOT NULL,
    manufacturer_org_id TEXT NOT NULL REFERENCES organisations (id),
    device_model_id TEXT REFERENCES device_models (id),
    contact_name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    url TEXT,
    notes TEXT NOT NULL DEFAULT '',
    verified_on DATE NOT NULL,
    -- The verified_on for which a "stale" reminder was recorded, so it is sent once.
    stale_reminded_for DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX library_contacts_manufacturer ON library_contacts (manufacturer_org_id, id);
CREATE INDEX library_contacts_model ON library_contacts (device_model_id);
CREATE INDEX library_contacts_verified ON library_contacts (verified_on);

-- One feed token per user, stored hashed; rotating replaces it.
CREATE TABLE calendar_tokens (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
