-- The producer of a change event states who may hear of it (src/notifications/audience.rs):
-- stored with the event and read by the fan-out, the recent-changes list and the pages,
-- instead of each of them reading the details' keys. Events recorded before get the audience
-- the old rule gave them, from the same keys, once.
ALTER TABLE change_events ADD COLUMN audience TEXT NOT NULL DEFAULT '{"kind":"nobody"}';
UPDATE change_events SET audience = '{"kind":"industry"}'
    WHERE entity_type IN ('release', 'uit_window', 'firmware', 'defect_mask');
UPDATE change_events SET audience = CASE json_extract(details_json, '$.visibility')
        WHEN 'industry' THEN '{"kind":"industry"}'
        WHEN 'participants' THEN json_object('kind', 'participants',
            'owner_org_id', json_extract(details_json, '$.owner_org_id'))
        WHEN 'private' THEN json_object('kind', 'owner', 'owner_org_id', json_extract(details_json, '$.owner_org_id'))
        ELSE audience END
    WHERE entity_type = 'roadmap_item' AND json_valid(details_json)
        AND json_extract(details_json, '$.owner_org_id') IS NOT NULL;
UPDATE change_events SET audience = json_object('kind', 'owner_admins',
        'owner_org_id', json_extract(details_json, '$.manufacturer_org_id'))
    WHERE entity_type = 'library_contact' AND json_valid(details_json)
        AND json_extract(details_json, '$.manufacturer_org_id') IS NOT NULL;
UPDATE change_events SET audience = CASE json_extract(details_json, '$.visibility')
        WHEN 'industry' THEN '{"kind":"members"}'
        WHEN 'participants' THEN json_object('kind', 'window_participants',
            'window_id', json_extract(details_json, '$.uit_window_id'),
            'org_ids', json_array(json_extract(details_json, '$.org_id')))
        ELSE audience END
    WHERE entity_type = 'results' AND json_valid(details_json)
        AND json_extract(details_json, '$.uit_window_id') IS NOT NULL
        AND json_extract(details_json, '$.org_id') IS NOT NULL;
UPDATE change_events SET audience = json_object('kind', 'window_participants',
        'window_id', json_extract(details_json, '$.uit_window_id'),
        'org_ids', json_array(json_extract(details_json, '$.raised_by_org_id'),
            json_extract(details_json, '$.resolving_org_id')))
    WHERE entity_type = 'uit_issue' AND json_valid(details_json)
        AND json_extract(details_json, '$.uit_window_id') IS NOT NULL
        AND json_extract(details_json, '$.raised_by_org_id') IS NOT NULL
        AND json_extract(details_json, '$.resolving_org_id') IS NOT NULL;
