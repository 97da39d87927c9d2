//! Alerts on saved reports and the record of their checks. Every read and change names its
//! project, except the scheduler's (`due_alerts`, `lease_alert`), which serve them all.

use jiff::Timestamp;
use tally_types::{ProjectId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::{AuditEntry, Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub project_id: ProjectId,
    pub bookmark_id: i64,
    pub name: String,
    /// The condition, as JSON (the caller's model).
    pub condition: String,
    /// `hourly`, `daily` or `weekly`.
    pub frequency: String,
    pub emails: Vec<String>,
    pub webhook_url: String,
    pub webhook_username: String,
    /// The webhook's password, sealed (empty: none).
    pub webhook_password_sealed: String,
    /// What the report was when the alert was made for it (a change makes it invalid).
    pub report_shape: String,
    /// Why the alert no longer checks (empty: it does).
    pub invalid_reason: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    pub next_check_at: Timestamp,
}

/// One check of an alert (or a test), and its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCheck {
    pub id: i64,
    pub alert_id: i64,
    pub project_id: ProjectId,
    /// The period checked (a test's own moment).
    pub period: String,
    pub checked_at: Timestamp,
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub fired: bool,
    pub test: bool,
    pub delivered: bool,
    /// What each delivery answered, as JSON.
    pub delivery: String,
}

const ALERT_COLUMNS: &str = "id, project_id, bookmark_id, name, condition, frequency, emails, webhook_url, \
     webhook_username, webhook_password_sealed, report_shape, invalid_reason, created_by, created_at, modified_at, \
     next_check_at";

fn alert_from_row(row: &impl RowExt) -> Result<Alert, StoreError> {
    let emails = row.text("emails")?;
    Ok(Alert {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        bookmark_id: row.int("bookmark_id")?,
        name: row.text("name")?,
        condition: row.text("condition")?,
        frequency: row.text("frequency")?,
        emails: serde_json::from_str(&emails).map_err(|error| StoreError::Corrupt(error.to_string()))?,
        webhook_url: row.text("webhook_url")?,
        webhook_username: row.text("webhook_username")?,
        webhook_password_sealed: row.text("webhook_password_sealed")?,
        report_shape: row.text("report_shape")?,
        invalid_reason: row.text("invalid_reason")?,
        created_by: UserId(row.int("created_by")?),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
        next_check_at: row.time("next_check_at")?,
    })
}

type CheckRow = (i64, i64, i64, String, i64, Option<f64>, Option<f64>, i64, i64, i64, String);

fn check_from_row(row: CheckRow) -> Result<AlertCheck, StoreError> {
    let (id, alert_id, project_id, period, checked_at, value, previous, fired, test, delivered, delivery) = row;
    Ok(AlertCheck {
        id,
        alert_id,
        project_id: ProjectId(project_id),
        period,
        checked_at: Timestamp::from_millisecond(checked_at).map_err(|error| StoreError::Corrupt(error.to_string()))?,
        value,
        previous,
        fired: fired != 0,
        test: test != 0,
        delivered: delivered != 0,
        delivery,
    })
}

const CHECK_COLUMNS: &str =
    "id, alert_id, project_id, period, checked_at, value, previous, fired, test, delivered, delivery";

fn emails_json(alert: &Alert) -> Result<String, StoreError> {
    serde_json::to_string(&alert.emails).map_err(|error| StoreError::Corrupt(error.to_string()))
}

impl Store {
    pub async fn create_alert(&self, alert: &Alert, audit: &AuditEntry) -> Result<Alert, StoreError> {
        let emails = emails_json(alert)?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO alerts (project_id, bookmark_id, name, condition, frequency, emails, webhook_url, \
                 webhook_username, webhook_password_sealed, report_shape, invalid_reason, created_by, created_at, \
                 modified_at, next_check_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14) \
                 RETURNING {ALERT_COLUMNS}"
            )))
            .bind(alert.project_id.0)
            .bind(alert.bookmark_id)
            .bind(alert.name.as_str())
            .bind(alert.condition.as_str())
            .bind(alert.frequency.as_str())
            .bind(emails)
            .bind(alert.webhook_url.as_str())
            .bind(alert.webhook_username.as_str())
            .bind(alert.webhook_password_sealed.as_str())
            .bind(alert.report_shape.as_str())
            .bind(alert.invalid_reason.as_str())
            .bind(alert.created_by.0)
            .bind(alert.created_at.as_millisecond())
            .bind(alert.next_check_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = alert_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn alerts(&self, project_id: ProjectId) -> Result<Vec<Alert>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(alert_from_row).collect()
        })
    }

    pub async fn alert(&self, project_id: ProjectId, alert_id: i64) -> Result<Option<Alert>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE project_id = $1 AND id = $2"
            )))
            .bind(project_id.0)
            .bind(alert_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(alert_from_row).transpose()
        })
    }

    /// Saves an alert's settings (not its schedule's lease).
    pub async fn update_alert(&self, alert: &Alert, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
        let emails = emails_json(alert)?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE alerts SET name = $3, condition = $4, frequency = $5, emails = $6, webhook_url = $7, \
                 webhook_username = $8, webhook_password_sealed = $9, report_shape = $10, invalid_reason = $11, \
                 modified_at = $12, next_check_at = $13 WHERE project_id = $1 AND id = $2",
            )
            .bind(alert.project_id.0)
            .bind(alert.id)
            .bind(alert.name.as_str())
            .bind(alert.condition.as_str())
            .bind(alert.frequency.as_str())
            .bind(emails)
            .bind(alert.webhook_url.as_str())
            .bind(alert.webhook_username.as_str())
            .bind(alert.webhook_password_sealed.as_str())
            .bind(alert.report_shape.as_str())
            .bind(alert.invalid_reason.as_str())
            .bind(alert.modified_at.as_millisecond())
            .bind(alert.next_check_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(audit) = audit {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn delete_alert(
        &self,
        project_id: ProjectId,
        alert_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM alerts WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(alert_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM alert_checks WHERE project_id = $1 AND alert_id = $2")
                .bind(project_id.0)
                .bind(alert_id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Valid alerts whose check is due and that no one holds.
    pub async fn due_alerts(&self, now: Timestamp) -> Result<Vec<Alert>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE invalid_reason = '' AND next_check_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_check_at"
            )))
            .bind(now.as_millisecond())
            .fetch_all(pool)
            .await?;
            rows.iter().map(alert_from_row).collect()
        })
    }

    /// Takes an alert's check until `until`; `false` when another holds it or it is not due.
    pub async fn lease_alert(&self, alert_id: i64, now: Timestamp, until: Timestamp) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let taken = sqlx::query(
                "UPDATE alerts SET lease_until = $3 WHERE id = $1 AND next_check_at <= $2 \
                 AND (lease_until IS NULL OR lease_until < $2)",
            )
            .bind(alert_id)
            .bind(now.as_millisecond())
            .bind(until.as_millisecond())
            .execute(pool)
            .await?;
            Ok(taken.rows_affected() == 1)
        })
    }

    /// Ends a check: the next one is due at `next`, and the lease is let go.
    pub async fn release_alert(&self, alert_id: i64, next: Timestamp, invalid_reason: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE alerts SET lease_until = NULL, next_check_at = $2, invalid_reason = $3 WHERE id = $1")
                .bind(alert_id)
                .bind(next.as_millisecond())
                .bind(invalid_reason)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records a check; `None` when the alert's period was already checked (not for tests).
    pub async fn insert_alert_check(&self, check: &AlertCheck) -> Result<Option<i64>, StoreError> {
        with_pool!(self, pool => {
            let id: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO alert_checks (alert_id, project_id, period, checked_at, value, previous, fired, test) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(check.alert_id)
            .bind(check.project_id.0)
            .bind(check.period.as_str())
            .bind(check.checked_at.as_millisecond())
            .bind(check.value)
            .bind(check.previous)
            .bind(i64::from(check.fired))
            .bind(i64::from(check.test))
            .fetch_optional(pool)
            .await?;
            Ok(id.map(|(id,)| id))
        })
    }

    /// The check of an alert's period, when there is one.
    pub async fn alert_check(&self, alert_id: i64, period: &str) -> Result<Option<AlertCheck>, StoreError> {
        let row: Option<CheckRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CHECK_COLUMNS} FROM alert_checks WHERE alert_id = $1 AND period = $2 AND test = 0"
            )))
            .bind(alert_id)
            .bind(period)
            .fetch_optional(pool)
            .await?
        });
        row.map(check_from_row).transpose()
    }

    pub async fn set_alert_check_delivered(
        &self,
        check_id: i64,
        delivered: bool,
        delivery: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE alert_checks SET delivered = $2, delivery = $3 WHERE id = $1")
                .bind(check_id)
                .bind(i64::from(delivered))
                .bind(delivery)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// An alert's last hundred checks, newest first.
    pub async fn alert_checks(&self, project_id: ProjectId, alert_id: i64) -> Result<Vec<AlertCheck>, StoreError> {
        let rows: Vec<CheckRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CHECK_COLUMNS} FROM alert_checks WHERE project_id = $1 AND alert_id = $2 \
                 ORDER BY checked_at DESC, id DESC LIMIT 100"
            )))
            .bind(project_id.0)
            .bind(alert_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(check_from_row).collect()
    }
}
