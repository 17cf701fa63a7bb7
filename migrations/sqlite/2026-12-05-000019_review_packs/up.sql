-- Review packs (src/review_packs): the evidence of a UIT window frozen at one moment, stored
-- as canonical JSON (and its results as CSV) in parts of at most 1 MiB, never changed after
-- creation; its SHA-256 is the pack's ETag.
CREATE TABLE review_packs (
    id TEXT PRIMARY KEY NOT NULL,
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    release_id TEXT NOT NULL REFERENCES releases (id),
    title TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    results BIGINT NOT NULL,
    readiness_met BOOLEAN NOT NULL,
    summary TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by_user_id TEXT REFERENCES users (id),
    created_by_org_id TEXT NOT NULL REFERENCES organisations (id)
);
CREATE INDEX review_packs_window ON review_packs (window_id, id);

-- The pack's bytes: part 'json' (the document), 'csv' (its results table) and 'index' (what
-- a diff compares), each cut into pieces in seq order.
CREATE TABLE review_pack_parts (
    pack_id TEXT NOT NULL REFERENCES review_packs (id),
    part TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (pack_id, part, seq)
);

-- Verdicts of reviewers and the operator on a pack: the latest of an organisation is its
-- current one (superseded_at null); earlier ones are kept as history.
CREATE TABLE pack_reviews (
    id TEXT PRIMARY KEY NOT NULL,
    pack_id TEXT NOT NULL REFERENCES review_packs (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    user_id TEXT REFERENCES users (id),
    verdict TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    superseded_at TIMESTAMP
);
CREATE INDEX pack_reviews_pack ON pack_reviews (pack_id, org_id);

-- The stage gate: a move to production_proving or approved cites a pack, with its hash, the
-- verdicts at that moment and any override of unmet criteria.
ALTER TABLE release_stage_history ADD COLUMN review_pack_id TEXT;
ALTER TABLE release_stage_history ADD COLUMN review_pack_sha256 TEXT;
ALTER TABLE release_stage_history ADD COLUMN reviews TEXT;
ALTER TABLE release_stage_history ADD COLUMN override_reason TEXT;
