-- Sites imported from a configuration file, by key: imported once, so a site an operator
-- deleted or re-keyed does not come back at the next start.
CREATE TABLE IF NOT EXISTS ecurtiy_imports (
    site_key TEXT PRIMARY KEY,
    imported_ms BIGINT NOT NULL
);

-- Deleted sites, for a day: events another instance wrote after the delete are swept by
-- site id (indexed), not by scanning the whole events table.
CREATE TABLE IF NOT EXISTS ecurtiy_deleted_sites (
    site_id TEXT PRIMARY KEY,
    deleted_ms BIGINT NOT NULL
);

-- Retention deletes by time.
CREATE INDEX IF NOT EXISTS ecurtiy_events_at ON ecurtiy_events (at_ms);
