//! The audit log: one row per change, written in the same transaction as the change.

use jiff::Timestamp;
use tally_types::{OrgId, ProjectId};

use crate::row::RowExt;
use crate::{Store, StoreError, millis, with_pool};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    /// `user`, `service_account`, `operator` (the `tally admin` command) or `system`.
    pub kind: &'static str,
    pub id: Option<i64>,
    /// An e-mail, a service account's username, or a description.
    pub label: String,
}

/// A change to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub at: Timestamp,
    pub actor: AuditActor,
    pub ip: Option<String>,
    /// `<object>.<verb>`, as Mixpanel names them: `project.user_added`, `team.created`.
    pub event_type: String,
    pub target_kind: &'static str,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    /// The same entry with the state after the change.
    pub fn with_after(mut self, after: serde_json::Value) -> Self {
        self.after = Some(after);
        self
    }
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub at: Timestamp,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub ip: Option<String>,
    pub event_type: String,
    pub target_kind: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Which rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this project's rows; `None` reads the organization scope (all rows of the org).
    pub project_id: Option<ProjectId>,
    pub event_type: Option<String>,
    pub actor_id: Option<i64>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: i64,
}

/// Inserts an audit row through any executor of the current backend (`&mut *tx`).
macro_rules! insert_audit {
    ($executor:expr, $entry:expr) => {{
        let entry: &$crate::AuditEntry = $entry;
        sqlx::query(
            "INSERT INTO audit_log (org_id, project_id, at, actor_kind, actor_id, actor_label, ip, event_type, \
             target_kind, target_id, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(entry.org_id.0)
        .bind(entry.project_id.map(|id| id.0))
        .bind(entry.at.as_millisecond())
        .bind(entry.actor.kind)
        .bind(entry.actor.id)
        .bind(entry.actor.label.as_str())
        .bind(entry.ip.as_deref())
        .bind(entry.event_type.as_str())
        .bind(entry.target_kind)
        .bind(entry.target_id.as_str())
        .bind(entry.before.as_ref().map(|value| value.to_string()))
        .bind(entry.after.as_ref().map(|value| value.to_string()))
        .execute($executor)
        .await?;
    }};
}
pub(crate) use insert_audit;

fn json_column(text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|text| serde_json::from_str(&text).map_err(|error| StoreError::Corrupt(format!("audit json: {error}"))))
        .transpose()
}

fn record_from_row(row: &impl RowExt) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.int("id")?,
        org_id: OrgId(row.int("org_id")?),
        project_id: row.opt_int("project_id")?.map(ProjectId),
        at: row.time("at")?,
        actor_kind: row.text("actor_kind")?,
        actor_id: row.opt_int("actor_id")?,
        actor_label: row.text("actor_label")?,
        ip: row.opt_text("ip")?,
        event_type: row.text("event_type")?,
        target_kind: row.text("target_kind")?,
        target_id: row.text("target_id")?,
        before: json_column(row.opt_text("before_json")?)?,
        after: json_column(row.opt_text("after_json")?)?,
    })
}

impl Store {
    /// Records a change that has no other row to write (a sign-in, an export).
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            insert_audit!(pool, entry);
        });
        Ok(())
    }

    /// Rows of an organization (or of one of its projects), newest first.
    pub async fn audit_log(&self, org_id: OrgId, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let since = filter.since.map(millis).unwrap_or(i64::MIN);
        let until = filter.until.map(millis).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, org_id, project_id, at, actor_kind, actor_id, actor_label, ip, event_type, target_kind, \
                 target_id, before_json, after_json FROM audit_log \
                 WHERE org_id = $1 AND ($2 IS NULL OR project_id = $2) AND ($3 IS NULL OR event_type = $3) \
                 AND ($4 IS NULL OR actor_id = $4) AND at >= $5 AND at <= $6 \
                 ORDER BY at DESC, id DESC LIMIT $7",
            )
            .bind(org_id.0)
            .bind(filter.project_id.map(|id| id.0))
            .bind(filter.event_type.as_deref())
            .bind(filter.actor_id)
            .bind(since)
            .bind(until)
            .bind(filter.limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(record_from_row).collect()
        })
    }
}
