-- The covering index behind the matrix's old per-window aggregate over `results`. The matrix
-- reads the per-cell aggregates (`result_cells`, migration 000021) since, the known-issue query
-- its own partial index and a reader's own results `results_window_org_visibility`; a cell's
-- results are found through the unique key. Kept, it cost every result write an eight-column
-- index entry (and an update of it whenever an outcome or visibility changed).
DROP INDEX results_window_matrix;
