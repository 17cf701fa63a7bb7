-- Notifications: subscriptions, the notification outbox (one row per subscriber and change, or
-- per daily digest) and its delivery log. Portable types only, the same text on both backends.

-- A subscriber is a user (`user_id`, mail goes to their current address) or an email address
-- with no account (`email`, double opt-in: `pending` until the emailed token is confirmed).
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    email TEXT,
    topics_json TEXT NOT NULL,
    filters_json TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('immediate','daily_digest')),
    status TEXT NOT NULL CHECK (status IN ('pending','active','unsubscribed')),
    confirm_token_hash TEXT UNIQUE,
    confirmation_sent_at TIMESTAMP,
    confirmed_at TIMESTAMP,
    unsubscribe_token TEXT NOT NULL UNIQUE,
    unsubscribed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    CHECK ((user_id IS NULL) <> (email IS NULL))
);
CREATE INDEX subscriptions_user ON subscriptions (user_id, id);
CREATE INDEX subscriptions_email ON subscriptions (email, confirmation_sent_at);
CREATE INDEX subscriptions_status ON subscriptions (status, id);

-- `event`: one change for one subscriber, sent at once. `digest_item`: the same for a daily
-- digest subscriber, waiting (`next_attempt_at` is when its digest is due) until it is folded
-- into a `digest` row (`digest_id`), which is what is sent. A `sending` row is leased until
-- `next_attempt_at` by the worker holding `lease_id`.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('event','digest_item','digest')),
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    change_event_id TEXT REFERENCES change_events (id),
    digest_id TEXT REFERENCES notifications (id) ON DELETE SET NULL,
    digest_day DATE,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','sending','sent','failed','dead','cancelled','digested')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_id TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
-- A change reaches a subscription once, however often the fan-out runs.
CREATE UNIQUE INDEX notifications_once ON notifications (subscription_id, change_event_id);
CREATE UNIQUE INDEX notifications_digest_once ON notifications (subscription_id, digest_day) WHERE kind = 'digest';
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('pending','failed','sending') AND kind <> 'digest_item';
CREATE INDEX notifications_digest_due ON notifications (kind, status, next_attempt_at);
CREATE INDEX notifications_digest ON notifications (digest_id);
CREATE INDEX notifications_status ON notifications (status, id);

-- Every delivery attempt, for the operator view.
CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('sent','failed','dead','cancelled')),
    error TEXT
);
CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id, attempted_at);
