//! One Parquet file of events (zstd), written and read through `object_store`, so the same
//! code writes to a local folder or to S3. Columns: the fields every event has, typed;
//! Mixpanel's reserved string properties ([`TYPED_PROPERTIES`]) each in a column of its
//! own; the rest of the properties as one JSON column (the overflow column of engine.md
//! §3.3). Readers go through [`append_events`] so the layout can change. Encoding and decoding are
//! CPU work: callers in async code run them on the blocking pool.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use tally_ingest::Event;

/// Reserved properties (§6.6) stored as columns of their own when their value is a string
/// (any other value stays in the overflow column): filters and breakdowns on them read one
/// dictionary-encoded column instead of parsing JSON.
pub const TYPED_PROPERTIES: [&str; 20] = [
    "$browser",
    "$browser_version",
    "$city",
    "$current_url",
    "$device",
    "$device_id",
    "$initial_referrer",
    "$initial_referring_domain",
    "$lib_version",
    "$manufacturer",
    "$model",
    "$os",
    "$os_version",
    "$referrer",
    "$referring_domain",
    "$region",
    "$user_id",
    "mp_country_code",
    "mp_lib",
    "utm_source",
];

fn is_typed(name: &str, value: &Value) -> bool {
    value.is_string() && TYPED_PROPERTIES.contains(&name)
}

/// The properties that are not in typed columns, serialized as one JSON object.
struct Overflow<'a>(&'a Map<String, Value>);

impl Serialize for Overflow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.0 {
            if !is_typed(name, value) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("cannot encode events as Parquet: {0}")]
    Encode(String),
    #[error("cannot decode the Parquet file {path}: {message}")]
    Decode { path: String, message: String },
    #[error("object storage: {0}")]
    Storage(#[from] object_store::Error),
}

/// What the catalog keeps of a written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStats {
    pub rows: u64,
    pub bytes: u64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

impl FileStats {
    /// The statistics of `events` encoded as `bytes`.
    pub fn of(events: &[&Event], bytes: &[u8]) -> FileStats {
        FileStats {
            rows: events.len() as u64,
            bytes: bytes.len() as u64,
            min_time_ms: events.iter().map(|event| event.time_ms).min().unwrap_or(0),
            max_time_ms: events.iter().map(|event| event.time_ms).max().unwrap_or(0),
        }
    }
}

/// The columns of an events file (and of the events table readers query).
pub fn schema() -> Arc<Schema> {
    let mut fields = vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("distinct_id", DataType::Utf8, false),
        Field::new("time_ms", DataType::Int64, false),
        Field::new("insert_id", DataType::Utf8, false),
        Field::new("received_ms", DataType::Int64, false),
        Field::new("properties", DataType::Utf8, false),
    ];
    fields.extend(TYPED_PROPERTIES.iter().map(|name| Field::new(*name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// One project's events as one Arrow batch of [`schema`], in the order given.
pub fn to_batch(events: &[&Event]) -> Result<RecordBatch, ParquetError> {
    let strings = |pick: fn(&Event) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(events.iter().map(|event| pick(event))))
    };
    let properties = events
        .iter()
        .map(|event| serde_json::to_string(&Overflow(&event.properties)))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| ParquetError::Encode(error.to_string()))?;
    let mut columns: Vec<ArrayRef> = vec![
        strings(|event| &event.name),
        strings(|event| &event.distinct_id),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|event| event.time_ms))),
        strings(|event| &event.insert_id),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|event| event.received_ms))),
        Arc::new(StringArray::from_iter_values(properties.iter())),
    ];
    for name in TYPED_PROPERTIES {
        let values = events.iter().map(|event| event.properties.get(name).and_then(Value::as_str));
        columns.push(Arc::new(StringArray::from_iter(values)));
    }
    RecordBatch::try_new(schema(), columns).map_err(|error| ParquetError::Encode(error.to_string()))
}

/// Encodes one project's events as the bytes of one Parquet file, in the order given.
pub fn encode(events: &[&Event]) -> Result<Vec<u8>, ParquetError> {
    let fail = |error: &dyn std::fmt::Display| ParquetError::Encode(error.to_string());
    let batch = to_batch(events)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|error| fail(&error))?))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema(), Some(properties)).map_err(|error| fail(&error))?;
    writer.write(&batch).map_err(|error| fail(&error))?;
    writer.close().map_err(|error| fail(&error))?;
    Ok(bytes)
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &str) -> Result<&'a T, ParquetError> {
    batch.column_by_name(name).and_then(|column| column.as_any().downcast_ref::<T>()).ok_or_else(|| {
        ParquetError::Decode { path: path.to_string(), message: format!("column {name} is missing or of another type") }
    })
}

/// Reads the bytes of the file at `path`.
pub async fn read_bytes(store: &dyn ObjectStore, path: &Path) -> Result<Bytes, ParquetError> {
    Ok(store.get(path).await?.bytes().await?)
}

/// Reads the events of the file at `path` back, as written, for `project_id` (decoding on
/// the blocking pool).
pub async fn read_events(store: &dyn ObjectStore, path: &Path, project_id: i64) -> Result<Vec<Event>, ParquetError> {
    let bytes = read_bytes(store, path).await?;
    let name = path.to_string();
    let failed =
        |error: tokio::task::JoinError| ParquetError::Decode { path: path.to_string(), message: error.to_string() };
    tokio::task::spawn_blocking(move || decode(bytes, &name, project_id)).await.map_err(failed)?
}

/// Decodes the bytes of the Parquet file `path` (named in errors) into events of `project_id`.
pub fn decode(bytes: Bytes, path: &str, project_id: i64) -> Result<Vec<Event>, ParquetError> {
    let decode = |message: String| ParquetError::Decode { path: path.to_string(), message };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|error| decode(error.to_string()))?;
    let mut events = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|error| decode(error.to_string()))?;
        append_events(&batch, path, project_id, &mut events)?;
    }
    Ok(events)
}

/// Appends the rows of a batch of [`schema`] (from `path`, named in errors) to `events`.
pub fn append_events(
    batch: &RecordBatch,
    path: &str,
    project_id: i64,
    events: &mut Vec<Event>,
) -> Result<(), ParquetError> {
    let name = column::<StringArray>(batch, "name", path)?;
    let distinct_id = column::<StringArray>(batch, "distinct_id", path)?;
    let time_ms = column::<Int64Array>(batch, "time_ms", path)?;
    let insert_id = column::<StringArray>(batch, "insert_id", path)?;
    let received_ms = column::<Int64Array>(batch, "received_ms", path)?;
    let properties = column::<StringArray>(batch, "properties", path)?;
    // A file written before a column was added reads as if the column were empty.
    let typed: Vec<(&str, &StringArray)> = TYPED_PROPERTIES
        .iter()
        .filter_map(|name| {
            batch.column_by_name(name)?.as_any().downcast_ref::<StringArray>().map(|array| (*name, array))
        })
        .collect();
    events.reserve(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut parsed: Map<String, Value> = serde_json::from_str(properties.value(row))
            .map_err(|error| ParquetError::Decode { path: path.to_string(), message: error.to_string() })?;
        for (name, array) in &typed {
            if array.is_valid(row) {
                parsed.insert((*name).to_string(), Value::String(array.value(row).to_string()));
            }
        }
        events.push(Event {
            project_id,
            name: name.value(row).to_string(),
            distinct_id: distinct_id.value(row).to_string(),
            time_ms: time_ms.value(row),
            insert_id: insert_id.value(row).to_string(),
            properties: parsed,
            received_ms: received_ms.value(row),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::local::LocalFileSystem;
    use serde_json::json;

    use super::*;

    fn event(n: i64) -> Event {
        Event {
            project_id: 9,
            name: if n % 2 == 0 { "Played".into() } else { "Paused".into() },
            distinct_id: format!("user-{}", n % 3),
            time_ms: 1_800_000_000_000 + n * 1000,
            insert_id: format!("id-{n}"),
            properties: json!({ "genre": "jazz", "n": n, "tags": ["a", n], "nested": { "k": n % 2 == 0 },
                "$os": if n % 3 == 0 { json!("Linux") } else { json!(null) }, "$city": "Oslo", "$browser": n })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            received_ms: 1_800_000_500_000 + n,
        }
    }

    #[tokio::test]
    async fn events_round_trip_through_a_zstd_parquet_file_on_the_local_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let events: Vec<Event> = (0..1000).map(event).collect();
        let path = Path::from("project=9/day=2027-01-15/part-1.parquet");
        let refs: Vec<&Event> = events.iter().collect();
        let bytes = encode(&refs).unwrap();
        let stats = FileStats::of(&refs, &bytes);
        store.put(&path, bytes.into()).await.unwrap();
        assert_eq!(stats.rows, 1000);
        assert_eq!((stats.min_time_ms, stats.max_time_ms), (1_800_000_000_000, 1_800_000_999_000));
        let on_disk = dir.path().join("project=9/day=2027-01-15/part-1.parquet");
        assert_eq!(std::fs::metadata(&on_disk).unwrap().len(), stats.bytes);

        let read = read_events(&store, &path, 9).await.unwrap();
        assert_eq!(read, events);

        // Reserved string properties are columns of their own, not in the JSON column;
        // a reserved name with another kind of value stays in the JSON.
        let bytes = std::fs::read(&on_disk).unwrap();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        let city = column::<StringArray>(&batches[0], "$city", "t").unwrap();
        assert_eq!(city.value(0), "Oslo");
        let os = column::<StringArray>(&batches[0], "$os", "t").unwrap();
        assert!(os.is_valid(0) && os.is_null(1), "null stays JSON");
        let overflow = column::<StringArray>(&batches[0], "properties", "t").unwrap().value(1);
        assert!(
            !overflow.contains("Oslo") && overflow.contains("\"$browser\":1") && overflow.contains("\"$os\":null"),
            "{overflow}"
        );

        let file = std::fs::File::open(&on_disk).unwrap();
        let metadata = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let column = parquet::file::reader::FileReader::metadata(&metadata).row_group(0).column(0).compression();
        assert!(matches!(column, Compression::ZSTD(_)), "{column:?}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let path = Path::from("broken.parquet");
        store.put(&path, b"not parquet".to_vec().into()).await.unwrap();
        let error = read_events(&store, &path, 1).await.unwrap_err().to_string();
        assert!(error.contains("broken.parquet"), "{error}");
    }
}
