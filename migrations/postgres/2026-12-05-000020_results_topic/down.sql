-- Changes of the topic going away, and what they caused.
DELETE FROM notification_deliveries WHERE notification_id IN (SELECT id FROM notifications
    WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'results'));
DELETE FROM notifications WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'results');
DELETE FROM change_events WHERE topic = 'results';
ALTER TABLE change_events DROP COLUMN uit_window_ids_json;
ALTER TABLE change_events DROP CONSTRAINT change_events_topic_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_topic_check
    CHECK (topic IN ('releases','uit_windows','retirements','roadmaps','defect_masks','uit_issues'));
