-- Sessions of people signed in through the web pages (src/web/session.rs). The cookie holds a
-- random secret; only its SHA-256 is stored. A session ends at `expires_at` (absolute), after
-- an idle spell (`last_seen_at`), on sign-out, or when the user's token_version moves on from
-- the one recorded at sign-in (a password change or reset bumps it).
CREATE TABLE web_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
