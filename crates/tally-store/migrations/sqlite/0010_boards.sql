-- What a team keeps and shares (issue 14): boards, their cards and sharing, saved reports
-- (bookmarks) and annotations.

-- Who sees and edits a board by default, project-wide: 'off' (reachable by link only),
-- 'viewer' or 'editor'. Admins set it; a board may set its own.
ALTER TABLE projects ADD COLUMN board_default_access TEXT NOT NULL DEFAULT 'viewer'
    CHECK (board_default_access IN ('off', 'viewer', 'editor'));

CREATE TABLE boards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    -- Nesting, at most three levels.
    parent_id INTEGER REFERENCES boards (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner_id INTEGER NOT NULL REFERENCES users (id),
    -- A board of someone who may not share (a Consumer): only its owner sees it.
    private INTEGER NOT NULL DEFAULT 0,
    -- NULL: the project's default.
    project_access TEXT CHECK (project_access IN ('off', 'viewer', 'editor')),
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
CREATE INDEX boards_by_project ON boards (project_id);

CREATE TABLE board_shares (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    board_id INTEGER NOT NULL REFERENCES boards (id),
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'team')),
    principal_id INTEGER NOT NULL,
    access TEXT NOT NULL CHECK (access IN ('viewer', 'editor')),
    PRIMARY KEY (board_id, principal_kind, principal_id)
);

-- A saved report: its original board, and the report model as JSON.
CREATE TABLE bookmarks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    board_id INTEGER NOT NULL REFERENCES boards (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('insights', 'funnels', 'retention', 'flows')),
    report TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
CREATE INDEX bookmarks_by_project ON bookmarks (project_id);

-- A board's cards: a saved report (its own or linked from another board) or a text, laid
-- out in rows of up to four.
CREATE TABLE board_cards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    board_id INTEGER NOT NULL REFERENCES boards (id),
    bookmark_id INTEGER REFERENCES bookmarks (id),
    body TEXT,
    row_index INTEGER NOT NULL,
    col_index INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX board_cards_by_board ON board_cards (board_id);
CREATE INDEX board_cards_by_bookmark ON board_cards (bookmark_id);

CREATE TABLE annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    at_ms INTEGER NOT NULL,
    description TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX annotations_by_project ON annotations (project_id, at_ms);

CREATE TABLE annotation_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    UNIQUE (project_id, name_key)
);

CREATE TABLE annotation_tag_links (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    annotation_id INTEGER NOT NULL REFERENCES annotations (id),
    tag_id INTEGER NOT NULL REFERENCES annotation_tags (id),
    PRIMARY KEY (annotation_id, tag_id)
);

-- Public links to boards: the project's Owner turns the feature on (off deletes every
-- link); each link opens one board, signed out, with an optional passcode (hashed). The
-- link's token is stored hashed (to find it) and sealed (to list its address again).
ALTER TABLE projects ADD COLUMN public_boards INTEGER NOT NULL DEFAULT 0;

CREATE TABLE public_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    board_id INTEGER NOT NULL REFERENCES boards (id),
    token_hash TEXT NOT NULL UNIQUE,
    token_sealed TEXT NOT NULL,
    passcode_hash TEXT,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX public_links_by_project ON public_links (project_id);

-- Saved cohorts: a definition (conditions as JSON) computed when a query runs. Private to
-- its creator unless shared with the project.
CREATE TABLE cohorts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    definition TEXT NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
CREATE INDEX cohorts_by_project ON cohorts (project_id);

-- Lexicon edits: an event's or property's display name, description, tags and visibility;
-- a dropped event's new data is not stored (applied at ingestion).
CREATE TABLE lexicon_entries (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL CHECK (kind IN ('event', 'property')),
    name TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    hidden INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);
