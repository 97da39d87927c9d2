//! What sign-in keeps: second factors and recovery codes, sign-in challenges, SMS codes,
//! e-mailed single-use links, failure counts for throttling, and organizations' two-factor
//! requirement.

use jiff::Timestamp;
use tally_types::{OrgId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::{AuditEntry, Store, StoreError, millis, with_pool};

/// A user's second factor, enrolled or being enrolled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecondFactor {
    /// `totp` or `sms` once enrolled.
    pub method: Option<String>,
    pub totp_secret_sealed: Option<String>,
    pub totp_last_step: i64,
    pub phone: Option<String>,
    pub pending_totp_sealed: Option<String>,
    pub pending_phone: Option<String>,
}

/// What the confirmed enrollment switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolledMethod {
    /// The pending authenticator secret, with the step of the code that confirmed it.
    Totp { step: i64 },
    /// The pending phone number.
    Sms,
}

/// An SMS code waiting to be entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCode {
    pub code_hash: String,
    pub phone: String,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
    pub attempts: i64,
    pub n_sent: i64,
}

/// A session as its owner sees it in the list (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub public_id: String,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    pub async fn second_factor(&self, user_id: UserId) -> Result<SecondFactor, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT second_factor, totp_secret_sealed, totp_last_step, phone, pending_totp_sealed, pending_phone \
                 FROM users WHERE id = $1",
            )
            .bind(user_id.0)
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::NotFound)?;
            Ok(SecondFactor {
                method: row.opt_text("second_factor")?,
                totp_secret_sealed: row.opt_text("totp_secret_sealed")?,
                totp_last_step: row.int("totp_last_step")?,
                phone: row.opt_text("phone")?,
                pending_totp_sealed: row.opt_text("pending_totp_sealed")?,
                pending_phone: row.opt_text("pending_phone")?,
            })
        })
    }

    /// Starts (or restarts) an enrollment: a new authenticator secret or phone number,
    /// not yet in use.
    pub async fn set_pending_second_factor(
        &self,
        user_id: UserId,
        totp_sealed: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE users SET pending_totp_sealed = $2, pending_phone = $3 WHERE id = $1")
                .bind(user_id.0)
                .bind(totp_sealed)
                .bind(phone)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Switches the pending factor on, replacing any previous one and its recovery codes.
    pub async fn enable_second_factor(
        &self,
        user_id: UserId,
        method: EnrolledMethod,
        recovery_code_hashes: &[String],
        audits: &[AuditEntry],
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = match method {
                EnrolledMethod::Totp { step } => sqlx::query(
                    "UPDATE users SET second_factor = 'totp', totp_secret_sealed = pending_totp_sealed, totp_last_step = $2, \
                     phone = NULL, pending_totp_sealed = NULL, pending_phone = NULL \
                     WHERE id = $1 AND pending_totp_sealed IS NOT NULL",
                )
                .bind(user_id.0)
                .bind(step)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                EnrolledMethod::Sms => sqlx::query(
                    "UPDATE users SET second_factor = 'sms', phone = pending_phone, totp_secret_sealed = NULL, \
                     totp_last_step = 0, pending_totp_sealed = NULL, pending_phone = NULL \
                     WHERE id = $1 AND pending_phone IS NOT NULL",
                )
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            for hash in recovery_code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user_id.0)
                    .bind(hash.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM sms_codes WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            for audit in audits {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Turns the second factor off (the user's choice, or an admin's reset): secrets,
    /// recovery codes, pending codes and every session go.
    pub async fn disable_second_factor(&self, user_id: UserId, audits: &[AuditEntry]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "UPDATE users SET second_factor = NULL, totp_secret_sealed = NULL, totp_last_step = 0, phone = NULL, \
                 pending_totp_sealed = NULL, pending_phone = NULL WHERE id = $1",
            )
            .bind(user_id.0)
            .execute(&mut *tx)
            .await?;
            for table in ["recovery_codes", "sms_codes", "sessions", "sign_in_challenges"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1")))
                    .bind(user_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            for audit in audits {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that an authenticator code of `step` was used, only if it is later than
    /// every code used before: of two requests with the same code, one wins.
    pub async fn advance_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let changed = sqlx::query("UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2")
                .bind(user_id.0)
                .bind(step)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(changed == 1)
        })
    }

    /// Uses a recovery code once.
    pub async fn use_recovery_code(
        &self,
        user_id: UserId,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let changed =
                sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
                    .bind(user_id.0)
                    .bind(code_hash)
                    .bind(millis(now))
                    .execute(pool)
                    .await?
                    .rows_affected();
            Ok(changed == 1)
        })
    }

    pub async fn replace_recovery_codes(&self, user_id: UserId, hashes: &[String]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            for hash in hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user_id.0)
                    .bind(hash.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn recovery_codes_left(&self, user_id: UserId) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id.0)
                .fetch_one(pool)
                .await?)
        })
    }

    pub async fn insert_challenge(
        &self,
        token_hash: &str,
        user_id: UserId,
        purpose: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.insert_token_row("sign_in_challenges", token_hash, user_id, purpose, now, expires_at).await
    }

    /// A row of one of the hashed single-use token tables (`sign_in_challenges`,
    /// `email_tokens`), which share their columns.
    async fn insert_token_row(
        &self,
        table: &'static str,
        token_hash: &str,
        user_id: UserId,
        purpose: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {table} (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
        );
        with_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(token_hash)
            .bind(user_id.0)
            .bind(purpose)
            .bind(millis(now))
            .bind(millis(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The user and purpose of a live challenge.
    pub async fn challenge(&self, token_hash: &str, now: Timestamp) -> Result<Option<(UserId, String)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT user_id, purpose FROM sign_in_challenges WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(millis(now))
                .fetch_optional(pool)
                .await?;
            row.map(|row| Ok((UserId(row.int("user_id")?), row.text("purpose")?))).transpose()
        })
    }

    /// Ends a challenge and any SMS code bound to it.
    pub async fn delete_challenge(&self, token_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM sign_in_challenges WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sms_codes WHERE challenge_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a freshly sent SMS code for this user and challenge, replacing an older one
    /// and counting sends.
    pub async fn put_sms_code(
        &self,
        user_id: UserId,
        challenge_hash: &str,
        code_hash: &str,
        phone: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sms_codes (user_id, challenge_hash, code_hash, phone, sent_at, expires_at, attempts, n_sent) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, 1) \
                 ON CONFLICT (user_id, challenge_hash) DO UPDATE SET code_hash = excluded.code_hash, phone = excluded.phone, \
                 sent_at = excluded.sent_at, expires_at = excluded.expires_at, attempts = 0, n_sent = sms_codes.n_sent + 1",
            )
            .bind(user_id.0)
            .bind(challenge_hash)
            .bind(code_hash)
            .bind(phone)
            .bind(millis(now))
            .bind(millis(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn sms_code(&self, user_id: UserId, challenge_hash: &str) -> Result<Option<SmsCode>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT code_hash, phone, sent_at, expires_at, attempts, n_sent FROM sms_codes \
                 WHERE user_id = $1 AND challenge_hash = $2",
            )
            .bind(user_id.0)
            .bind(challenge_hash)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(SmsCode {
                    code_hash: row.text("code_hash")?,
                    phone: row.text("phone")?,
                    sent_at: row.time("sent_at")?,
                    expires_at: row.time("expires_at")?,
                    attempts: row.int("attempts")?,
                    n_sent: row.int("n_sent")?,
                })
            })
            .transpose()
        })
    }

    /// Counts one more attempt at an SMS code.
    pub async fn bump_sms_attempts(&self, user_id: UserId, challenge_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE sms_codes SET attempts = attempts + 1 WHERE user_id = $1 AND challenge_hash = $2")
                .bind(user_id.0)
                .bind(challenge_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Uses an SMS code once: true only for the request that removes it.
    pub async fn take_sms_code(&self, user_id: UserId, challenge_hash: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let removed = sqlx::query("DELETE FROM sms_codes WHERE user_id = $1 AND challenge_hash = $2")
                .bind(user_id.0)
                .bind(challenge_hash)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(removed == 1)
        })
    }

    pub async fn insert_email_token(
        &self,
        token_hash: &str,
        user_id: UserId,
        purpose: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.insert_token_row("email_tokens", token_hash, user_id, purpose, now, expires_at).await
    }

    /// Uses a live e-mailed link once; the user it was for.
    pub async fn consume_email_token(
        &self,
        token_hash: &str,
        purpose: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        with_pool!(self, pool => {
            let user_id: Option<i64> = sqlx::query_scalar(
                "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL \
                 AND expires_at > $3 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(purpose)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            Ok(user_id.map(UserId))
        })
    }

    /// Whether a live e-mailed link exists (to show its page without using it).
    pub async fn email_token_is_live(
        &self,
        token_hash: &str,
        purpose: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM email_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(token_hash)
            .bind(purpose)
            .bind(millis(now))
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    pub async fn record_auth_failure(&self, subjects: &[String], now: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            for subject in subjects {
                sqlx::query("INSERT INTO auth_failures (subject, at) VALUES ($1, $2)")
                    .bind(subject.as_str())
                    .bind(millis(now))
                    .execute(pool)
                    .await?;
            }
        });
        Ok(())
    }

    /// Failures of a subject since a time, and the time of the latest.
    pub async fn auth_failures(&self, subject: &str, since: Timestamp) -> Result<(i64, Option<Timestamp>), StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n, MAX(at) AS latest FROM auth_failures WHERE subject = $1 AND at >= $2")
                .bind(subject)
                .bind(millis(since))
                .fetch_one(pool)
                .await?;
            let latest = row.opt_time("latest")?;
            Ok((row.int("n")?, latest))
        })
    }

    pub async fn clear_auth_failures(&self, subject: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM auth_failures WHERE subject = $1").bind(subject).execute(pool).await?;
        });
        Ok(())
    }

    /// Sets a new password and ends every session of the user.
    pub async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        audits: &[AuditEntry],
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id.0)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            sqlx::query("UPDATE email_tokens SET used_at = COALESCE(used_at, 0) WHERE user_id = $1")
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?;
            for audit in audits {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn sessions_of(&self, user_id: UserId) -> Result<Vec<SessionInfo>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT public_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions \
                 WHERE user_id = $1 ORDER BY created_at DESC",
            )
            .bind(user_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(SessionInfo {
                        public_id: row.text("public_id")?,
                        token_hash: row.text("token_hash")?,
                        created_at: row.time("created_at")?,
                        last_seen_at: row.time("last_seen_at")?,
                        expires_at: row.time("expires_at")?,
                        ip: row.opt_text("ip")?,
                        user_agent: row.opt_text("user_agent")?,
                    })
                })
                .collect()
        })
    }

    /// Ends one of the user's sessions by its public id.
    pub async fn delete_session_by_public_id(&self, user_id: UserId, public_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let removed = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND public_id = $2")
                .bind(user_id.0)
                .bind(public_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(removed == 1)
        })
    }

    pub async fn set_require_two_factor(
        &self,
        org_id: OrgId,
        required: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE organizations SET require_two_factor = $2 WHERE id = $1")
                .bind(org_id.0)
                .bind(i64::from(required))
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn requires_two_factor(&self, org_id: OrgId) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let flag: Option<i64> = sqlx::query_scalar("SELECT require_two_factor FROM organizations WHERE id = $1")
                .bind(org_id.0)
                .fetch_optional(pool)
                .await?;
            Ok(flag.unwrap_or(0) != 0)
        })
    }

    /// Whether any live organization of the user requires a second factor.
    pub async fn user_needs_second_factor(&self, user_id: UserId) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM org_members m JOIN organizations o ON o.id = m.org_id \
                 WHERE m.user_id = $1 AND o.deleted_at IS NULL AND m.deactivated_at IS NULL AND o.require_two_factor <> 0",
            )
            .bind(user_id.0)
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }
}
