//! Claimed domains and SCIM provisioning state.

use jiff::Timestamp;
use tally_types::{OrgId, TeamId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, millis, with_pool};

/// A domain an organization claims by publishing a DNS TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDomain {
    pub id: i64,
    pub org_id: OrgId,
    pub domain: String,
    pub token: String,
    /// `pending` or `verified`.
    pub status: String,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    pub last_checked_at: Option<Timestamp>,
    pub missing_since: Option<Timestamp>,
}

fn domain_from_row(row: &impl RowExt) -> Result<ClaimedDomain, StoreError> {
    Ok(ClaimedDomain {
        id: row.int("id")?,
        org_id: OrgId(row.int("org_id")?),
        domain: row.text("domain")?,
        token: row.text("token")?,
        status: row.text("status")?,
        created_at: row.time("created_at")?,
        verified_at: row.opt_time("verified_at")?,
        last_checked_at: row.opt_time("last_checked_at")?,
        missing_since: row.opt_time("missing_since")?,
    })
}

const DOMAIN_COLUMNS: &str =
    "id, org_id, domain, token, status, created_at, verified_at, last_checked_at, missing_since";

impl Store {
    pub async fn create_domain(
        &self,
        org_id: OrgId,
        domain: &str,
        token: &str,
        audit: &AuditEntry,
    ) -> Result<ClaimedDomain, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO claimed_domains (org_id, domain, token, status, created_at) VALUES ($1, $2, $3, 'pending', $4) \
                 RETURNING {DOMAIN_COLUMNS}"
            )))
            .bind(org_id.0)
            .bind(domain)
            .bind(token)
            .bind(audit.at.as_millisecond())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a claim on that domain"))?;
            let created = domain_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn domains(&self, org_id: OrgId) -> Result<Vec<ClaimedDomain>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM claimed_domains WHERE org_id = $1 ORDER BY domain"
            )))
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(domain_from_row).collect()
        })
    }

    /// Every verified domain, for the periodic re-check.
    pub async fn verified_domains(&self) -> Result<Vec<ClaimedDomain>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM claimed_domains WHERE status = 'verified' ORDER BY id"
            )))
            .fetch_all(pool)
            .await?;
            rows.iter().map(domain_from_row).collect()
        })
    }

    pub async fn domain(&self, org_id: OrgId, id: i64) -> Result<Option<ClaimedDomain>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM claimed_domains WHERE org_id = $1 AND id = $2"
            )))
            .bind(org_id.0)
            .bind(id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(domain_from_row).transpose()
        })
    }

    /// The organization that verified this domain, if any.
    pub async fn verified_domain_owner(&self, domain: &str) -> Result<Option<OrgId>, StoreError> {
        with_pool!(self, pool => {
            let org: Option<i64> =
                sqlx::query_scalar("SELECT org_id FROM claimed_domains WHERE domain = $1 AND status = 'verified'")
                    .bind(domain)
                    .fetch_optional(pool)
                    .await?;
            Ok(org.map(OrgId))
        })
    }

    /// Records a DNS check's outcome (status, times), with an audit row when the status changes.
    pub async fn record_domain_check(
        &self,
        domain: &ClaimedDomain,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "UPDATE claimed_domains SET status = $2, verified_at = $3, last_checked_at = $4, missing_since = $5 WHERE id = $1",
            )
            .bind(domain.id)
            .bind(domain.status.as_str())
            .bind(domain.verified_at.map(millis))
            .bind(domain.last_checked_at.map(millis))
            .bind(domain.missing_since.map(millis))
            .execute(&mut *tx)
            .await?;
            if let Some(audit) = audit {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn delete_domain(&self, id: i64, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM claimed_domains WHERE id = $1").bind(id).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces the organization's SCIM token (the old one stops working).
    pub async fn set_scim_token(&self, org_id: OrgId, token_hash: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "INSERT INTO scim_tokens (org_id, token_hash, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (org_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
            )
            .bind(org_id.0)
            .bind(token_hash)
            .bind(audit.at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The live organization a SCIM token belongs to.
    pub async fn scim_org(&self, token_hash: &str) -> Result<Option<OrgId>, StoreError> {
        with_pool!(self, pool => {
            let org: Option<i64> = sqlx::query_scalar(
                "SELECT t.org_id FROM scim_tokens t JOIN organizations o ON o.id = t.org_id \
                 WHERE t.token_hash = $1 AND o.deleted_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            Ok(org.map(OrgId))
        })
    }

    /// Turns a member on or off (identity-provider provisioning). Turning off ends every
    /// session of the user at once.
    pub async fn set_member_active(
        &self,
        org_id: OrgId,
        user_id: UserId,
        active: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE org_members SET deactivated_at = CASE WHEN $3 THEN NULL ELSE COALESCE(deactivated_at, $4) END \
                 WHERE org_id = $1 AND user_id = $2",
            )
            .bind(org_id.0)
            .bind(user_id.0)
            .bind(active)
            .bind(audit.at.as_millisecond())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            if !active {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn set_member_external_id(
        &self,
        org_id: OrgId,
        user_id: UserId,
        external_id: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE org_members SET external_id = $3 WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.0)
                .bind(user_id.0)
                .bind(external_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn set_user_name(&self, user_id: UserId, name: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE users SET name = $2 WHERE id = $1").bind(user_id.0).bind(name).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn set_team_external_id(&self, team_id: TeamId, external_id: Option<&str>) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE teams SET external_id = $2 WHERE id = $1").bind(team_id.0).bind(external_id).execute(pool).await?;
        });
        Ok(())
    }
}

/// An organization's identity-provider connection and SSO policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoConnection {
    pub org_id: OrgId,
    /// `oidc` or `saml`.
    pub protocol: String,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret_sealed: Option<String>,
    /// Password and magic-link sign-in refused for users of claimed domains (Owners and
    /// Admins excepted).
    pub require_sso: bool,
    /// Users of claimed domains are created at their first SSO sign-in.
    pub idp_managed: bool,
    /// The SAML identity provider, once one was configured (kept when the organization
    /// switches to OIDC, so switching back keeps the service-provider key).
    pub saml: Option<SamlConnection>,
}

/// A SAML identity provider and the organization's own service-provider key pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlConnection {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    /// Base64 DER signing certificates (several during a rollover).
    pub idp_certs: Vec<String>,
    pub metadata_url: Option<String>,
    pub sign_requests: bool,
    pub want_assertions_signed: bool,
    pub idp_initiated: bool,
    /// Base64 DER certificate of the service provider's signing key.
    pub sp_cert: String,
    pub sp_key_sealed: String,
}

/// An SSO sign-in waiting for the identity provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoState {
    pub org_id: OrgId,
    pub nonce: String,
    pub pkce_verifier_sealed: String,
}

fn connection_from_row(row: &impl RowExt) -> Result<SsoConnection, StoreError> {
    Ok(SsoConnection {
        org_id: OrgId(row.int("org_id")?),
        protocol: row.text("protocol")?,
        oidc_issuer: row.opt_text("oidc_issuer")?,
        oidc_client_id: row.opt_text("oidc_client_id")?,
        oidc_client_secret_sealed: row.opt_text("oidc_client_secret_sealed")?,
        require_sso: row.int("require_sso")? != 0,
        idp_managed: row.int("idp_managed")? != 0,
        saml: match row.opt_text("saml_idp_entity_id")? {
            None => None,
            Some(idp_entity_id) => Some(SamlConnection {
                idp_entity_id,
                idp_sso_url: row.opt_text("saml_idp_sso_url")?.unwrap_or_default(),
                idp_certs: row
                    .opt_text("saml_idp_certs")?
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| !line.is_empty())
                    .map(str::to_string)
                    .collect(),
                metadata_url: row.opt_text("saml_metadata_url")?,
                sign_requests: row.int("saml_sign_requests")? != 0,
                want_assertions_signed: row.int("saml_want_assertions_signed")? != 0,
                idp_initiated: row.int("saml_idp_initiated")? != 0,
                sp_cert: row.opt_text("saml_sp_cert")?.unwrap_or_default(),
                sp_key_sealed: row.opt_text("saml_sp_key_sealed")?.unwrap_or_default(),
            }),
        },
    })
}

impl Store {
    pub async fn set_sso_connection(&self, connection: &SsoConnection, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "INSERT INTO sso_connections (org_id, protocol, oidc_issuer, oidc_client_id, oidc_client_secret_sealed, \
                 require_sso, idp_managed, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (org_id) DO UPDATE SET protocol = excluded.protocol, oidc_issuer = excluded.oidc_issuer, \
                 oidc_client_id = excluded.oidc_client_id, oidc_client_secret_sealed = excluded.oidc_client_secret_sealed, \
                 require_sso = excluded.require_sso, idp_managed = excluded.idp_managed, updated_at = excluded.updated_at",
            )
            .bind(connection.org_id.0)
            .bind(connection.protocol.as_str())
            .bind(connection.oidc_issuer.as_deref())
            .bind(connection.oidc_client_id.as_deref())
            .bind(connection.oidc_client_secret_sealed.as_deref())
            .bind(i64::from(connection.require_sso))
            .bind(i64::from(connection.idp_managed))
            .bind(audit.at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Makes SAML the organization's single sign-on (its OIDC settings are kept).
    pub async fn set_saml_connection(
        &self,
        org_id: OrgId,
        require_sso: bool,
        idp_managed: bool,
        saml: &SamlConnection,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "INSERT INTO sso_connections (org_id, protocol, require_sso, idp_managed, updated_at, saml_idp_entity_id, \
                 saml_idp_sso_url, saml_idp_certs, saml_metadata_url, saml_sign_requests, saml_want_assertions_signed, \
                 saml_idp_initiated, saml_sp_cert, saml_sp_key_sealed) \
                 VALUES ($1, 'saml', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (org_id) DO UPDATE SET protocol = 'saml', require_sso = excluded.require_sso, \
                 idp_managed = excluded.idp_managed, updated_at = excluded.updated_at, \
                 saml_idp_entity_id = excluded.saml_idp_entity_id, saml_idp_sso_url = excluded.saml_idp_sso_url, \
                 saml_idp_certs = excluded.saml_idp_certs, saml_metadata_url = excluded.saml_metadata_url, \
                 saml_sign_requests = excluded.saml_sign_requests, \
                 saml_want_assertions_signed = excluded.saml_want_assertions_signed, \
                 saml_idp_initiated = excluded.saml_idp_initiated, saml_sp_cert = excluded.saml_sp_cert, \
                 saml_sp_key_sealed = excluded.saml_sp_key_sealed",
            )
            .bind(org_id.0)
            .bind(i64::from(require_sso))
            .bind(i64::from(idp_managed))
            .bind(audit.at.as_millisecond())
            .bind(saml.idp_entity_id.as_str())
            .bind(saml.idp_sso_url.as_str())
            .bind(saml.idp_certs.join("\n"))
            .bind(saml.metadata_url.as_deref())
            .bind(i64::from(saml.sign_requests))
            .bind(i64::from(saml.want_assertions_signed))
            .bind(i64::from(saml.idp_initiated))
            .bind(saml.sp_cert.as_str())
            .bind(saml.sp_key_sealed.as_str())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Remembers an SP-initiated SAML request until its answer arrives (or it expires).
    pub async fn insert_saml_request(
        &self,
        relay_state_hash: &str,
        org_id: OrgId,
        request_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM saml_requests WHERE expires_at <= $1").bind(millis(now)).execute(pool).await?;
            sqlx::query("INSERT INTO saml_requests (relay_state_hash, org_id, request_id, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(relay_state_hash)
                .bind(org_id.0)
                .bind(request_id)
                .bind(millis(expires_at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Takes a live SP-initiated request of this organization once: its request ID.
    pub async fn take_saml_request(
        &self,
        relay_state_hash: &str,
        org_id: OrgId,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            let id: Option<String> = sqlx::query_scalar(
                "DELETE FROM saml_requests WHERE relay_state_hash = $1 AND org_id = $2 AND expires_at > $3 RETURNING request_id",
            )
            .bind(relay_state_hash)
            .bind(org_id.0)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            Ok(id)
        })
    }

    /// Records an assertion ID as used until `expires_at`. `false` when it was already
    /// used: a replay.
    pub async fn record_saml_assertion(
        &self,
        org_id: OrgId,
        assertion_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM saml_assertions_seen WHERE expires_at <= $1").bind(millis(now)).execute(pool).await?;
            let inserted = sqlx::query(
                "INSERT INTO saml_assertions_seen (org_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (org_id, assertion_id) DO NOTHING",
            )
            .bind(org_id.0)
            .bind(assertion_id)
            .bind(millis(expires_at))
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    pub async fn sso_connection(&self, org_id: OrgId) -> Result<Option<SsoConnection>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT org_id, protocol, oidc_issuer, oidc_client_id, oidc_client_secret_sealed, require_sso, idp_managed, \
                 saml_idp_entity_id, saml_idp_sso_url, saml_idp_certs, saml_metadata_url, saml_sign_requests, \
                 saml_want_assertions_signed, saml_idp_initiated, saml_sp_cert, saml_sp_key_sealed \
                 FROM sso_connections WHERE org_id = $1",
            )
            .bind(org_id.0)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(connection_from_row).transpose()
        })
    }

    pub async fn insert_sso_state(
        &self,
        state_hash: &str,
        state: &SsoState,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sso_states (state_hash, org_id, nonce, pkce_verifier_sealed, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(state_hash)
            .bind(state.org_id.0)
            .bind(state.nonce.as_str())
            .bind(state.pkce_verifier_sealed.as_str())
            .bind(millis(now))
            .bind(millis(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes a live SSO state once (a replayed callback finds nothing).
    pub async fn take_sso_state(&self, state_hash: &str, now: Timestamp) -> Result<Option<SsoState>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "DELETE FROM sso_states WHERE state_hash = $1 AND expires_at > $2 RETURNING org_id, nonce, pkce_verifier_sealed",
            )
            .bind(state_hash)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(SsoState {
                    org_id: OrgId(row.int("org_id")?),
                    nonce: row.text("nonce")?,
                    pkce_verifier_sealed: row.text("pkce_verifier_sealed")?,
                })
            })
            .transpose()
        })
    }

    /// The account an identity provider's subject is linked to in an organization.
    pub async fn sso_identity(&self, org_id: OrgId, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError> {
        with_pool!(self, pool => {
            let user: Option<i64> =
                sqlx::query_scalar("SELECT user_id FROM sso_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3")
                    .bind(org_id.0)
                    .bind(issuer)
                    .bind(subject)
                    .fetch_optional(pool)
                    .await?;
            Ok(user.map(UserId))
        })
    }

    pub async fn link_sso_identity(
        &self,
        org_id: OrgId,
        issuer: &str,
        subject: &str,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sso_identities (org_id, issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id, issuer, subject) DO NOTHING",
            )
            .bind(org_id.0)
            .bind(issuer)
            .bind(subject)
            .bind(user_id.0)
            .bind(millis(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Creates an account at its first SSO sign-in (no password) as a Member.
    pub async fn create_sso_member(
        &self,
        org_id: OrgId,
        email: &str,
        name: &str,
        audit: &AuditEntry,
    ) -> Result<crate::User, StoreError> {
        let now = audit.at.as_millisecond();
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let (user, created) = crate::tenants::find_or_create_user!(&mut *tx, email = email, name = name, password_hash = Option::<&str>::None, at = now);
            if created {
                sqlx::query("UPDATE users SET created_by_org = $2 WHERE id = $1")
                    .bind(user.id.0)
                    .bind(org_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, 'member', $3) \
                 ON CONFLICT (org_id, user_id) DO NOTHING",
            )
            .bind(org_id.0)
            .bind(user.id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(user)
        })
    }

    /// Whether the organization manages the account: its just-in-time sign-in or SCIM made
    /// it, and it belongs to no other organization.
    pub async fn account_managed_by(&self, org_id: OrgId, user_id: UserId) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let managed: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users u WHERE u.id = $1 AND u.created_by_org = $2 \
                 AND (SELECT COUNT(*) FROM org_members m WHERE m.user_id = u.id) = 1 \
                 AND EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = u.id AND m.org_id = $2)",
            )
            .bind(user_id.0)
            .bind(org_id.0)
            .fetch_one(pool)
            .await?;
            Ok(managed > 0)
        })
    }

    /// Keeps an identity provider's identity until the account it names proves itself.
    pub async fn insert_sso_pending_link(&self, link: &SsoPendingLink, token_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sso_pending_links WHERE expires_at <= $1")
                .bind(millis(link.created_at))
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO sso_pending_links (token_hash, org_id, issuer, subject, user_id, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(link.org_id.0)
            .bind(link.issuer.as_str())
            .bind(link.subject.as_str())
            .bind(link.user_id.0)
            .bind(millis(link.expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A pending link that has not expired, left in place.
    pub async fn sso_pending_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SsoPendingLink>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT org_id, issuer, subject, user_id, expires_at FROM sso_pending_links \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(|row| pending_link_from_row(row, now)).transpose()
        })
    }

    /// Takes a pending link once, if it has not expired.
    pub async fn take_sso_pending_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SsoPendingLink>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "DELETE FROM sso_pending_links WHERE token_hash = $1 AND expires_at > $2 \
                 RETURNING org_id, issuer, subject, user_id, expires_at",
            )
            .bind(token_hash)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(|row| pending_link_from_row(row, now)).transpose()
        })
    }
}

fn pending_link_from_row(row: &impl RowExt, now: Timestamp) -> Result<SsoPendingLink, StoreError> {
    Ok(SsoPendingLink {
        org_id: OrgId(row.int("org_id")?),
        issuer: row.text("issuer")?,
        subject: row.text("subject")?,
        user_id: UserId(row.int("user_id")?),
        created_at: now,
        expires_at: row.time("expires_at")?,
    })
}

/// An identity provider's identity waiting to be linked to the account it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPendingLink {
    pub org_id: OrgId,
    pub issuer: String,
    pub subject: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}
