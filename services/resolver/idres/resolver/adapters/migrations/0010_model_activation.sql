-- A model's activation reaches running servers through the outbox: a `model_activated` event,
-- written in the activating transaction, tells every replica to prepare the model, and
-- `effective_at` (the store's clock) is when they all switch to it.
ALTER TABLE models ADD COLUMN effective_at timestamptz;

ALTER TABLE change_events DROP CONSTRAINT change_events_type_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_type_check
    CHECK (type IN ('created', 'linked', 'merged', 'flagged', 'split', 'overridden', 'forgotten',
                    'model_activated'));
