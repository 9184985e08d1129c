-- The links the resolver made, so that Explain can walk the chain between two records.

CREATE TABLE record_links (
    -- The record that was observed ...
    record_id     text NOT NULL REFERENCES records (record_id),
    -- ... and the stored record it matched best in a customer it joined or merged in.
    to_record_id  text NOT NULL REFERENCES records (record_id),
    -- True when the link merged `to_record_id`'s customer into the record's customer.
    merged        boolean NOT NULL,
    match_weight  double precision NOT NULL,
    probability   double precision NOT NULL,
    -- A personal identifier matched exactly as well.
    sure          boolean NOT NULL,
    -- The model's comparisons on the pair: [[comparison, level, gamma, weight, tf], ...].
    comparisons   jsonb NOT NULL,
    model_version text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, to_record_id)
);
CREATE INDEX record_links_to ON record_links (to_record_id);

-- The record whose observation created the customer: Explain compares customers through it.
ALTER TABLE customers ADD COLUMN founding_record_id text;
