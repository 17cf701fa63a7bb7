-- The `results` topic (new failures and new known issues of shared results), and the UIT
-- windows a change is about, which the subscription filter `uit_window_ids` matches.
ALTER TABLE change_events DROP CONSTRAINT change_events_topic_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_topic_check
    CHECK (topic IN ('releases','uit_windows','retirements','roadmaps','defect_masks','uit_issues','results'));
ALTER TABLE change_events ADD COLUMN uit_window_ids_json TEXT NOT NULL DEFAULT '[]';
UPDATE change_events SET uit_window_ids_json = json_build_array(entity_id)::text
    WHERE entity_type = 'uit_window';
UPDATE change_events SET uit_window_ids_json = json_build_array(details_json::json ->> 'uit_window_id')::text
    WHERE entity_type = 'uit_issue' AND details_json::json ->> 'uit_window_id' IS NOT NULL;
