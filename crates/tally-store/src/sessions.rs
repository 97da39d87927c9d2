//! Sign-in sessions, stored by the hash of their token.

use jiff::Timestamp;
use tally_types::{OrgId, UserId};

use crate::model::session_from_row;
use crate::{Session, Store, StoreError, millis, with_pool};

impl Store {
    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: UserId,
        now: Timestamp,
        expires_at: Timestamp,
        origin: &crate::SessionOrigin,
        sso_org: Option<OrgId>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, public_id, ip, user_agent, sso_org_id) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
            )
            .bind(token_hash)
            .bind(user_id.0)
            .bind(millis(now))
            .bind(millis(expires_at))
            .bind(origin.public_id.as_str())
            .bind(origin.ip.as_deref())
            .bind(origin.user_agent.as_deref())
            .bind(sso_org.map(|org| org.0))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT user_id, created_at, last_seen_at, expires_at, sso_org_id FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    pub async fn touch_session(&self, token_hash: &str, now: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
                .bind(token_hash)
                .bind(millis(now))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(pool).await?;
        });
        Ok(())
    }
}
