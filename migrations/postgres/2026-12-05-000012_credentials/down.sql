ALTER TABLE invitations DROP COLUMN revoked_at;
DROP TABLE rate_limit_counters;
