-- Operator overrides (`idres merge`, `idres split`), kept with who, when and why. They name
-- records, which keep their ids while customers merge and split around them.

CREATE TABLE overrides (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('merge', 'split')),
    actor        text NOT NULL,
    reason       text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    -- The customers it made: a merge's survivor; a split's kept and new customer.
    customer_ids text[] NOT NULL,
    -- The later override that overruled this one; NULL while it holds.
    lifted_by    bigint REFERENCES overrides (id)
);

-- A merge's records are all on side 0; a split's kept part is side 0, the part moved side 1.
CREATE TABLE override_records (
    override_id bigint NOT NULL REFERENCES overrides (id),
    record_id   text NOT NULL REFERENCES records (record_id),
    side        smallint NOT NULL CHECK (side IN (0, 1)),
    PRIMARY KEY (override_id, record_id)
);
CREATE INDEX override_records_record ON override_records (record_id);

ALTER TABLE change_events DROP CONSTRAINT change_events_type_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_type_check
    CHECK (type IN ('created', 'linked', 'merged', 'flagged', 'split', 'overridden', 'forgotten'));
