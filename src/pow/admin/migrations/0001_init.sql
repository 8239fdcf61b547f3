-- ECURTIY site management and analytics. One migration set for SQLite and PostgreSQL:
-- only types both read the same way through sqlx's `Any` driver (TEXT, BIGINT,
-- DOUBLE PRECISION); booleans are 0/1 BIGINTs and times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS ecurtiy_sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT,
    mode TEXT NOT NULL,
    difficulty BIGINT NOT NULL,
    active BIGINT NOT NULL,
    monthly_quota BIGINT,
    site_key TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- One row per verify or validate. No foreign key: events are written in batches that
-- must not fail because a site was deleted meanwhile; orphans are swept instead.
CREATE TABLE IF NOT EXISTS ecurtiy_events (
    site_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    passed BIGINT NOT NULL,
    risk_score DOUBLE PRECISION,
    solve_time_ms BIGINT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS ecurtiy_events_site_at ON ecurtiy_events (site_id, at_ms);

-- Verifications per site and calendar month (UTC), for monthly quotas.
CREATE TABLE IF NOT EXISTS ecurtiy_usage (
    site_id TEXT NOT NULL,
    month TEXT NOT NULL,
    verifications BIGINT NOT NULL,
    PRIMARY KEY (site_id, month)
);

-- Admin sessions (tower-sessions records as JSON).
CREATE TABLE IF NOT EXISTS ecurtiy_admin_sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expiry_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ecurtiy_admin_sessions_expiry ON ecurtiy_admin_sessions (expiry_ms);
