ALTER TABLE mail_outbox DROP COLUMN lease_id;
