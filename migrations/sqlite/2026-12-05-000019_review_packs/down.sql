ALTER TABLE release_stage_history DROP COLUMN override_reason;
ALTER TABLE release_stage_history DROP COLUMN reviews;
ALTER TABLE release_stage_history DROP COLUMN review_pack_sha256;
ALTER TABLE release_stage_history DROP COLUMN review_pack_id;
DROP TABLE pack_reviews;
DROP TABLE review_pack_parts;
DROP TABLE review_packs;
