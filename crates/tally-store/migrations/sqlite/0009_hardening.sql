-- Closing privilege escalations found from outside (issue 11).

-- The organization whose just-in-time sign-in or SCIM made the account. Such an account,
-- while it belongs to that organization only, is managed by it: its identity provider may
-- link it without the account proving itself. No foreign key: the value outlives a purge.
ALTER TABLE users ADD COLUMN created_by_org INTEGER;

-- A session made by an organization's single sign-on opens that organization only.
ALTER TABLE sessions ADD COLUMN sso_org_id INTEGER;

-- An SSO identity waiting to be linked to an existing account, until that account proves
-- itself (a password sign-in in the same browser) within ten minutes.
CREATE TABLE sso_pending_links (
    token_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    expires_at INTEGER NOT NULL
);
CREATE INDEX sso_pending_links_by_expiry ON sso_pending_links (expires_at);

-- Challenges gain a purpose: proving an account (password, then second factor) to link a
-- single sign-on identity, which never becomes a session by itself. SQLite cannot change a
-- CHECK constraint; challenges live ten minutes, so the table is made again.
DROP TABLE sign_in_challenges;
CREATE TABLE sign_in_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('second_factor', 'enroll', 'prove')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
