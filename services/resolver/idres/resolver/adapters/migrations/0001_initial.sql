-- Customers, their records and identifiers, and the change-event outbox.

CREATE TABLE customers (
    id          text PRIMARY KEY,
    seq         bigserial UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Set when the customer was absorbed by a merge: the id then resolves to the survivor.
    merged_into text REFERENCES customers (id)
);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE records (
    record_id   text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    channel     text NOT NULL DEFAULT '',
    ts          timestamptz NOT NULL,
    given_name  text NOT NULL DEFAULT '',
    surname     text NOT NULL DEFAULT '',
    dob         date,
    postcode    text NOT NULL DEFAULT '',
    fingerprint text NOT NULL,
    observed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX records_customer ON records (customer_id);

-- Every identifier every record carried, as normalized, whatever its status.
CREATE TABLE record_identifiers (
    record_id   text NOT NULL REFERENCES records (record_id),
    kind        text NOT NULL,
    value       text NOT NULL,
    placeholder boolean NOT NULL DEFAULT false,
    PRIMARY KEY (record_id, kind, value)
);
CREATE INDEX record_identifiers_value ON record_identifiers (kind, value);

-- Link status of each distinct value: active, placeholder or shared.
CREATE TABLE identifier_values (
    kind       text NOT NULL,
    value      text NOT NULL,
    status     text NOT NULL CHECK (status IN ('active', 'placeholder', 'shared')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);

-- Which live customers hold each active value; the linking rules read this.
CREATE TABLE identifier_holders (
    kind        text NOT NULL,
    value       text NOT NULL,
    customer_id text NOT NULL REFERENCES customers (id),
    PRIMARY KEY (kind, value, customer_id)
);
CREATE INDEX identifier_holders_customer ON identifier_holders (customer_id);

-- Append-only outbox, written in the same transaction as the change it describes.
CREATE TABLE change_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    type        text NOT NULL CHECK (type IN ('created', 'linked', 'merged', 'flagged')),
    customer_id text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'
);
