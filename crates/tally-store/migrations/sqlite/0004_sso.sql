-- Single sign-on: claimed domains, SCIM provisioning, identity-provider configuration
-- and the short-lived state of sign-ins in flight.

CREATE TABLE claimed_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    domain TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
    created_at INTEGER NOT NULL,
    verified_at INTEGER,
    last_checked_at INTEGER,
    -- Set when a verified domain's record is first found missing; cleared when it is back.
    missing_since INTEGER
);
CREATE INDEX claimed_domains_by_org ON claimed_domains (org_id);

-- A member turned off by the identity provider (SCIM active=false) keeps the row but no access.
ALTER TABLE org_members ADD COLUMN deactivated_at INTEGER;
ALTER TABLE org_members ADD COLUMN external_id TEXT;
ALTER TABLE teams ADD COLUMN external_id TEXT;

CREATE TABLE scim_tokens (
    org_id INTEGER PRIMARY KEY REFERENCES organizations (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
