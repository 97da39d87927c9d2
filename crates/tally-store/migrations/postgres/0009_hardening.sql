-- Closing privilege escalations found from outside (issue 11).

-- The organization whose just-in-time sign-in or SCIM made the account. Such an account,
-- while it belongs to that organization only, is managed by it: its identity provider may
-- link it without the account proving itself. No foreign key: the value outlives a purge.
ALTER TABLE users ADD COLUMN created_by_org BIGINT;

-- A session made by an organization's single sign-on opens that organization only.
ALTER TABLE sessions ADD COLUMN sso_org_id BIGINT;

-- An SSO identity waiting to be linked to an existing account, until that account proves
-- itself (a password sign-in in the same browser) within ten minutes.
CREATE TABLE sso_pending_links (
    token_hash TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_pending_links_by_expiry ON sso_pending_links (expires_at);

-- Challenges gain a purpose: proving an account (password, then second factor) to link a
-- single sign-on identity, which never becomes a session by itself.
ALTER TABLE sign_in_challenges DROP CONSTRAINT sign_in_challenges_purpose_check;
ALTER TABLE sign_in_challenges ADD CONSTRAINT sign_in_challenges_purpose_check
    CHECK (purpose IN ('second_factor', 'enroll', 'prove'));
