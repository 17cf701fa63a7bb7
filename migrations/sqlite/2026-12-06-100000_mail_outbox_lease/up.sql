-- The account-mail outbox is worked by the same job runner as notifications (src/jobs): a
-- claim stamps its rows with a lease id, and outcomes are written only where the row still
-- carries it. `locked_until` stays the lease's end.
ALTER TABLE mail_outbox ADD COLUMN lease_id TEXT;
