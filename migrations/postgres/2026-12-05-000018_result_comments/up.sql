-- Comments on results (src/results/comments.rs). A comment has no visibility of its own: it is
-- read through its result's rule, so it follows the result's current visibility. Deleting one
-- is soft: the row stays (listed as deleted, body cleared) and the audit row keeps what it said.
-- The author's name is kept as it was when posting: a removed member's comments still say who
-- wrote them.
CREATE TABLE result_comments (
    id TEXT PRIMARY KEY NOT NULL,
    result_id TEXT NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    author_user_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    deleted_by_user_id TEXT
);
CREATE INDEX result_comments_result ON result_comments (result_id, id);
