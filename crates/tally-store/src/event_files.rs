//! The catalog of event data files: which Parquet files hold a region's events, with the
//! statistics readers prune by, and how far the region's write-ahead log is flushed.
//! `tally-events` owns the files; this is only their list.

use jiff::Timestamp;

use crate::BeginWriting;
use crate::row::RowExt;
use crate::{Store, StoreError, with_pool};

/// One catalogued file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFile {
    /// Relative to the region's event folder.
    pub path: String,
    pub project_id: i64,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub bucket: i64,
    pub rows: i64,
    pub bytes: i64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// The file's promoted columns, as `tally-events` writes them (empty: none).
    pub columns: String,
}

/// What every node of a region forgets of the events it has not flushed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forget {
    /// Counts up per region.
    pub id: i64,
    pub project_id: i64,
    /// The users deleted (with every id merged with them); `None`: the whole project (a
    /// reset).
    pub distinct_ids: Option<Vec<String>>,
    /// The node that ran it.
    pub node: String,
}

const COLUMNS: &str = "path, project_id, day, bucket, rows, bytes, min_time_ms, max_time_ms, columns";

fn file_from_row(row: &impl RowExt) -> Result<EventFile, StoreError> {
    Ok(EventFile {
        path: row.text("path")?,
        project_id: row.int("project_id")?,
        day: row.text("day")?,
        bucket: row.int("bucket")?,
        rows: row.int("rows")?,
        bytes: row.int("bytes")?,
        min_time_ms: row.int("min_time_ms")?,
        max_time_ms: row.int("max_time_ms")?,
        columns: row.text("columns")?,
    })
}

macro_rules! insert_file {
    ($executor:expr, $region:expr, $file:expr, $at:expr) => {
        sqlx::query(
            "INSERT INTO event_files (path, region, project_id, day, bucket, rows, bytes, min_time_ms, max_time_ms, \
             created_at, columns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&$file.path)
        .bind($region)
        .bind($file.project_id)
        .bind(&$file.day)
        .bind($file.bucket)
        .bind($file.rows)
        .bind($file.bytes)
        .bind($file.min_time_ms)
        .bind($file.max_time_ms)
        .bind($at.as_millisecond())
        .bind(&$file.columns)
        .execute($executor)
        .await?
    };
}

impl Store {
    /// The last log segment of `node`'s log in `region` whose events are all in catalogued
    /// files, and whether the node took over the position recorded before nodes had ids (a
    /// node with none of its own takes it, once).
    pub async fn flushed_through(&self, region: &str, node: &str) -> Result<(Option<u64>, bool), StoreError> {
        let read = |n: i64| u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("sealed_through {n}")));
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let own = sqlx::query("SELECT sealed_through AS n FROM node_flushes WHERE region = $1 AND node = $2")
                .bind(region)
                .bind(node)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = own {
                return Ok((Some(read(row.int("n")?)?), false));
            }
            let adopted = sqlx::query(
                "UPDATE node_flushes SET node = $2 WHERE region = $1 AND node = '' RETURNING sealed_through AS n",
            )
            .bind(region)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            match adopted {
                Some(row) => Ok((Some(read(row.int("n")?)?), true)),
                None => Ok((None, false)),
            }
        })
    }

    /// Whether any node ever catalogued a flush of `region`.
    pub async fn region_has_flushes(&self, region: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM node_flushes WHERE region = $1")
                .bind(region)
                .fetch_one(pool)
                .await?;
            Ok(row.int("n")? > 0)
        })
    }

    /// Catalogues a flush of `node`'s log in one transaction: its files, and that every log
    /// segment up to `sealed_through` is now in files. `false`, changing nothing, when the
    /// region has a forget after `forgets_applied` (the flush may hold what it forgets).
    pub async fn record_flush(
        &self,
        region: &str,
        node: &str,
        files: &[EventFile],
        sealed_through: u64,
        forgets_applied: i64,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let sealed = i64::try_from(sealed_through).map_err(|_| StoreError::Corrupt("segment number".into()))?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            // Locks the region's forget count until the commit: a forget recorded meanwhile
            // waits, and then the deleting node's listing of the files finds these.
            let row = sqlx::query(
                "INSERT INTO region_forgets (region, through) VALUES ($1, 0) \
                 ON CONFLICT (region) DO UPDATE SET through = region_forgets.through RETURNING through",
            )
            .bind(region)
            .fetch_one(&mut *tx)
            .await?;
            if row.int("through")? > forgets_applied {
                return Ok(false);
            }
            for file in files {
                insert_file!(&mut *tx, region, file, at);
            }
            sqlx::query(
                "INSERT INTO node_flushes (region, node, sealed_through, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (region, node) DO UPDATE SET sealed_through = $3, updated_at = $4",
            )
            .bind(region)
            .bind(node)
            .bind(sealed)
            .bind(at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Records that `node` forgets `distinct_ids` of the project (a person's deletion), or
    /// the whole project when `None` (a reset), for every node of the region; returns its
    /// id, one more than the region's last.
    pub async fn record_forget(
        &self,
        region: &str,
        node: &str,
        project_id: i64,
        distinct_ids: Option<&[String]>,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let ids = distinct_ids
            .map(serde_json::to_string)
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("distinct_ids: {error}")))?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(
                "INSERT INTO region_forgets (region, through) VALUES ($1, 1) \
                 ON CONFLICT (region) DO UPDATE SET through = region_forgets.through + 1 RETURNING through",
            )
            .bind(region)
            .fetch_one(&mut *tx)
            .await?;
            let id = row.int("through")?;
            sqlx::query(
                "INSERT INTO forgets (region, id, project_id, distinct_ids, node, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(region)
            .bind(id)
            .bind(project_id)
            .bind(&ids)
            .bind(node)
            .bind(at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The region's forgets after `after`, oldest first.
    pub async fn forgets_after(&self, region: &str, after: i64) -> Result<Vec<Forget>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, project_id, distinct_ids, node FROM forgets WHERE region = $1 AND id > $2 ORDER BY id",
            )
            .bind(region)
            .bind(after)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let distinct_ids = row
                        .opt_text("distinct_ids")?
                        .map(|ids| serde_json::from_str(&ids))
                        .transpose()
                        .map_err(|error| StoreError::Corrupt(format!("forgets.distinct_ids: {error}")))?;
                    Ok(Forget {
                        id: row.int("id")?,
                        project_id: row.int("project_id")?,
                        distinct_ids,
                        node: row.text("node")?,
                    })
                })
                .collect()
        })
    }

    /// Takes (or renews) the lease `name` for `holder` until `until`; `false` while another
    /// holder's lease has not expired at `now`.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $3 \
                 WHERE leases.holder = $2 OR leases.expires_at <= $4",
            )
            .bind(name)
            .bind(holder)
            .bind(until.as_millisecond())
            .bind(now.as_millisecond())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Gives the lease `name` back, if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Swaps files for the one that replaces them (compaction, a deletion's rewrite), in one
    /// transaction; `false`, changing nothing, when one of `old` is no longer catalogued
    /// (another node replaced or removed it meanwhile: the new file must not bring back
    /// what that change took out).
    pub async fn replace_event_files(
        &self,
        region: &str,
        old: &[String],
        new: &EventFile,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            for path in old {
                let removed = sqlx::query("DELETE FROM event_files WHERE region = $1 AND path = $2")
                    .bind(region)
                    .bind(path)
                    .execute(&mut *tx)
                    .await?;
                if removed.rows_affected() == 0 {
                    return Ok(false);
                }
            }
            insert_file!(&mut *tx, region, new, at);
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Removes one file from the catalog (its events all deleted); `false` when it was no
    /// longer catalogued (another node replaced or removed it).
    pub async fn remove_event_file(&self, region: &str, path: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let removed = sqlx::query("DELETE FROM event_files WHERE region = $1 AND path = $2")
                .bind(region)
                .bind(path)
                .execute(pool)
                .await?;
            Ok(removed.rows_affected() > 0)
        })
    }

    /// Removes a project's files from the catalog; returns their paths.
    pub async fn delete_event_files(&self, region: &str, project_id: i64) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("DELETE FROM event_files WHERE region = $1 AND project_id = $2 RETURNING path")
                .bind(region)
                .bind(project_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| row.text("path")).collect()
        })
    }

    /// A project's files that may hold events in `[from_ms, to_ms)`, oldest first.
    pub async fn event_files(
        &self,
        region: &str,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<EventFile>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM event_files WHERE region = $1 AND project_id = $2 \
                 AND max_time_ms >= $3 AND min_time_ms < $4 ORDER BY day, bucket, created_at, path"
            )))
            .bind(region)
            .bind(project_id)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?;
            rows.iter().map(file_from_row).collect()
        })
    }

    /// Every file of the region (for compaction and the sweep of uncatalogued files).
    pub async fn all_event_files(&self, region: &str) -> Result<Vec<EventFile>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM event_files WHERE region = $1 ORDER BY project_id, day, bucket, created_at, path"
            )))
            .bind(region)
            .fetch_all(pool)
            .await?;
            rows.iter().map(file_from_row).collect()
        })
    }
}
