-- The promoted columns of each event file (a project's frequent custom properties in typed
-- columns of their own), as tally-events writes them: readers read the union of them.
ALTER TABLE event_files ADD COLUMN columns TEXT NOT NULL DEFAULT '';
