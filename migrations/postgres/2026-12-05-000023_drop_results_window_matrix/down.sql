CREATE INDEX results_window_matrix ON results (window_id, device_set_id, scenario_code, outcome, visibility, org_id, defect_mask_ids, id);
