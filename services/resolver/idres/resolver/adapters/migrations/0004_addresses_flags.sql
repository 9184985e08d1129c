-- Address attributes, and the fields a record carried that did not validate: kept raw with
-- their reasons ([[field, raw, reason], ...]) so nothing a channel sent is lost.

ALTER TABLE records
    ADD COLUMN street_number text NOT NULL DEFAULT '',
    ADD COLUMN street        text NOT NULL DEFAULT '',
    ADD COLUMN locality      text NOT NULL DEFAULT '',
    ADD COLUMN state         text NOT NULL DEFAULT '',
    ADD COLUMN flagged       jsonb NOT NULL DEFAULT '[]';
