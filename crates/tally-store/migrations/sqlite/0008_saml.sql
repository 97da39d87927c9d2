-- SAML 2.0: the identity provider an organization trusts, its own service-provider key,
-- the sign-in requests in flight (keyed by RelayState: the ACS is a cross-site POST that
-- carries no Lax cookie) and the replay cache of assertion IDs.

ALTER TABLE sso_connections ADD COLUMN saml_idp_entity_id TEXT;
ALTER TABLE sso_connections ADD COLUMN saml_idp_sso_url TEXT;
-- Base64 DER certificates, one per line (several during a key rollover).
ALTER TABLE sso_connections ADD COLUMN saml_idp_certs TEXT;
ALTER TABLE sso_connections ADD COLUMN saml_metadata_url TEXT;
ALTER TABLE sso_connections ADD COLUMN saml_sign_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sso_connections ADD COLUMN saml_want_assertions_signed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sso_connections ADD COLUMN saml_idp_initiated INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sso_connections ADD COLUMN saml_sp_cert TEXT;
ALTER TABLE sso_connections ADD COLUMN saml_sp_key_sealed TEXT;

CREATE TABLE saml_requests (
    relay_state_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    request_id TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL
);

CREATE TABLE saml_assertions_seen (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    assertion_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, assertion_id)
);

-- Expired rows are swept on every insert.
CREATE INDEX saml_requests_by_expiry ON saml_requests (expires_at);
CREATE INDEX saml_assertions_seen_by_expiry ON saml_assertions_seen (expires_at);
