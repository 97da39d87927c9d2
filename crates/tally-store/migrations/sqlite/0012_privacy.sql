-- A person's data on request (GDPR and CCPA): retrievals and deletions, run as jobs that
-- survive restarts (a STARTED job is run again; running again is harmless).
CREATE TABLE privacy_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tracking_id TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL CHECK (kind IN ('retrieval', 'deletion')),
    compliance_type TEXT NOT NULL,
    disclosure_type TEXT NOT NULL DEFAULT 'Data',
    distinct_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    requesting_user TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    result TEXT NOT NULL DEFAULT ''
);
CREATE INDEX privacy_requests_by_project ON privacy_requests (project_id);
CREATE INDEX privacy_requests_by_status ON privacy_requests (status);
