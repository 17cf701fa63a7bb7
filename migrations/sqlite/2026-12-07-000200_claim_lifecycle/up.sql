-- The claim lifecycle (issue 13, part 4): claims lapse after a window's `claim_ttl_days`
-- without a result, are handed over by offers, and held sets have a waiting list.
ALTER TABLE uit_windows ADD COLUMN claim_ttl_days INTEGER;
-- The deadline a lapse reminder was sent for (once per deadline; a result moves it).
ALTER TABLE claims ADD COLUMN reminded_for TIMESTAMP;

CREATE TABLE claim_offers (
    id TEXT PRIMARY KEY NOT NULL,
    -- No foreign key: the claim row goes when it is released or lapses, the offer stays.
    claim_id TEXT NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL REFERENCES device_sets (id),
    from_org_id TEXT NOT NULL REFERENCES organisations (id),
    to_org_id TEXT NOT NULL REFERENCES organisations (id),
    status TEXT NOT NULL,
    offered_by_user_id TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by_user_id TEXT
);
CREATE INDEX claim_offers_from ON claim_offers (from_org_id);
CREATE INDEX claim_offers_to ON claim_offers (to_org_id);
CREATE INDEX claim_offers_claim ON claim_offers (claim_id);

CREATE TABLE claim_queue (
    id TEXT PRIMARY KEY NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL REFERENCES device_sets (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    note TEXT NOT NULL DEFAULT '',
    queued_by_user_id TEXT,
    queued_at TIMESTAMP NOT NULL,
    UNIQUE (window_id, device_set_id, org_id)
);
CREATE INDEX claim_queue_org ON claim_queue (org_id);
