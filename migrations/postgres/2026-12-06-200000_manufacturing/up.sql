-- Manufacturing decisions (issue 13, part 7): which firmware version of a Comms Hub model is
-- manufactured from which date. One decision per model and date; the one in force is the
-- latest `from_date` on or before today.
CREATE TABLE manufacturing_decisions (
    id TEXT PRIMARY KEY NOT NULL,
    device_model_id TEXT NOT NULL REFERENCES device_models (id),
    firmware_id TEXT NOT NULL REFERENCES firmware_versions (id),
    from_date DATE NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    decided_by_org_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (device_model_id, from_date)
);
CREATE INDEX manufacturing_decisions_firmware ON manufacturing_decisions (firmware_id);
