DROP INDEX results_window_id;
