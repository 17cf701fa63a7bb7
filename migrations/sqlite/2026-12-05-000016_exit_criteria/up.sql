-- A UIT window's exit criteria (src/readiness/criteria.rs), set by the operator: JSON, null
-- when none are set.
ALTER TABLE uit_windows ADD COLUMN exit_criteria TEXT;
