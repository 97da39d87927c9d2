-- Data views: filtered views of a project's data (an event allowlist and event or profile
-- property filters, as the report model's JSON). View 0 is the project's implicit "All
-- Project Data"; its members are those added to it by hand.
CREATE TABLE data_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    filters TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
CREATE INDEX data_views_by_project ON data_views (project_id);

CREATE TABLE data_view_members (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    view_id INTEGER NOT NULL,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('user', 'team')),
    member_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, view_id, member_kind, member_id)
);

-- Classified properties: only holders of access_classified_data see their values.
ALTER TABLE lexicon_entries ADD COLUMN classified INTEGER NOT NULL DEFAULT 0;

-- A public link answers through the data view it was made in (NULL: all project data).
ALTER TABLE public_links ADD COLUMN view_id INTEGER;
