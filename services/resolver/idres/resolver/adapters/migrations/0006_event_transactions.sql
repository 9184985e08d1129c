-- The transaction that wrote each event: a reader tells from it which events a snapshot of the
-- store already holds, so a replica that starts from a snapshot applies none of them twice.
ALTER TABLE change_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
