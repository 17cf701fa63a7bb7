-- The producer of a change event states who may hear of it (src/notifications/audience.rs):
-- stored with the event and read by the fan-out, the recent-changes list and the pages,
-- instead of each of them reading the details' keys. Events recorded before get the audience
-- the old rule gave them, from the same keys, once.
ALTER TABLE change_events ADD COLUMN audience TEXT NOT NULL DEFAULT '{"kind":"nobody"}';
UPDATE change_events SET audience = '{"kind":"industry"}'
    WHERE entity_type IN ('release', 'uit_window', 'firmware', 'defect_mask');
UPDATE change_events SET audience = CASE details_json::json ->> 'visibility'
        WHEN 'industry' THEN '{"kind":"industry"}'
        WHEN 'participants' THEN json_build_object('kind', 'participants',
            'owner_org_id', details_json::json ->> 'owner_org_id')::text
        WHEN 'private' THEN json_build_object('kind', 'owner',
            'owner_org_id', details_json::json ->> 'owner_org_id')::text
        ELSE audience END
    WHERE entity_type = 'roadmap_item' AND details_json::json ->> 'owner_org_id' IS NOT NULL;
UPDATE change_events SET audience = json_build_object('kind', 'owner_admins',
        'owner_org_id', details_json::json ->> 'manufacturer_org_id')::text
    WHERE entity_type = 'library_contact' AND details_json::json ->> 'manufacturer_org_id' IS NOT NULL;
UPDATE change_events SET audience = CASE details_json::json ->> 'visibility'
        WHEN 'industry' THEN '{"kind":"members"}'
        WHEN 'participants' THEN json_build_object('kind', 'window_participants',
            'window_id', details_json::json ->> 'uit_window_id',
            'org_ids', json_build_array(details_json::json ->> 'org_id'))::text
        ELSE audience END
    WHERE entity_type = 'results' AND details_json::json ->> 'uit_window_id' IS NOT NULL
        AND details_json::json ->> 'org_id' IS NOT NULL;
UPDATE change_events SET audience = json_build_object('kind', 'window_participants',
        'window_id', details_json::json ->> 'uit_window_id',
        'org_ids', json_build_array(details_json::json ->> 'raised_by_org_id',
            details_json::json ->> 'resolving_org_id'))::text
    WHERE entity_type = 'uit_issue' AND details_json::json ->> 'uit_window_id' IS NOT NULL
        AND details_json::json ->> 'raised_by_org_id' IS NOT NULL
        AND details_json::json ->> 'resolving_org_id' IS NOT NULL;
