-- A database from before imports were tracked: every site key it holds counts as
-- imported, so a configured site that was re-keyed before the upgrade does not come back.
-- (One deleted before the upgrade left no trace and is imported once more.)
INSERT INTO ecurtiy_imports (site_key, imported_ms)
SELECT site_key, 0 FROM ecurtiy_sites WHERE true
ON CONFLICT DO NOTHING;
