DROP TABLE result_revisions;
DROP TABLE result_defect_masks;
DROP TABLE results;
DROP TABLE defect_mask_adoptions;
DROP TABLE defect_mask_firmware;
DROP TABLE defect_masks;
DROP TABLE claims;
