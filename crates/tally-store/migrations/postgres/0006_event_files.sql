-- Each project's identity-merge system (Mixpanel §7): 'simplified' (the default) or
-- 'original'; changeable only while the project has no data.
ALTER TABLE projects ADD COLUMN id_merge TEXT NOT NULL DEFAULT 'simplified'
    CHECK (id_merge IN ('simplified', 'original'));

-- The catalog of event data files (Parquet, one project, day and user bucket each) and,
-- per region, the last write-ahead-log segment whose events are all in catalogued files.
-- A file exists for readers only once its row is here; a row is removed only in the same
-- transaction that catalogues what replaces it (compaction).

CREATE TABLE event_files (
    path TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    project_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    min_time_ms BIGINT NOT NULL,
    max_time_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX event_files_by_project ON event_files (region, project_id, day);

CREATE TABLE event_flushes (
    region TEXT PRIMARY KEY,
    sealed_through BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
