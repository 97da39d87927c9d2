-- Sign-in: second factors, recovery codes, sign-in challenges, e-mailed links,
-- failure counting for throttling, per-organization two-factor enforcement.

ALTER TABLE users ADD COLUMN second_factor TEXT CHECK (second_factor IN ('totp', 'sms'));
ALTER TABLE users ADD COLUMN totp_secret_sealed TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN phone TEXT;
-- An enrollment in progress: the new secret or phone, until a first valid code confirms it.
ALTER TABLE users ADD COLUMN pending_totp_sealed TEXT;
ALTER TABLE users ADD COLUMN pending_phone TEXT;

ALTER TABLE organizations ADD COLUMN require_two_factor BIGINT NOT NULL DEFAULT 0;

-- A public id for listing and revoking sessions (the token itself is never shown again).
ALTER TABLE sessions ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;

CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in that passed its first step and waits for a second factor (or for enrollment).
CREATE TABLE sign_in_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('second_factor', 'enroll')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- SMS codes, each bound to one sign-in challenge or to an enrollment.
CREATE TABLE sms_codes (
    user_id BIGINT NOT NULL REFERENCES users (id),
    challenge_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    phone TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    n_sent BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id, challenge_hash)
);

-- Single-use links sent by e-mail: magic sign-in and password reset.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('magic_link', 'password_reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Failed sign-in attempts by account (e-mail key) and by client address.
CREATE TABLE auth_failures (
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_subject ON auth_failures (subject, at);
