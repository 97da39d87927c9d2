-- SCIM resources as the identity provider last wrote them (the published attributes
-- only), so what it reads back is what it sent. Tally's own state (the member, its
-- e-mail, active or not, the team) stays in its tables; this is the provider's view.

CREATE TABLE scim_users (
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    resource TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
