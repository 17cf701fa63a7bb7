DROP INDEX results_window_masked;
DROP INDEX results_window_org_visibility;
DROP TABLE result_publishers;
DROP TABLE result_cells;
