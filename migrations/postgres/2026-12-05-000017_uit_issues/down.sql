-- Changes of the topic going away, and what they caused.
DELETE FROM notification_deliveries WHERE notification_id IN (SELECT id FROM notifications
    WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'uit_issues'));
DELETE FROM notifications WHERE change_event_id IN (SELECT id FROM change_events WHERE topic = 'uit_issues');
DELETE FROM change_events WHERE topic = 'uit_issues';
ALTER TABLE change_events DROP CONSTRAINT change_events_topic_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_topic_check
    CHECK (topic IN ('releases','uit_windows','retirements','roadmaps','defect_masks'));
DROP TABLE uit_issue_history;
DROP TABLE uit_issue_results;
DROP TABLE uit_issue_device_sets;
DROP TABLE uit_issues;
