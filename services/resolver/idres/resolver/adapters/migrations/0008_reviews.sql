-- Possible matches waiting for a person: a record that fit a customer between the possible and
-- the match threshold started a customer of its own, and someone should say which is right.
CREATE TABLE reviews (
    id          bigserial PRIMARY KEY,
    record_id   text NOT NULL REFERENCES records (record_id),
    -- The customer the record started (an id or, after merges, an alias).
    customer_id text NOT NULL,
    -- The customers it may belong to, best first: [[customer, record, weight, probability,
    -- sure, comparisons], ...] as `record_links` keeps comparisons.
    candidates  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    decision    text CHECK (decision IN ('same', 'different')),
    decided_at  timestamptz,
    override_id bigint REFERENCES overrides (id)
);
CREATE INDEX reviews_pending ON reviews (id) WHERE decision IS NULL;
