-- Per-cell aggregates of results (src/matrix/cells.rs), kept in the transaction of every
-- result write: per (window, device set, scenario), how many `industry` and how many
-- `participants` results have each outcome (one row per cell, so a window's grid reads one
-- row per cell instead of counting every result), and per (window, organisation, visibility)
-- how many results it published. `private` results are no one else's evidence: they are not
-- in the cells, and a reader's own are counted from `results` through the covering index below.
CREATE TABLE result_cells (
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL,
    scenario_code TEXT NOT NULL,
    industry_fail BIGINT NOT NULL DEFAULT 0,
    industry_blocked BIGINT NOT NULL DEFAULT 0,
    industry_pass_with_observations BIGINT NOT NULL DEFAULT 0,
    industry_pass BIGINT NOT NULL DEFAULT 0,
    industry_not_run BIGINT NOT NULL DEFAULT 0,
    participants_fail BIGINT NOT NULL DEFAULT 0,
    participants_blocked BIGINT NOT NULL DEFAULT 0,
    participants_pass_with_observations BIGINT NOT NULL DEFAULT 0,
    participants_pass BIGINT NOT NULL DEFAULT 0,
    participants_not_run BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (window_id, device_set_id, scenario_code)
);
CREATE TABLE result_publishers (
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    visibility TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (window_id, org_id, visibility)
);
INSERT INTO result_cells (window_id, device_set_id, scenario_code,
    industry_fail, industry_blocked, industry_pass_with_observations, industry_pass, industry_not_run,
    participants_fail, participants_blocked, participants_pass_with_observations, participants_pass,
    participants_not_run)
SELECT window_id, device_set_id, scenario_code,
    SUM(CASE WHEN visibility = 'industry' AND outcome = 'fail' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'industry' AND outcome = 'blocked' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'industry' AND outcome = 'pass_with_observations' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'industry' AND outcome = 'pass' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'industry' AND outcome = 'not_run' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'participants' AND outcome = 'fail' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'participants' AND outcome = 'blocked' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'participants' AND outcome = 'pass_with_observations' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'participants' AND outcome = 'pass' THEN 1 ELSE 0 END),
    SUM(CASE WHEN visibility = 'participants' AND outcome = 'not_run' THEN 1 ELSE 0 END)
FROM results WHERE visibility <> 'private'
GROUP BY window_id, device_set_id, scenario_code;
INSERT INTO result_publishers (window_id, org_id, visibility, n)
SELECT window_id, org_id, visibility, COUNT(*)
FROM results GROUP BY window_id, org_id, visibility;
-- A reader's own results of a window by visibility (its private working notes in the matrix).
CREATE INDEX results_window_org_visibility ON results (window_id, org_id, visibility, device_set_id, scenario_code, outcome);
-- The failures that cite defect masks, for the known-issue query: covering, so the query
-- reads the index alone instead of fetching each failure's row.
CREATE INDEX results_window_masked ON results (window_id, outcome, device_set_id, scenario_code, visibility, org_id, id)
    WHERE defect_mask_ids <> '[]';
