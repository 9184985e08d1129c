-- Trained match models, kept by version; at most one is active for serving.

CREATE TABLE models (
    version    text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    active     boolean NOT NULL DEFAULT false,
    -- Splink's saved model JSON, as trained.
    model      jsonb NOT NULL,
    -- What it was trained on and how: source, record count, seconds, caps.
    training   jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active;
