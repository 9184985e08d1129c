-- How far change events have been pruned: a WatchChanges cursor at or past this id resumes
-- exactly; one before it asks for changes no longer kept.
CREATE TABLE event_retention (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through  bigint NOT NULL DEFAULT 0
);
INSERT INTO event_retention DEFAULT VALUES;
CREATE INDEX change_events_at ON change_events (at);
