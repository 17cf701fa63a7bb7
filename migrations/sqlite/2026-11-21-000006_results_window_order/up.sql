-- A window's results in id order: `GET /results?uit_window_id=` pages through them by id, and
-- without this index SQLite read the whole window (80,000 rows in bench/load) and sorted it
-- for every page of 50.
CREATE INDEX results_window_id ON results (window_id, id);
