-- Rate-limit counters every instance sees: one row per bucket key and fixed window,
-- incremented with an atomic upsert (src/http/ratelimit.rs). The key is a hash of the bucket
-- name and the subject (an account, a client address, a mailbox), not the subject itself.
CREATE TABLE rate_limit_counters (
    bucket_key TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    hits BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (bucket_key, window_start)
);
CREATE INDEX rate_limit_counters_expires_at ON rate_limit_counters (expires_at);

-- An admin may withdraw a pending invitation; its link then stops working.
ALTER TABLE invitations ADD COLUMN revoked_at TIMESTAMP;
