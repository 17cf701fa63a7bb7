DROP TABLE claim_queue;
DROP TABLE claim_offers;
ALTER TABLE claims DROP COLUMN reminded_for;
ALTER TABLE uit_windows DROP COLUMN claim_ttl_days;
