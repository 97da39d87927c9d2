-- Lexicon: owners (contacts by e-mail) and merges (an event or event property read as
-- another in queries; raw data unchanged), and the Schemas API's documents.
ALTER TABLE lexicon_entries ADD COLUMN owners TEXT NOT NULL DEFAULT '[]';
ALTER TABLE lexicon_entries ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';

CREATE TABLE lexicon_schemas (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    entity_type TEXT NOT NULL CHECK (entity_type IN ('event', 'profile')),
    name TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, entity_type, name)
);
