//! The store as a whole on a real SQLite catalog: flush, restart, compaction, sweep.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tally_config::DatabaseUrl;
use tally_ingest::Event;
use tally_ingest::profiles::{Operation, ProfileKey, ProfileUpdate};
use tally_types::{FakeClock, SharedClock};

use crate::{EventQuery, EventStore, StorageError, flush, parquet_file};

const DAY_MS: i64 = 86_400_000;
/// 2027-01-15T00:00:00Z.
const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;

fn event(project_id: i64, user: &str, n: i64, received_ms: i64) -> Event {
    Event {
        project_id,
        name: if n % 2 == 0 { "Played".into() } else { "Paused".into() },
        distinct_id: user.into(),
        time_ms: T0 + n * 60_000,
        insert_id: format!("id-{n}"),
        // `$os` and `mp_lib` are typed columns in the files.
        properties: json!({ "n": n, "genre": "jazz", "$os": "Linux", "mp_lib": "python" })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        received_ms,
    }
}

async fn catalog(dir: &Path) -> tally_store::Store {
    tally_store::Store::open(&DatabaseUrl::Sqlite { path: dir.join("meta.db") }, 2).await.unwrap()
}

fn clock() -> SharedClock {
    // Two days after the events, so their day is closed.
    Arc::new(FakeClock::new(jiff::Timestamp::from_millisecond(T0 + 2 * DAY_MS).unwrap()))
}

async fn open(dir: &Path, catalog: &tally_store::Store) -> EventStore {
    EventStore::open(&dir.join("region"), "eu", catalog.clone(), clock()).await.unwrap()
}

fn everything(project_id: i64) -> EventQuery {
    EventQuery { project_id, from_ms: 0, to_ms: i64::MAX, ..EventQuery::default() }
}

fn parquet_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.join("region/events")];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(root.join("region/events")).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn wal_segments(root: &Path) -> usize {
    std::fs::read_dir(root.join("region/wal")).unwrap().count()
}

#[tokio::test]
async fn a_flush_moves_events_to_catalogued_parquet_and_removes_the_log_it_covered() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path()).await;
    let store = open(dir.path(), &catalog).await;
    let first: Vec<Event> = (0..40).map(|n| event(1, &format!("u{}", n % 7), n, 10)).collect();
    store.append(first.clone()).await.unwrap();
    store.append(vec![event(2, "other", 0, 10)]).await.unwrap();
    let update = ProfileUpdate {
        project_id: 1,
        key: ProfileKey::User("u1".into()),
        operation: Operation::Set(json!({ "plan": "pro" }).as_object().cloned().unwrap_or_default()),
        time_ms: T0,
        ignore_time: false,
    };
    store.update_profiles(vec![update]).await.unwrap();
    let before = store.events(&everything(1)).await.unwrap();
    assert_eq!(before.len(), 40);
    let mut sent = first.clone();
    sent.sort_by_key(|event| event.time_ms);
    assert_eq!(before, sent, "memory reads give back every property");

    let report = store.flush().await.unwrap();
    assert_eq!(report.events, 41);
    assert!(report.files >= 2, "{report:?}");
    assert_eq!(report.removed_segments, 1, "the sealed segment is gone");
    assert_eq!(wal_segments(dir.path()), 1, "only the new, empty segment is left");
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), report.files, "{files:?}");
    assert!(files.iter().all(|file| file.ends_with(".parquet") && file.contains("/day=2027-01-15/")), "{files:?}");
    let catalogued = catalog.all_event_files("eu").await.unwrap();
    assert_eq!(catalogued.iter().map(|file| file.rows).sum::<i64>(), 41);
    // The project's frequent properties (in every event, one type each) have columns of
    // their own in its files, and are out of the JSON column.
    let project_file = catalogued.iter().find(|file| file.project_id == 1).unwrap();
    let promoted = parquet_file::columns_of(&project_file.columns, &project_file.path).unwrap();
    let names: Vec<&str> = promoted.iter().map(|promoted| promoted.name.as_str()).collect();
    assert!(names.contains(&"genre") && names.contains(&"n"), "{promoted:?}");
    let bytes = std::fs::read(dir.path().join("region/events").join(&project_file.path)).unwrap();
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(batch.column_by_name("p:s:genre").is_some() && batch.column_by_name("p:n:n").is_some());
    let json = parquet_file::column::<arrow_array::StringArray>(&batch, "properties", "t").unwrap();
    assert!(!json.value(0).contains("genre"), "{}", json.value(0));
    assert_eq!(store.events(&everything(1)).await.unwrap(), before, "same answer from the files");
    assert_eq!(store.flush().await.unwrap().sealed_through, None, "nothing new: nothing to flush");

    // Profiles are in a Parquet file the query engine reads.
    let profiles_dir = dir.path().join("region/profiles");
    let files: Vec<_> = std::fs::read_dir(&profiles_dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let context = datafusion::prelude::SessionContext::new();
    let path = files[0].display().to_string();
    context.register_parquet("profiles", &path, datafusion::prelude::ParquetReadOptions::default()).await.unwrap();
    use datafusion::prelude::{col, lit};
    let batches = context
        .table("profiles")
        .await
        .unwrap()
        .filter(col("project_id").eq(lit(1i64)).and(col("kind").eq(lit("user"))))
        .unwrap()
        .select_columns(&["id", "properties"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    assert!(table.contains("u1") && table.contains(r#"{"plan":"pro"}"#), "{table}");

    // More events after the flush, then a "crash" (no flush): the restart has files + log.
    store.append(vec![event(1, "late", 99, 20)]).await.unwrap();
    drop(store);
    let reopened = open(dir.path(), &catalog).await;
    let after = reopened.events(&everything(1)).await.unwrap();
    assert_eq!(after.len(), 41);
    assert_eq!(&after[..40], &before[..]);
    let lexicon = reopened.lexicon(1);
    assert_eq!(lexicon.events["Played"].seen.count, 20, "counted once, from the snapshot");
    assert_eq!(lexicon.events["Paused"].seen.count, 21);
    let profiles = reopened.profiles(1, None);
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].1.properties["plan"], "pro");
    assert_eq!(reopened.events(&everything(2)).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_profile_updates_end_as_the_log_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path()).await;
    let store = open(dir.path(), &catalog).await;
    let mut writers = Vec::new();
    for n in 0..64 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let update = ProfileUpdate {
                project_id: 1,
                key: ProfileKey::User("racer".into()),
                operation: Operation::Set(json!({ "last": n }).as_object().cloned().unwrap_or_default()),
                time_ms: T0,
                ignore_time: true,
            };
            store.update_profiles(vec![update]).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let live = store.profiles(1, None);
    drop(store);
    let replayed = open(dir.path(), &catalog).await.profiles(1, None);
    assert_eq!(live, replayed, "what readers saw is what the log replays");
}

#[tokio::test]
async fn compaction_merges_a_days_files_sorted_by_user_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path()).await;
    let store = open(dir.path(), &catalog).await;
    // One user, so one bucket: three flushes make three files of the same partition; the
    // second and third resend events (same key) with newer properties.
    store.append((0..10).map(|n| event(1, "ada", n, 1)).collect()).await.unwrap();
    store.flush().await.unwrap();
    let mut resent: Vec<Event> = (5..15).map(|n| event(1, "ada", n, 2)).collect();
    for event in &mut resent {
        event.properties.insert("copy".into(), json!("second"));
    }
    store.append(resent).await.unwrap();
    store.flush().await.unwrap();
    store.append(vec![event(1, "ada", 20, 3)]).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(parquet_files(dir.path()).len(), 3);

    let read = store.events(&everything(1)).await.unwrap();
    assert_eq!(read.len(), 16, "duplicates are collapsed when read, before compaction too");
    assert_eq!(read.iter().filter(|event| event.properties.get("copy").is_some()).count(), 10, "newest copy wins");

    // A reader that listed the files before the swap still reads them all: the replaced
    // files stay until it is done, then go at once.
    let held = store.events_of(1, Default::default(), &Default::default(), 0, i64::MAX).await.unwrap();
    let report = store.compact().await.unwrap();
    assert_eq!((report.partitions, report.files_in, report.rows_in, report.rows_out), (1, 3, 21, 16));
    let catalogued = catalog.all_event_files("eu").await.unwrap();
    assert_eq!(catalogued.len(), 1);
    assert!(catalogued[0].path.contains("/compact-"), "{catalogued:?}");
    assert_eq!(parquet_files(dir.path()).len(), 4, "the reader's files are kept");
    let context = datafusion::prelude::SessionContext::new();
    let rows: usize = held
        .frame(&context)
        .await
        .unwrap()
        .unwrap()
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|batch| batch.num_rows())
        .sum();
    assert_eq!(rows, read.len(), "the reader read the files it listed");
    drop(held);
    for _ in 0..200 {
        if parquet_files(dir.path()).len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(parquet_files(dir.path()), vec![catalogued[0].path.clone()], "gone once the reader left");
    assert_eq!(store.events(&everything(1)).await.unwrap(), read, "same answer after compaction");
    assert_eq!(store.compact().await.unwrap().partitions, 0);
}

#[tokio::test]
async fn files_a_crash_left_uncatalogued_are_swept_and_a_foreign_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path()).await;
    let store = open(dir.path(), &catalog).await;
    store.append(vec![event(1, "ada", 1, 1)]).await.unwrap();
    store.flush().await.unwrap();
    drop(store);
    let stray = dir.path().join("region/events/project=1/day=2027-01-15/bucket=0/flush-99.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"half a file").unwrap();
    let reopened = open(dir.path(), &catalog).await;
    assert!(!stray.exists(), "an uncatalogued file is removed on start");
    assert_eq!(reopened.events(&everything(1)).await.unwrap().len(), 1);
    drop(reopened);

    // Another metadata database (say, a fresh one by mistake): nothing is deleted.
    let other_dir = tempfile::tempdir().unwrap();
    let other = self::catalog(other_dir.path()).await;
    let error = EventStore::open(&dir.path().join("region"), "eu", other, clock()).await.unwrap_err();
    assert!(matches!(error, StorageError::Inconsistent(_)), "{error}");
    assert!(error.to_string().contains("metadata.url"), "{error}");
    assert_eq!(parquet_files(dir.path()).len(), 1, "the files are left alone");
}

#[tokio::test]
async fn a_catalog_older_than_the_data_is_refused_and_a_cut_short_first_flush_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path()).await;
    let store = open(dir.path(), &catalog).await;
    // A first flush cut short: its file is on disk, its log segment too, nothing catalogued.
    store.append(vec![event(1, "ada", 1, 1)]).await.unwrap();
    drop(store);
    let early = dir.path().join("region/events/project=1/day=2027-01-15/bucket=0");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::write(early.join(format!("flush-{:020}-0.parquet", 0)), b"written before the crash").unwrap();
    let store = open(dir.path(), &catalog).await;
    assert!(parquet_files(dir.path()).is_empty(), "swept: its events are still in the log");
    assert_eq!(store.events(&everything(1)).await.unwrap().len(), 1);

    // Two flushes, then the metadata database "restored" to before the second.
    store.flush().await.unwrap();
    store.append(vec![event(1, "ada", 2, 1)]).await.unwrap();
    store.flush().await.unwrap();
    drop(store);
    let before = parquet_files(dir.path());
    assert_eq!(before.len(), 2);
    assert!(catalog.record_flush("eu", "", &[], 0, 0, jiff::Timestamp::from_millisecond(T0).unwrap()).await.unwrap());
    let error = EventStore::open(&dir.path().join("region"), "eu", catalog.clone(), clock()).await.unwrap_err();
    assert!(error.to_string().contains("older than the event data"), "{error}");
    assert_eq!(parquet_files(dir.path()), before, "nothing swept");
}

/// The keys under `prefix` in `bucket`.
async fn keys(bucket: &dyn object_store::ObjectStore, prefix: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let prefix = object_store::path::Path::from(prefix);
    bucket.list(Some(&prefix)).map(|object| object.unwrap().location.to_string()).collect().await
}

/// A bucket nodes share (replaced files stay in it a while for other nodes' readers).
fn shared_bucket() -> Arc<dyn object_store::ObjectStore> {
    Arc::new(object_store::memory::InMemory::new())
}

/// Opens node `node`'s store under `dir/<node>`, its event files in `bucket`.
async fn open_node(
    dir: &Path,
    bucket: &Arc<dyn object_store::ObjectStore>,
    node: &str,
    catalog: &tally_store::Store,
) -> EventStore {
    let files = crate::EventFiles::Objects(Arc::clone(bucket));
    EventStore::open_with(&dir.join(node), files, node, "eu", catalog.clone(), clock()).await.unwrap()
}

#[tokio::test]
async fn a_node_sharing_a_bucket_publishes_its_state_only_once_its_files_are_catalogued() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = shared_bucket();
    let catalog = catalog(dir.path()).await;
    let node_a = open_node(dir.path(), &bucket, "a", &catalog).await;
    let node_b = open_node(dir.path(), &bucket, "b", &catalog).await;
    node_b.append(vec![event(1, "ada", 1, 1)]).await.unwrap();
    // The catalog refuses node B's flush: it already lists a file of that name.
    let bucket_of_ada = flush::bucket_of("ada");
    let taken = format!(
        "project=1/day=2027-01-15/bucket={bucket_of_ada}/{}",
        flush::file_name("flush", "b", "00000000000000000000-0")
    );
    let listed = tally_store::EventFile {
        path: taken.clone(),
        project_id: 2,
        day: "2027-01-15".into(),
        bucket: 0,
        rows: 0,
        bytes: 0,
        min_time_ms: 0,
        max_time_ms: 0,
        columns: String::new(),
    };
    let at = jiff::Timestamp::from_millisecond(T0).unwrap();
    assert!(catalog.record_flush("eu", "x", &[listed], 0, 0, at).await.unwrap());
    assert!(node_b.flush().await.is_err(), "the catalog refused it");
    assert_eq!(keys(&*bucket, "project=1").await, std::slice::from_ref(&taken), "its file is written");
    assert!(keys(&*bucket, "nodes/b").await.is_empty(), "but its state is not published before the catalog has it");
    let version = node_a.changes.version(1);
    node_a.refresh_peers().await.unwrap();
    assert_eq!(node_a.changes.version(1), version, "nothing for node A to drop a kept answer over");
    drop(node_b);
    assert!(catalog.remove_event_file("eu", &taken).await.unwrap());

    // Restarted, node B sweeps the uncatalogued file, flushes its log and then publishes;
    // node A, reading that, finds the event in the catalog.
    let node_b = open_node(dir.path(), &bucket, "b", &catalog).await;
    assert_eq!(node_b.flush().await.unwrap().events, 1);
    assert_eq!(keys(&*bucket, "nodes/b").await.len(), 2, "derived.json and profiles.parquet");
    node_a.refresh_peers().await.unwrap();
    assert_ne!(node_a.changes.version(1), version, "node A drops its kept answers");
    assert_eq!(node_a.events(&everything(1)).await.unwrap().len(), 1);

    // A node that stopped after cataloguing but before publishing publishes at its first
    // flush after it starts again, even with nothing new.
    use object_store::ObjectStoreExt;
    let derived = object_store::path::Path::from("nodes/b/derived.json");
    bucket.delete(&derived).await.unwrap();
    drop(node_b);
    let node_b = open_node(dir.path(), &bucket, "b", &catalog).await;
    assert_eq!(node_b.flush().await.unwrap().sealed_through, None, "nothing new");
    let published = bucket.head(&derived).await.expect("published again");
    assert_eq!(node_b.flush().await.unwrap().sealed_through, None);
    assert_eq!(bucket.head(&derived).await.unwrap().e_tag, published.e_tag, "then only with something new");
}

#[tokio::test]
async fn a_deletion_and_a_compaction_that_overlap_never_bring_deleted_events_back() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = shared_bucket();
    let catalog = catalog(dir.path()).await;
    let store = open_node(dir.path(), &bucket, "a", &catalog).await;
    let users = || async {
        let mut found: Vec<String> =
            store.events(&everything(1)).await.unwrap().into_iter().map(|event| event.distinct_id).collect();
        found.sort();
        found
    };
    let ada: std::collections::HashSet<String> = ["ada".to_string()].into();
    // Another user whose events share Ada's files.
    let bob = (0..).map(|n| format!("bob{n}")).find(|id| flush::bucket_of(id) == flush::bucket_of("ada")).unwrap();
    // Two small files of a closed day, each with an event of Ada's and one of Bob's.
    for n in 0..2 {
        store.append(vec![event(1, "ada", 2 * n, 1), event(1, &bob, 2 * n + 1, 1)]).await.unwrap();
        store.flush().await.unwrap();
    }

    // A deletion listed the files, then (on another node) a compaction merged them: each
    // swap of the deletion is refused; listed again, the merged file is rewritten.
    let listed = catalog.all_event_files("eu").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(store.compact().await.unwrap().partitions, 1);
    let mut report = crate::DeletionReport::default();
    assert_eq!(store.rewrite_without(&ada, listed, &mut report).await.unwrap(), 2, "both changed meanwhile");
    assert_eq!(users().await, ["ada", "ada", bob.as_str(), bob.as_str()], "nothing changed");
    let listed = catalog.all_event_files("eu").await.unwrap();
    assert_eq!(store.rewrite_without(&ada, listed, &mut report).await.unwrap(), 0);
    assert_eq!(users().await, [bob.as_str(), bob.as_str()]);

    // A compaction listed the files, then a deletion removed one: the compaction's swap is
    // refused and its merged file deleted, so Ada's event does not come back.
    store.append(vec![event(1, "ada", 10, 1)]).await.unwrap();
    store.flush().await.unwrap();
    let listed = catalog.all_event_files("eu").await.unwrap();
    assert_eq!(listed.len(), 2, "the rewritten file and the new one");
    assert_eq!(store.rewrite_without(&ada, listed.clone(), &mut report).await.unwrap(), 0);
    let merged_before = keys(&*bucket, "project=1").await.iter().filter(|key| key.contains("/compact-a_")).count();
    assert_eq!(store.compact_listed("compact:eu", listed).await.unwrap().partitions, 0, "refused");
    assert_eq!(users().await, [bob.as_str(), bob.as_str()]);
    let merged_after = keys(&*bucket, "project=1").await.iter().filter(|key| key.contains("/compact-a_")).count();
    assert_eq!(merged_after, merged_before, "the refused merge's file is deleted");
    assert_eq!(catalog.all_event_files("eu").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_deletion_or_reset_on_one_node_reaches_what_another_node_has_not_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = shared_bucket();
    let catalog = catalog(dir.path()).await;
    let open_b = || open_node(dir.path(), &bucket, "b", &catalog);
    let at = jiff::Timestamp::from_millisecond(T0).unwrap();
    let users = |events: Vec<Event>| {
        let mut found: Vec<String> = events.into_iter().map(|event| event.distinct_id).collect();
        found.sort();
        found
    };
    let node_b = open_b().await;
    node_b.append(vec![event(1, "ada", 1, 1), event(1, "bob", 2, 1)]).await.unwrap();
    // Node A deletes Ada: node B's next flush drops her unflushed event before it writes.
    catalog.record_forget("eu", "a", 1, Some(&["ada".to_string()]), at).await.unwrap();
    assert_eq!(node_b.flush().await.unwrap().events, 1);
    assert_eq!(users(node_b.events(&everything(1)).await.unwrap()), ["bob"]);
    assert_eq!(catalog.all_event_files("eu").await.unwrap().iter().map(|file| file.rows).sum::<i64>(), 1);

    // Node A resets project 2 while node B is down with events of it in its log: node B
    // forgets them as it starts, and a later event of the project survives its restarts.
    node_b.append(vec![event(2, "cy", 3, 1)]).await.unwrap();
    drop(node_b);
    catalog.record_forget("eu", "a", 2, None, at).await.unwrap();
    let node_b = open_b().await;
    assert!(node_b.events(&everything(2)).await.unwrap().is_empty());
    node_b.append(vec![event(2, "dee", 4, 1)]).await.unwrap();
    drop(node_b);
    let node_b = open_b().await;
    assert_eq!(users(node_b.events(&everything(2)).await.unwrap()), ["dee"], "the reset is not applied twice");
    node_b.flush().await.unwrap();
    drop(node_b);
    let node_b = open_b().await;
    assert_eq!(users(node_b.events(&everything(2)).await.unwrap()), ["dee"], "nor after a flush");
    assert_eq!(users(node_b.events(&everything(1)).await.unwrap()), ["bob"]);
}
