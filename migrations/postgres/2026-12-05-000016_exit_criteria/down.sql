ALTER TABLE uit_windows DROP COLUMN exit_criteria;
