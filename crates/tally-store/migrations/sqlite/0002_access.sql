-- The access model: teams, grants with their source, custom roles, access requests,
-- invitations, service accounts, billing and the audit log.

ALTER TABLE organizations ADD COLUMN plan_name TEXT NOT NULL DEFAULT 'free';
ALTER TABLE organizations ADD COLUMN plan_event_quota INTEGER NOT NULL DEFAULT 1000000;
ALTER TABLE organizations ADD COLUMN plan_seats INTEGER NOT NULL DEFAULT 10;
ALTER TABLE organizations ADD COLUMN purge_after INTEGER;

ALTER TABLE projects ADD COLUMN purge_after INTEGER;

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name_key)
);

CREATE TABLE service_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    username TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    org_role TEXT NOT NULL CHECK (org_role IN ('owner', 'admin', 'billing_admin', 'member')),
    -- Set for an account created in a project's settings: deleting it there deletes it.
    home_project_id INTEGER REFERENCES projects (id),
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX service_accounts_by_org ON service_accounts (org_id);

-- A principal is a user ('user', principal_id = users.id) or a service account
-- ('service_account', principal_id = service_accounts.id).
CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id),
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'service_account')),
    principal_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, principal_kind, principal_id)
);
CREATE INDEX team_members_by_principal ON team_members (principal_kind, principal_id);

CREATE TABLE custom_roles (
    id TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL,
    copied_from TEXT,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    UNIQUE (project_id, name_key)
);

-- Who holds which role in a project, and why. 'all_users' rows (principal_id 0) are the
-- project's default role for every organization member, present and future. Roles are
-- 'owner', 'admin', 'analyst', 'consumer' or 'custom:<custom_roles.id>'.
CREATE TABLE project_grants (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'service_account', 'team', 'all_users')),
    principal_id INTEGER NOT NULL,
    role TEXT NOT NULL,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, principal_kind, principal_id)
);
CREATE INDEX project_grants_by_principal ON project_grants (principal_kind, principal_id);

CREATE TABLE access_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    message TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at INTEGER NOT NULL,
    decided_by INTEGER REFERENCES users (id),
    decided_at INTEGER,
    granted_role TEXT
);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (project_id, user_id) WHERE status = 'pending';

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    org_role TEXT NOT NULL CHECK (org_role IN ('owner', 'admin', 'billing_admin', 'member')),
    -- JSON array of {"project_id": n, "role": "..."}.
    projects TEXT NOT NULL DEFAULT '[]',
    token_hash TEXT NOT NULL UNIQUE,
    invited_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_sent_at INTEGER NOT NULL,
    accepted_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX invitations_by_org ON invitations (org_id);

CREATE TABLE invitation_sends (
    domain TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX invitation_sends_by_domain ON invitation_sends (domain, sent_at);

CREATE TABLE project_usage (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    month TEXT NOT NULL,
    n_events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, month)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL,
    project_id INTEGER,
    at INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id INTEGER,
    actor_label TEXT NOT NULL,
    ip TEXT,
    event_type TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_by_org ON audit_log (org_id, at);
CREATE INDEX audit_log_by_project ON audit_log (project_id, at);

-- Bumped by a project reset: event storage keys data by generation, so a reset starts empty.
ALTER TABLE projects ADD COLUMN data_generation INTEGER NOT NULL DEFAULT 0;
