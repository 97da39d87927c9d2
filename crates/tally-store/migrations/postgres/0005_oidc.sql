-- Identity-provider connections, the state of SSO sign-ins in flight, and the identities
-- they establish (keyed by issuer and subject, never by e-mail alone).

CREATE TABLE sso_connections (
    org_id BIGINT PRIMARY KEY REFERENCES organizations (id),
    protocol TEXT NOT NULL CHECK (protocol IN ('oidc', 'saml')),
    oidc_issuer TEXT,
    oidc_client_id TEXT,
    oidc_client_secret_sealed TEXT,
    require_sso BIGINT NOT NULL DEFAULT 0,
    idp_managed BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sso_states (
    state_hash TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    nonce TEXT NOT NULL,
    pkce_verifier_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE sso_identities (
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);
