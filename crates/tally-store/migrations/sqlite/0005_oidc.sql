-- Identity-provider connections, the state of SSO sign-ins in flight, and the identities
-- they establish (keyed by issuer and subject, never by e-mail alone).

CREATE TABLE sso_connections (
    org_id INTEGER PRIMARY KEY REFERENCES organizations (id),
    protocol TEXT NOT NULL CHECK (protocol IN ('oidc', 'saml')),
    oidc_issuer TEXT,
    oidc_client_id TEXT,
    oidc_client_secret_sealed TEXT,
    require_sso INTEGER NOT NULL DEFAULT 0,
    idp_managed INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

CREATE TABLE sso_states (
    state_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    nonce TEXT NOT NULL,
    pkce_verifier_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE sso_identities (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);
