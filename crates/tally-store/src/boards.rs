//! Boards, their cards and sharing, saved reports (bookmarks) and annotations: what a
//! team keeps and shares. Every read and write names its project, so an id from another
//! project finds nothing.

use jiff::Timestamp;
use tally_types::{ProjectId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub id: i64,
    pub project_id: ProjectId,
    pub parent_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub owner_id: UserId,
    /// Only its owner sees it (made by someone who may not share).
    pub private: bool,
    /// `off`, `viewer` or `editor`; `None` follows the project's default.
    pub project_access: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A user or a team, and `viewer` or `editor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardShare {
    /// `user` or `team`.
    pub principal_kind: String,
    pub principal_id: i64,
    pub access: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardCard {
    pub id: i64,
    pub board_id: i64,
    /// A saved report; `None` for a text card.
    pub bookmark_id: Option<i64>,
    pub body: Option<String>,
    pub row: i64,
    pub col: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark {
    pub id: i64,
    pub project_id: ProjectId,
    /// The original board.
    pub board_id: i64,
    pub name: String,
    pub description: String,
    /// `insights`, `funnels`, `retention` or `flows`.
    pub kind: String,
    /// The report model, as JSON.
    pub report: String,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub id: i64,
    pub project_id: ProjectId,
    pub at: Timestamp,
    pub description: String,
    pub user_id: Option<UserId>,
    pub tag_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationTag {
    pub id: i64,
    pub project_id: ProjectId,
    pub name: String,
    pub has_annotations: bool,
}

/// A public link to a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicLink {
    pub id: i64,
    pub project_id: ProjectId,
    pub board_id: i64,
    pub token_hash: String,
    /// The token, sealed: the link's address can be listed again.
    pub token_sealed: String,
    pub passcode_hash: Option<String>,
    /// The data view it answers through (`None`: all project data).
    pub view_id: Option<i64>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
}

const LINK_COLUMNS: &str =
    "id, project_id, board_id, token_hash, token_sealed, passcode_hash, view_id, created_by, created_at";

fn link_from_row(row: &impl RowExt) -> Result<PublicLink, StoreError> {
    Ok(PublicLink {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        board_id: row.int("board_id")?,
        token_hash: row.text("token_hash")?,
        token_sealed: row.text("token_sealed")?,
        passcode_hash: row.opt_text("passcode_hash")?,
        view_id: row.opt_int("view_id")?,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
    })
}

const BOARD_COLUMNS: &str = "id, project_id, parent_id, title, description, owner_id, private, project_access, \
                             created_by, created_at, modified_at";
const CARD_COLUMNS: &str = "id, board_id, bookmark_id, body, row_index, col_index";
const BOOKMARK_COLUMNS: &str =
    "id, project_id, board_id, name, description, kind, report, created_by, created_at, modified_at";

fn board_from_row(row: &impl RowExt) -> Result<Board, StoreError> {
    Ok(Board {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        parent_id: row.opt_int("parent_id")?,
        title: row.text("title")?,
        description: row.text("description")?,
        owner_id: UserId(row.int("owner_id")?),
        private: row.int("private")? != 0,
        project_access: row.opt_text("project_access")?,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
    })
}

fn card_from_row(row: &impl RowExt) -> Result<BoardCard, StoreError> {
    Ok(BoardCard {
        id: row.int("id")?,
        board_id: row.int("board_id")?,
        bookmark_id: row.opt_int("bookmark_id")?,
        body: row.opt_text("body")?,
        row: row.int("row_index")?,
        col: row.int("col_index")?,
    })
}

fn bookmark_from_row(row: &impl RowExt) -> Result<Bookmark, StoreError> {
    Ok(Bookmark {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        board_id: row.int("board_id")?,
        name: row.text("name")?,
        description: row.text("description")?,
        kind: row.text("kind")?,
        report: row.text("report")?,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
    })
}

/// The next free row at the bottom of a board.
macro_rules! next_row {
    ($tx:expr, $board_id:expr) => {{
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(row_index) FROM board_cards WHERE board_id = $1")
            .bind($board_id)
            .fetch_one(&mut *$tx)
            .await?;
        last.map_or(0, |row| row + 1)
    }};
}

/// Adds a card in a row of its own at the bottom of the board.
macro_rules! append_card {
    ($tx:expr, $project_id:expr, $board_id:expr, $bookmark_id:expr, $body:expr, $at:expr) => {{
        let row_index = next_row!($tx, $board_id);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO board_cards (project_id, board_id, bookmark_id, body, row_index, col_index, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING {CARD_COLUMNS}"
        )))
        .bind($project_id)
        .bind($board_id)
        .bind($bookmark_id)
        .bind($body)
        .bind(row_index)
        .bind($at)
        .fetch_one(&mut *$tx)
        .await?;
        card_from_row(&row)?
    }};
}

/// Tags an annotation with one of its project's tags (a tag of another project is refused
/// as one the project does not have).
macro_rules! link_tag {
    ($tx:expr, $project_id:expr, $annotation_id:expr, $tag_id:expr) => {{
        let inserted = sqlx::query(
            "INSERT INTO annotation_tag_links (project_id, annotation_id, tag_id) \
             SELECT $1, $2, id FROM annotation_tags WHERE project_id = $1 AND id = $3",
        )
        .bind($project_id)
        .bind($annotation_id)
        .bind($tag_id)
        .execute(&mut *$tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Refused("an annotation names a tag this project does not have"));
        }
    }};
}

impl Store {
    /// The project's default access to its boards: `off`, `viewer` or `editor`.
    pub async fn board_default_access(&self, project_id: ProjectId) -> Result<String, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT board_default_access FROM projects WHERE id = $1")
                .bind(project_id.0)
                .fetch_one(pool)
                .await?)
        })
    }

    pub async fn set_board_default_access(
        &self,
        project_id: ProjectId,
        access: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE projects SET board_default_access = $2 WHERE id = $1")
                .bind(project_id.0)
                .bind(access)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Creates a board (its id is the one given back; `board.id` is ignored).
    pub async fn create_board(&self, board: &Board, audit: &AuditEntry) -> Result<Board, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO boards (project_id, parent_id, title, description, owner_id, private, project_access, \
                 created_by, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                 RETURNING {BOARD_COLUMNS}"
            )))
            .bind(board.project_id.0)
            .bind(board.parent_id)
            .bind(board.title.as_str())
            .bind(board.description.as_str())
            .bind(board.owner_id.0)
            .bind(i64::from(board.private))
            .bind(board.project_access.as_deref())
            .bind(board.created_by.map(|id| id.0))
            .bind(board.created_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = board_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn boards(&self, project_id: ProjectId) -> Result<Vec<Board>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOARD_COLUMNS} FROM boards WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(board_from_row).collect()
        })
    }

    pub async fn board(&self, project_id: ProjectId, board_id: i64) -> Result<Option<Board>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOARD_COLUMNS} FROM boards WHERE project_id = $1 AND id = $2"
            )))
            .bind(project_id.0)
            .bind(board_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(board_from_row).transpose()
        })
    }

    /// Saves a board's title, description, parent, owner and project-wide access.
    pub async fn update_board(&self, board: &Board, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE boards SET parent_id = $3, title = $4, description = $5, owner_id = $6, project_access = $7, \
                 modified_at = $8 WHERE project_id = $1 AND id = $2",
            )
            .bind(board.project_id.0)
            .bind(board.id)
            .bind(board.parent_id)
            .bind(board.title.as_str())
            .bind(board.description.as_str())
            .bind(board.owner_id.0)
            .bind(board.project_access.as_deref())
            .bind(board.modified_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a board with its cards, its sharing and the reports saved to it (and their
    /// cards on other boards). Refused while boards are nested in it.
    pub async fn delete_board(
        &self,
        project_id: ProjectId,
        board_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM boards WHERE project_id = $1 AND parent_id = $2")
                .bind(project_id.0)
                .bind(board_id)
                .fetch_one(&mut *tx)
                .await?;
            if children > 0 {
                return Err(StoreError::Refused("boards are nested in this board; move or delete them first"));
            }
            let owned = "(SELECT id FROM bookmarks WHERE project_id = $1 AND board_id = $2)";
            for statement in [
                "DELETE FROM public_links WHERE project_id = $1 AND board_id = $2".to_string(),
                format!("DELETE FROM board_cards WHERE project_id = $1 AND (board_id = $2 OR bookmark_id IN {owned})"),
                "DELETE FROM bookmarks WHERE project_id = $1 AND board_id = $2".to_string(),
                "DELETE FROM board_shares WHERE project_id = $1 AND board_id = $2".to_string(),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(statement)).bind(project_id.0).bind(board_id).execute(&mut *tx).await?;
            }
            let removed = sqlx::query("DELETE FROM boards WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(board_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn board_shares(&self, project_id: ProjectId, board_id: i64) -> Result<Vec<BoardShare>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT principal_kind, principal_id, access FROM board_shares WHERE project_id = $1 AND board_id = $2 \
                 ORDER BY principal_kind, principal_id",
            )
            .bind(project_id.0)
            .bind(board_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(BoardShare {
                        principal_kind: row.text("principal_kind")?,
                        principal_id: row.int("principal_id")?,
                        access: row.text("access")?,
                    })
                })
                .collect()
        })
    }

    /// Replaces a board's sharing: its shares and its project-wide access.
    pub async fn set_board_sharing(
        &self,
        board: &Board,
        shares: &[BoardShare],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM board_shares WHERE project_id = $1 AND board_id = $2")
                .bind(board.project_id.0)
                .bind(board.id)
                .execute(&mut *tx)
                .await?;
            for share in shares {
                sqlx::query(
                    "INSERT INTO board_shares (project_id, board_id, principal_kind, principal_id, access) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(board.project_id.0)
                .bind(board.id)
                .bind(share.principal_kind.as_str())
                .bind(share.principal_id)
                .bind(share.access.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|error| unique_as_conflict(error, "a share for that user or team"))?;
            }
            sqlx::query("UPDATE boards SET project_access = $3, modified_at = $4 WHERE project_id = $1 AND id = $2")
                .bind(board.project_id.0)
                .bind(board.id)
                .bind(board.project_access.as_deref())
                .bind(board.modified_at.as_millisecond())
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The teams a user is a member of.
    pub async fn team_ids_of_user(&self, user_id: UserId) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT team_id FROM team_members WHERE principal_kind = 'user' AND principal_id = $1 ORDER BY team_id",
            )
            .bind(user_id.0)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn board_cards(&self, project_id: ProjectId, board_id: i64) -> Result<Vec<BoardCard>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CARD_COLUMNS} FROM board_cards WHERE project_id = $1 AND board_id = $2 \
                 ORDER BY row_index, col_index, id"
            )))
            .bind(project_id.0)
            .bind(board_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(card_from_row).collect()
        })
    }

    /// The boards that show a saved report (its own and those it is linked to).
    pub async fn boards_showing(&self, project_id: ProjectId, bookmark_id: i64) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT board_id FROM board_cards WHERE project_id = $1 AND bookmark_id = $2 ORDER BY board_id",
            )
            .bind(project_id.0)
            .bind(bookmark_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Adds a card (a saved report linked here, or a text) in a new row at the bottom.
    pub async fn add_card(
        &self,
        project_id: ProjectId,
        board_id: i64,
        bookmark_id: Option<i64>,
        body: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<BoardCard, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            if let Some(bookmark_id) = bookmark_id {
                let shown: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM board_cards WHERE project_id = $1 AND board_id = $2 AND bookmark_id = $3",
                )
                .bind(project_id.0)
                .bind(board_id)
                .bind(bookmark_id)
                .fetch_one(&mut *tx)
                .await?;
                if shown > 0 {
                    return Err(StoreError::Conflict("a card of that report on this board"));
                }
            }
            let card = append_card!(tx, project_id.0, board_id, bookmark_id, body, audit.at.as_millisecond());
            let mut audit = audit.clone();
            audit.target_id = card.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(card)
        })
    }

    pub async fn update_card_text(
        &self,
        project_id: ProjectId,
        board_id: i64,
        card_id: i64,
        body: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE board_cards SET body = $4 WHERE project_id = $1 AND board_id = $2 AND id = $3 \
                 AND bookmark_id IS NULL",
            )
            .bind(project_id.0)
            .bind(board_id)
            .bind(card_id)
            .bind(body)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes a card. Removing a report's card from its original board is refused: the
    /// report is deleted or moved instead.
    pub async fn delete_card(
        &self,
        project_id: ProjectId,
        board_id: i64,
        card_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let original: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM board_cards c JOIN bookmarks b ON b.id = c.bookmark_id \
                 WHERE c.project_id = $1 AND c.board_id = $2 AND c.id = $3 AND b.board_id = c.board_id",
            )
            .bind(project_id.0)
            .bind(board_id)
            .bind(card_id)
            .fetch_one(&mut *tx)
            .await?;
            if original > 0 {
                return Err(StoreError::Refused(
                    "this board is the report's own: delete the report, or move it to another board",
                ));
            }
            let removed = sqlx::query("DELETE FROM board_cards WHERE project_id = $1 AND board_id = $2 AND id = $3")
                .bind(project_id.0)
                .bind(board_id)
                .bind(card_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Places every card of a board: `(card id, row, column)`.
    pub async fn set_layout(
        &self,
        project_id: ProjectId,
        board_id: i64,
        placements: &[(i64, i64, i64)],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            for (card_id, row, col) in placements {
                sqlx::query(
                    "UPDATE board_cards SET row_index = $4, col_index = $5 WHERE project_id = $1 AND board_id = $2 AND id = $3",
                )
                .bind(project_id.0)
                .bind(board_id)
                .bind(card_id)
                .bind(row)
                .bind(col)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Saves a report to its board, with a card there (`bookmark.id` is ignored).
    pub async fn create_bookmark(&self, bookmark: &Bookmark, audit: &AuditEntry) -> Result<Bookmark, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO bookmarks (project_id, board_id, name, description, kind, report, created_by, created_at, \
                 modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {BOOKMARK_COLUMNS}"
            )))
            .bind(bookmark.project_id.0)
            .bind(bookmark.board_id)
            .bind(bookmark.name.as_str())
            .bind(bookmark.description.as_str())
            .bind(bookmark.kind.as_str())
            .bind(bookmark.report.as_str())
            .bind(bookmark.created_by.map(|id| id.0))
            .bind(bookmark.created_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = bookmark_from_row(&row)?;
            append_card!(tx, created.project_id.0, created.board_id, Some(created.id), None::<&str>, created.created_at.as_millisecond());
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn bookmark(&self, project_id: ProjectId, bookmark_id: i64) -> Result<Option<Bookmark>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOOKMARK_COLUMNS} FROM bookmarks WHERE project_id = $1 AND id = $2"
            )))
            .bind(project_id.0)
            .bind(bookmark_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(bookmark_from_row).transpose()
        })
    }

    pub async fn bookmarks(&self, project_id: ProjectId) -> Result<Vec<Bookmark>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOOKMARK_COLUMNS} FROM bookmarks WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(bookmark_from_row).collect()
        })
    }

    /// Saves a report's name, description and model; a new original board moves its card
    /// there (the card stays where the report was already linked).
    pub async fn update_bookmark(&self, bookmark: &Bookmark, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let previous: Option<i64> = sqlx::query_scalar("SELECT board_id FROM bookmarks WHERE project_id = $1 AND id = $2")
                .bind(bookmark.project_id.0)
                .bind(bookmark.id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(previous) = previous else { return Err(StoreError::NotFound) };
            sqlx::query(
                "UPDATE bookmarks SET board_id = $3, name = $4, description = $5, report = $6, modified_at = $7 \
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(bookmark.project_id.0)
            .bind(bookmark.id)
            .bind(bookmark.board_id)
            .bind(bookmark.name.as_str())
            .bind(bookmark.description.as_str())
            .bind(bookmark.report.as_str())
            .bind(bookmark.modified_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            if previous != bookmark.board_id {
                sqlx::query("DELETE FROM board_cards WHERE project_id = $1 AND board_id = $2 AND bookmark_id = $3")
                    .bind(bookmark.project_id.0)
                    .bind(previous)
                    .bind(bookmark.id)
                    .execute(&mut *tx)
                    .await?;
                let shown: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM board_cards WHERE project_id = $1 AND board_id = $2 AND bookmark_id = $3",
                )
                .bind(bookmark.project_id.0)
                .bind(bookmark.board_id)
                .bind(bookmark.id)
                .fetch_one(&mut *tx)
                .await?;
                if shown == 0 {
                    append_card!(tx, bookmark.project_id.0, bookmark.board_id, Some(bookmark.id), None::<&str>, bookmark.modified_at.as_millisecond());
                }
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a saved report and its cards on every board.
    pub async fn delete_bookmark(
        &self,
        project_id: ProjectId,
        bookmark_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM board_cards WHERE project_id = $1 AND bookmark_id = $2")
                .bind(project_id.0)
                .bind(bookmark_id)
                .execute(&mut *tx)
                .await?;
            let removed = sqlx::query("DELETE FROM bookmarks WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(bookmark_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn create_annotation(
        &self,
        annotation: &Annotation,
        audit: &AuditEntry,
    ) -> Result<Annotation, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO annotations (project_id, at_ms, description, user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(annotation.project_id.0)
            .bind(annotation.at.as_millisecond())
            .bind(annotation.description.as_str())
            .bind(annotation.user_id.map(|id| id.0))
            .bind(audit.at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            for tag_id in &annotation.tag_ids {
                link_tag!(tx, annotation.project_id.0, id, *tag_id);
            }
            let mut audit = audit.clone();
            audit.target_id = id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(Annotation { id, ..annotation.clone() })
        })
    }

    /// The project's annotations between two instants (both included), oldest first.
    pub async fn annotations(
        &self,
        project_id: ProjectId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Annotation>, StoreError> {
        let rows: Vec<(i64, i64, String, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at_ms, description, user_id FROM annotations WHERE project_id = $1 AND at_ms >= $2 \
                 AND at_ms <= $3 ORDER BY at_ms, id",
            )
            .bind(project_id.0)
            .bind(from.as_millisecond())
            .bind(to.as_millisecond())
            .fetch_all(pool)
            .await?
        });
        let mut found = Vec::with_capacity(rows.len());
        for (id, at_ms, description, user_id) in rows {
            found.push(self.annotation_of(project_id, id, at_ms, description, user_id).await?);
        }
        Ok(found)
    }

    async fn annotation_of(
        &self,
        project_id: ProjectId,
        id: i64,
        at_ms: i64,
        description: String,
        user_id: Option<i64>,
    ) -> Result<Annotation, StoreError> {
        let tag_ids: Vec<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT tag_id FROM annotation_tag_links WHERE annotation_id = $1 ORDER BY tag_id")
                .bind(id)
                .fetch_all(pool)
                .await?
        });
        let at = Timestamp::from_millisecond(at_ms).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        Ok(Annotation { id, project_id, at, description, user_id: user_id.map(UserId), tag_ids })
    }

    pub async fn annotation(&self, project_id: ProjectId, id: i64) -> Result<Option<Annotation>, StoreError> {
        let row: Option<(i64, i64, String, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, at_ms, description, user_id FROM annotations WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some((id, at_ms, description, user_id)) => {
                Ok(Some(self.annotation_of(project_id, id, at_ms, description, user_id).await?))
            }
            None => Ok(None),
        }
    }

    /// Changes an annotation's description and tags (its time never changes).
    pub async fn update_annotation(&self, annotation: &Annotation, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query("UPDATE annotations SET description = $3 WHERE project_id = $1 AND id = $2")
                .bind(annotation.project_id.0)
                .bind(annotation.id)
                .bind(annotation.description.as_str())
                .execute(&mut *tx)
                .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM annotation_tag_links WHERE project_id = $1 AND annotation_id = $2")
                .bind(annotation.project_id.0)
                .bind(annotation.id)
                .execute(&mut *tx)
                .await?;
            for tag_id in &annotation.tag_ids {
                link_tag!(tx, annotation.project_id.0, annotation.id, *tag_id);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn delete_annotation(
        &self,
        project_id: ProjectId,
        id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM annotation_tag_links WHERE project_id = $1 AND annotation_id = $2")
                .bind(project_id.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let removed = sqlx::query("DELETE FROM annotations WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn annotation_tags(&self, project_id: ProjectId) -> Result<Vec<AnnotationTag>, StoreError> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.id, t.name, (SELECT COUNT(*) FROM annotation_tag_links l WHERE l.tag_id = t.id) AS used \
                 FROM annotation_tags t WHERE t.project_id = $1 ORDER BY t.name_key",
            )
            .bind(project_id.0)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name, used)| AnnotationTag { id, project_id, name, has_annotations: used > 0 })
            .collect())
    }

    pub async fn create_annotation_tag(
        &self,
        project_id: ProjectId,
        name: &str,
        audit: &AuditEntry,
    ) -> Result<AnnotationTag, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO annotation_tags (project_id, name, name_key) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(project_id.0)
            .bind(name)
            .bind(name.trim().to_lowercase())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "an annotation tag with that name"))?;
            let mut audit = audit.clone();
            audit.target_id = id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(AnnotationTag { id, project_id, name: name.to_string(), has_annotations: false })
        })
    }
}

impl Store {
    /// Whether the project's boards may have public links.
    pub async fn public_boards_enabled(&self, project_id: ProjectId) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let enabled: i64 = sqlx::query_scalar("SELECT public_boards FROM projects WHERE id = $1")
                .bind(project_id.0)
                .fetch_one(pool)
                .await?;
            Ok(enabled != 0)
        })
    }

    /// Turns public links on or off; off deletes every link of the project at once.
    pub async fn set_public_boards(
        &self,
        project_id: ProjectId,
        enabled: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE projects SET public_boards = $2 WHERE id = $1")
                .bind(project_id.0)
                .bind(i64::from(enabled))
                .execute(&mut *tx)
                .await?;
            if !enabled {
                sqlx::query("DELETE FROM public_links WHERE project_id = $1").bind(project_id.0).execute(&mut *tx).await?;
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a public link (`link.id` is ignored), only while the feature is on.
    pub async fn create_public_link(&self, link: &PublicLink, audit: &AuditEntry) -> Result<PublicLink, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let enabled: i64 = sqlx::query_scalar("SELECT public_boards FROM projects WHERE id = $1")
                .bind(link.project_id.0)
                .fetch_one(&mut *tx)
                .await?;
            if enabled == 0 {
                return Err(StoreError::Refused("public boards are turned off for this project; its Owner turns them on"));
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO public_links (project_id, board_id, token_hash, token_sealed, passcode_hash, created_by, \
                 created_at, view_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {LINK_COLUMNS}"
            )))
            .bind(link.project_id.0)
            .bind(link.board_id)
            .bind(link.token_hash.as_str())
            .bind(link.token_sealed.as_str())
            .bind(link.passcode_hash.as_deref())
            .bind(link.created_by.map(|id| id.0))
            .bind(link.created_at.as_millisecond())
            .bind(link.view_id)
            .fetch_one(&mut *tx)
            .await?;
            let created = link_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn public_links(&self, project_id: ProjectId) -> Result<Vec<PublicLink>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {LINK_COLUMNS} FROM public_links WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(link_from_row).collect()
        })
    }

    pub async fn public_link(&self, project_id: ProjectId, link_id: i64) -> Result<Option<PublicLink>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {LINK_COLUMNS} FROM public_links WHERE project_id = $1 AND id = $2"
            )))
            .bind(project_id.0)
            .bind(link_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(link_from_row).transpose()
        })
    }

    /// The live link with this token hash: its project not deleted and the feature on.
    pub async fn public_link_by_token_hash(&self, token_hash: &str) -> Result<Option<PublicLink>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT l.id, l.project_id, l.board_id, l.token_hash, l.token_sealed, l.passcode_hash, l.view_id, \
                 l.created_by, l.created_at FROM public_links l JOIN projects p ON p.id = l.project_id \
                 WHERE l.token_hash = $1 AND p.public_boards <> 0 AND p.deleted_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(link_from_row).transpose()
        })
    }

    pub async fn delete_public_link(
        &self,
        project_id: ProjectId,
        link_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM public_links WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(link_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A saved cohort: its definition as JSON, computed when a query runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    pub id: i64,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub definition: String,
    /// Shared with everyone in the project (else its creator's alone).
    pub shared: bool,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

const COHORT_COLUMNS: &str =
    "id, project_id, name, description, definition, shared, created_by, created_at, modified_at";

fn cohort_from_row(row: &impl RowExt) -> Result<Cohort, StoreError> {
    Ok(Cohort {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        name: row.text("name")?,
        description: row.text("description")?,
        definition: row.text("definition")?,
        shared: row.int("shared")? != 0,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
    })
}

impl Store {
    /// Saves a cohort (`cohort.id` is ignored).
    pub async fn create_cohort(&self, cohort: &Cohort, audit: &AuditEntry) -> Result<Cohort, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO cohorts (project_id, name, description, definition, shared, created_by, created_at, \
                 modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COHORT_COLUMNS}"
            )))
            .bind(cohort.project_id.0)
            .bind(cohort.name.as_str())
            .bind(cohort.description.as_str())
            .bind(cohort.definition.as_str())
            .bind(i64::from(cohort.shared))
            .bind(cohort.created_by.map(|id| id.0))
            .bind(cohort.created_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = cohort_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn cohorts(&self, project_id: ProjectId) -> Result<Vec<Cohort>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COHORT_COLUMNS} FROM cohorts WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(cohort_from_row).collect()
        })
    }

    pub async fn update_cohort(&self, cohort: &Cohort, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE cohorts SET name = $3, description = $4, definition = $5, shared = $6, modified_at = $7 \
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(cohort.project_id.0)
            .bind(cohort.id)
            .bind(cohort.name.as_str())
            .bind(cohort.description.as_str())
            .bind(cohort.definition.as_str())
            .bind(i64::from(cohort.shared))
            .bind(cohort.modified_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn delete_cohort(
        &self,
        project_id: ProjectId,
        cohort_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM cohorts WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(cohort_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}

/// What the Lexicon says of an event or property beyond what was sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LexiconEntry {
    /// `event` or `property`.
    pub kind: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub hidden: bool,
    /// New data for it is not stored (events).
    pub dropped: bool,
    /// Only holders of `access_classified_data` see its values (properties).
    pub classified: bool,
    /// Who to ask about it (e-mails).
    pub owners: Vec<String>,
    /// Read in queries as this other event or property (empty: itself).
    pub merged_into: String,
}

/// kind, name, display name, description, tags (JSON), hidden, dropped, classified, owners
/// (JSON), merged into.
type LexiconRow = (String, String, String, String, String, i64, i64, i64, String, String);

impl Store {
    pub async fn lexicon_entries(&self, project_id: ProjectId) -> Result<Vec<LexiconEntry>, StoreError> {
        let rows: Vec<LexiconRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, name, display_name, description, tags, hidden, dropped, classified, owners, merged_into \
                 FROM lexicon_entries \
                 WHERE project_id = $1 ORDER BY kind, name",
            )
            .bind(project_id.0)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(kind, name, display_name, description, tags, hidden, dropped, classified, owners, merged_into)| {
                let tags = serde_json::from_str(&tags).map_err(|error| StoreError::Corrupt(error.to_string()))?;
                let owners = serde_json::from_str(&owners).map_err(|error| StoreError::Corrupt(error.to_string()))?;
                Ok(LexiconEntry {
                    kind,
                    name,
                    display_name,
                    description,
                    tags,
                    hidden: hidden != 0,
                    dropped: dropped != 0,
                    classified: classified != 0,
                    owners,
                    merged_into,
                })
            })
            .collect()
    }

    /// Saves an entry whole (made when missing).
    pub async fn save_lexicon_entry(
        &self,
        project_id: ProjectId,
        entry: &LexiconEntry,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.save_lexicon_entries(project_id, std::slice::from_ref(entry), false, audit).await
    }
}
