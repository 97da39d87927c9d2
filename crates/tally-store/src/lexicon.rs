//! The Lexicon's bulk changes (a CSV import) and the Schemas API's documents. Every read
//! and change names its project.

use jiff::Timestamp;
use tally_types::ProjectId;

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::{AuditEntry, LexiconEntry, Store, StoreError, with_pool};

/// Saves one Lexicon entry whole (made when missing), inside the caller's transaction.
macro_rules! upsert_entry {
    ($executor:expr, $project_id:expr, $entry:expr, $at:expr) => {{
        let entry: &LexiconEntry = $entry;
        let tags = serde_json::to_string(&entry.tags).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let owners = serde_json::to_string(&entry.owners).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        sqlx::query(
            "INSERT INTO lexicon_entries (project_id, kind, name, display_name, description, tags, hidden, dropped, \
             modified_at, classified, owners, merged_into) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (project_id, kind, name) DO UPDATE SET display_name = $4, description = $5, tags = $6, \
             hidden = $7, dropped = $8, modified_at = $9, classified = $10, owners = $11, merged_into = $12",
        )
        .bind($project_id.0)
        .bind(entry.kind.as_str())
        .bind(entry.name.as_str())
        .bind(entry.display_name.as_str())
        .bind(entry.description.as_str())
        .bind(tags)
        .bind(i64::from(entry.hidden))
        .bind(i64::from(entry.dropped))
        .bind($at.as_millisecond())
        .bind(i64::from(entry.classified))
        .bind(owners)
        .bind(entry.merged_into.as_str())
        .execute($executor)
        .await?;
    }};
}

/// A Schemas API document: an event's or a profile's schema (`entity_type` `event` or
/// `profile`), as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconSchema {
    pub entity_type: String,
    pub name: String,
    pub schema_json: String,
}

impl Store {
    /// Saves entries whole, in one transaction; with `replace`, every other entry of the
    /// project loses its edits first (drops and classification stay: those are not the
    /// dictionary's to clear).
    pub async fn save_lexicon_entries(
        &self,
        project_id: ProjectId,
        entries: &[LexiconEntry],
        replace: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            if replace {
                sqlx::query(
                    "UPDATE lexicon_entries SET display_name = '', description = '', tags = '[]', hidden = 0, \
                     owners = '[]', merged_into = '', modified_at = $2 WHERE project_id = $1",
                )
                .bind(project_id.0)
                .bind(audit.at.as_millisecond())
                .execute(&mut *tx)
                .await?;
            }
            for entry in entries {
                upsert_entry!(&mut *tx, project_id, entry, audit.at);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The project's schemas, by entity type and name; `entity_type` and `name` narrow them.
    pub async fn lexicon_schemas(
        &self,
        project_id: ProjectId,
        entity_type: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<LexiconSchema>, StoreError> {
        let rows: Vec<(String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT entity_type, name, schema_json FROM lexicon_schemas WHERE project_id = $1 \
                 AND ($2 = '' OR entity_type = $2) AND ($3 = '' OR name = $3) ORDER BY entity_type, name",
            )
            .bind(project_id.0)
            .bind(entity_type.unwrap_or_default())
            .bind(name.unwrap_or_default())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(entity_type, name, schema_json)| LexiconSchema { entity_type, name, schema_json })
            .collect())
    }

    /// Saves schemas (replacing those of the same entity and name) with the Lexicon entries
    /// they set (whole), in one transaction; `truncate` first deletes every schema of the entity
    /// types given. Returns how many were added (new) and deleted.
    pub async fn save_lexicon_schemas(
        &self,
        project_id: ProjectId,
        schemas: &[LexiconSchema],
        truncate: bool,
        entries: &[LexiconEntry],
        audit: &AuditEntry,
        at: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let mut deleted = 0;
        let mut added = 0;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            if truncate {
                let mut types: Vec<&str> = schemas.iter().map(|schema| schema.entity_type.as_str()).collect();
                types.sort_unstable();
                types.dedup();
                for entity_type in types {
                    deleted += sqlx::query("DELETE FROM lexicon_schemas WHERE project_id = $1 AND entity_type = $2")
                        .bind(project_id.0)
                        .bind(entity_type)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
            }
            for schema in schemas {
                let existed = sqlx::query("DELETE FROM lexicon_schemas WHERE project_id = $1 AND entity_type = $2 AND name = $3")
                    .bind(project_id.0)
                    .bind(schema.entity_type.as_str())
                    .bind(schema.name.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if existed == 0 {
                    added += 1;
                }
                sqlx::query(
                    "INSERT INTO lexicon_schemas (project_id, entity_type, name, schema_json, modified_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(project_id.0)
                .bind(schema.entity_type.as_str())
                .bind(schema.name.as_str())
                .bind(schema.schema_json.as_str())
                .bind(at.as_millisecond())
                .execute(&mut *tx)
                .await?;
            }
            for entry in entries {
                upsert_entry!(&mut *tx, project_id, entry, at);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok((added, deleted))
    }

    /// Deletes schemas (all, of one entity type, or one); returns how many.
    pub async fn delete_lexicon_schemas(
        &self,
        project_id: ProjectId,
        entity_type: Option<&str>,
        name: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let deleted = sqlx::query(
                "DELETE FROM lexicon_schemas WHERE project_id = $1 AND ($2 = '' OR entity_type = $2) \
                 AND ($3 = '' OR name = $3)",
            )
            .bind(project_id.0)
            .bind(entity_type.unwrap_or_default())
            .bind(name.unwrap_or_default())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(deleted)
        })
    }
}
