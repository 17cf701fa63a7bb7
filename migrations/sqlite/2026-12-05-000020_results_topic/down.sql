PRAGMA foreign_keys = OFF;
BEGIN;
-- Changes of the topic going away, and what they caused.
DELETE FROM notification_deliveries WHERE notification_id IN (SELECT id FROM notifications
    WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'results'));
DELETE FROM notifications WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'results');
DELETE FROM change_events WHERE topic = 'results';
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
