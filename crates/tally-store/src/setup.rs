//! The one-time setup link of an empty instance.

use jiff::Timestamp;

use crate::BeginWriting;
use crate::{Store, StoreError, millis, with_pool};

impl Store {
    /// Replaces any pending setup token with this one (each start of an empty instance
    /// prints a fresh link; older links stop working).
    pub async fn replace_setup_token(
        &self,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
            sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
                .bind(token_hash)
                .bind(millis(now))
                .bind(millis(expires_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether this token hash names a live setup token.
    pub async fn setup_token_is_live(&self, token_hash: &str, now: Timestamp) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(millis(now))
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }
}
