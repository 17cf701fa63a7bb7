-- Per-cell aggregates of results (src/matrix/cells.rs), kept in the transaction of every
-- result write: how many results of a window have each (device set, scenario, visibility,
-- outcome), and how many each organisation published at each visibility. The matrix, coverage,
-- readiness and review packs read these instead of counting the window's results each time;
-- only the reader's own results (a supplier's private working notes) are still counted from
-- `results`, through its (window_id, org_id, id) index.
CREATE TABLE result_counts (
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    device_set_id TEXT NOT NULL,
    scenario_code TEXT NOT NULL,
    visibility TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (window_id, device_set_id, scenario_code, visibility, outcome)
);
CREATE TABLE result_publishers (
    window_id TEXT NOT NULL REFERENCES uit_windows (id),
    org_id TEXT NOT NULL REFERENCES organisations (id),
    visibility TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (window_id, org_id, visibility)
);
INSERT INTO result_counts (window_id, device_set_id, scenario_code, visibility, outcome, n)
SELECT window_id, device_set_id, scenario_code, visibility, outcome, COUNT(*)
FROM results GROUP BY window_id, device_set_id, scenario_code, visibility, outcome;
INSERT INTO result_publishers (window_id, org_id, visibility, n)
SELECT window_id, org_id, visibility, COUNT(*)
FROM results GROUP BY window_id, org_id, visibility;
