-- Erasure (`idres forget`): what was erased, when and why, without the erased values; and the
-- suppressions that keep a replayed file from bringing an erased identifier or record back.

-- A customer whose every record was erased: its id (and its aliases) resolve to nobody.
ALTER TABLE customers ADD COLUMN forgotten_at timestamptz;

CREATE TABLE erasures (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    reason  text NOT NULL,
    -- What was asked: "customer", "record" or "identifier:<kind>"; never the value itself.
    target  text NOT NULL,
    -- The receipt: customers touched and what was removed, counted per kind.
    receipt jsonb NOT NULL
);

-- A keyed hash (HMAC-SHA256) of an erased value, never the value: Observe and ingest drop a
-- suppressed identifier from a record, and refuse a suppressed record id, until it is lifted.
CREATE TABLE suppressions (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    digest      text NOT NULL,
    erasure_id  bigint NOT NULL REFERENCES erasures (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    lifted_at   timestamptz,
    lifted_by   text,
    lift_reason text
);
CREATE UNIQUE INDEX suppressions_active ON suppressions (digest) WHERE lifted_at IS NULL;

-- The hash key when IDRES_SUPPRESSION_KEY does not name one. A key kept beside the digests
-- protects less (whoever holds a dump can test guesses), so production sets its own.
CREATE TABLE suppression_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    key      text NOT NULL
);
INSERT INTO suppression_key (key)
    VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
