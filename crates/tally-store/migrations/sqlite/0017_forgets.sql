-- What a project reset or a person's deletion run on one node asks every node sharing the
-- region's files to forget of the events it has not flushed yet. `id` counts up per region.
CREATE TABLE forgets (
    region TEXT NOT NULL,
    id BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    -- A JSON array of the distinct_ids deleted; NULL for a reset (the whole project).
    distinct_ids TEXT,
    node TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (region, id)
);

-- The last forget of each region. A new forget and the catalogue entry of a flush both
-- lock this row, so a flush that has not applied every forget is refused.
CREATE TABLE region_forgets (
    region TEXT PRIMARY KEY,
    through BIGINT NOT NULL
);
