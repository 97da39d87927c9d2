//! One Parquet file of events (zstd), written and read through `object_store`, so the same
//! code writes to a local folder or to S3. Columns: the fields every event has, typed;
//! Mixpanel's reserved string properties ([`TYPED_PROPERTIES`]) each in a column of its
//! own; the rest of the properties as one JSON column (the overflow column of engine.md
//! §3.3). Readers go through [`append_events`] so the layout can change. Encoding and decoding are
//! CPU work: callers in async code run them on the blocking pool.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use tally_ingest::Event;
use tally_ingest::profiles::{Profile, ProfileKey};

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
    value.is_string() && typed_index(name).is_some()
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
    /// The statistics of a batch of [`schema`] encoded as `bytes`.
    pub fn of_batch(batch: &RecordBatch, bytes: &[u8]) -> Result<FileStats, ParquetError> {
        let times = column::<Int64Array>(batch, "time_ms", "batch")?;
        Ok(FileStats {
            rows: batch.num_rows() as u64,
            bytes: bytes.len() as u64,
            min_time_ms: times.values().iter().copied().min().unwrap_or(0),
            max_time_ms: times.values().iter().copied().max().unwrap_or(0),
        })
    }
}

/// The columns of an events file (and of the events table readers query).
pub fn schema() -> Arc<Schema> {
    static SCHEMA: std::sync::LazyLock<Arc<Schema>> = std::sync::LazyLock::new(build_schema);
    Arc::clone(&SCHEMA)
}

fn build_schema() -> Arc<Schema> {
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

/// The kind of a promoted property's column: the one JSON type the project sent it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Number,
    Flag,
}

/// A custom property a file keeps in a typed column of its own (`p:<kind>:<name>`) instead
/// of the JSON column: a project's frequent properties (engine.md §3.3). A value of another
/// type stays in the JSON column, so the property is the column's value, else the JSON's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Promoted {
    pub name: String,
    pub kind: Kind,
}

/// The prefix of promoted columns' names.
pub const PROMOTED_PREFIX: &str = "p:";

impl Promoted {
    pub fn column(&self) -> String {
        let kind = match self.kind {
            Kind::Text => "s",
            Kind::Number => "n",
            Kind::Flag => "b",
        };
        format!("{PROMOTED_PREFIX}{kind}:{}", self.name)
    }

    /// The promoted property a column name stands for.
    pub fn of_column(column: &str) -> Option<Promoted> {
        let rest = column.strip_prefix(PROMOTED_PREFIX)?;
        let (kind, name) = rest.split_once(':')?;
        let kind = match kind {
            "s" => Kind::Text,
            "n" => Kind::Number,
            "b" => Kind::Flag,
            _ => return None,
        };
        Some(Promoted { name: name.to_string(), kind })
    }

    pub fn data_type(&self) -> DataType {
        match self.kind {
            Kind::Text => DataType::Utf8,
            Kind::Number => DataType::Float64,
            Kind::Flag => DataType::Boolean,
        }
    }

    /// Whether the column can hold `value` and give it back unchanged: text, a boolean, or
    /// a number the column's float keeps exactly (and reads back as the same number text).
    pub fn fits(&self, value: &Value) -> bool {
        match (self.kind, value) {
            (Kind::Text, Value::String(_)) | (Kind::Flag, Value::Bool(_)) => true,
            (Kind::Number, Value::Number(number)) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(whole), _, _) => whole.unsigned_abs() < WHOLE_LIMIT,
                (None, Some(whole), _) => whole < WHOLE_LIMIT,
                (None, None, Some(value)) => value.is_finite(),
                _ => false,
            },
            _ => false,
        }
    }
}

/// Whole numbers below this read back from a float column as the same whole number.
const WHOLE_LIMIT: u64 = 9_000_000_000_000_000;

/// The value a promoted column holds at `row` (`None` when null), as the JSON value sent.
pub fn promoted_value(array: &dyn Array, row: usize) -> Option<Value> {
    use arrow_array::{BooleanArray, Float64Array};
    if array.is_null(row) {
        return None;
    }
    if let Some(text) = array.as_any().downcast_ref::<StringArray>() {
        return Some(Value::String(text.value(row).to_string()));
    }
    if let Some(text) = array.as_any().downcast_ref::<arrow_array::StringViewArray>() {
        return Some(Value::String(text.value(row).to_string()));
    }
    if let Some(flags) = array.as_any().downcast_ref::<BooleanArray>() {
        return Some(Value::Bool(flags.value(row)));
    }
    let number = array.as_any().downcast_ref::<Float64Array>()?.value(row);
    if number.fract() == 0.0 && number.abs() < WHOLE_LIMIT as f64 {
        Some(Value::from(number as i64))
    } else {
        serde_json::Number::from_f64(number).map(Value::Number)
    }
}

/// A file's promoted columns as the catalog keeps them (empty text for none).
pub fn columns_text(promoted: &[Promoted]) -> String {
    if promoted.is_empty() { String::new() } else { serde_json::to_string(promoted).unwrap_or_default() }
}

/// The promoted columns the catalog lists for a file (`path`, named in errors).
pub fn columns_of(text: &str, path: &str) -> Result<Vec<Promoted>, ParquetError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|error| ParquetError::Decode {
        path: path.to_string(),
        message: format!("the catalog's list of its promoted columns is unreadable: {error}"),
    })
}

/// The union of the promoted columns of catalogued files, sorted.
pub fn union_of(files: &[tally_store::EventFile]) -> Result<Vec<Promoted>, ParquetError> {
    let mut union = std::collections::BTreeSet::new();
    for file in files {
        union.extend(columns_of(&file.columns, &file.path)?);
    }
    Ok(union.into_iter().collect())
}

/// `batch` with the columns of `schema` it lacks, all null (events in memory, read beside
/// files with promoted columns).
pub fn widen(batch: &RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch, ParquetError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(array) => Arc::clone(array),
            None => arrow_array::new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|error| ParquetError::Encode(error.to_string()))
}

/// The file layout with promoted columns (sorted, so every reader orders them alike).
pub fn schema_with(promoted: &[Promoted]) -> Arc<Schema> {
    if promoted.is_empty() {
        return schema();
    }
    let mut sorted = promoted.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut fields: Vec<Field> = schema().fields().iter().map(|field| field.as_ref().clone()).collect();
    fields.extend(sorted.iter().map(|promoted| Field::new(promoted.column(), promoted.data_type(), true)));
    Arc::new(Schema::new(fields))
}

/// The promoted columns of a schema.
pub fn promoted_of(schema: &Schema) -> Vec<Promoted> {
    schema.fields().iter().filter_map(|field| Promoted::of_column(field.name())).collect()
}

/// `batch` (the file layout, with any promoted columns) in the layout of `promoted`: each
/// promoted property's values that fit its column move there out of the JSON column, and
/// the values of promoted columns not in `promoted` move back into the JSON column.
pub fn promote(batch: &RecordBatch, promoted: &[Promoted]) -> Result<RecordBatch, ParquetError> {
    let target = schema_with(promoted);
    let wanted = promoted_of(&target);
    let present = promoted_of(batch.schema().as_ref());
    if present == wanted && wanted.is_empty() {
        return Ok(batch.clone());
    }
    let properties = column::<StringArray>(batch, "properties", "batch")?;
    // The promoted columns the batch has: their values go to the same column, or back to JSON.
    let sources: Vec<(Promoted, &ArrayRef)> = present
        .iter()
        .filter_map(|promoted| batch.column_by_name(&promoted.column()).map(|array| (promoted.clone(), array)))
        .collect();
    // The quoted names a row's JSON must hold for it to be parsed at all.
    let keys: Vec<String> =
        wanted.iter().map(|promoted| serde_json::to_string(&promoted.name).unwrap_or_default()).collect();
    let mut json = StringBuilder::new();
    let mut builders: Vec<PromotedBuilder> =
        wanted.iter().map(|promoted| PromotedBuilder::new(promoted.kind)).collect();
    let decode = |message: String| ParquetError::Decode { path: "batch".into(), message };
    for row in 0..batch.num_rows() {
        let text = properties.value(row);
        let mut values: Vec<Option<Value>> = vec![None; wanted.len()];
        let mut back: Vec<(String, Value)> = Vec::new();
        for (promoted, array) in &sources {
            let Some(value) = promoted_value(array.as_ref(), row) else { continue };
            match wanted.iter().position(|want| want == promoted) {
                Some(index) => values[index] = Some(value),
                None => back.push((promoted.name.clone(), value)),
            }
        }
        let in_json = keys.iter().any(|key| text.contains(key.as_str()));
        if in_json || !back.is_empty() {
            let mut map: Map<String, Value> = serde_json::from_str(text).map_err(|error| decode(error.to_string()))?;
            for (index, promoted) in wanted.iter().enumerate() {
                if values[index].is_none() && map.get(&promoted.name).is_some_and(|value| promoted.fits(value)) {
                    values[index] = map.remove(&promoted.name);
                }
            }
            for (name, value) in back {
                map.entry(name).or_insert(value);
            }
            json.append_value(serde_json::to_string(&map).map_err(|error| decode(error.to_string()))?);
        } else {
            json.append_value(text);
        }
        for (builder, value) in builders.iter_mut().zip(values) {
            builder.append(value);
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in schema().fields() {
        if field.name() == "properties" {
            columns.push(Arc::new(json.finish()));
        } else {
            let array =
                batch.column_by_name(field.name()).ok_or_else(|| decode(format!("no column {}", field.name())))?;
            columns.push(Arc::clone(array));
        }
    }
    columns.extend(builders.iter_mut().map(PromotedBuilder::finish));
    RecordBatch::try_new(target, columns).map_err(|error| ParquetError::Encode(error.to_string()))
}

/// A promoted column being built, of its kind.
enum PromotedBuilder {
    Text(StringBuilder),
    Number(arrow_array::builder::Float64Builder),
    Flag(arrow_array::builder::BooleanBuilder),
}

impl PromotedBuilder {
    fn new(kind: Kind) -> PromotedBuilder {
        match kind {
            Kind::Text => PromotedBuilder::Text(StringBuilder::new()),
            Kind::Number => PromotedBuilder::Number(arrow_array::builder::Float64Builder::new()),
            Kind::Flag => PromotedBuilder::Flag(arrow_array::builder::BooleanBuilder::new()),
        }
    }

    /// Appends a value that fits the column ([`Promoted::fits`]), or null.
    fn append(&mut self, value: Option<Value>) {
        match (self, value) {
            (PromotedBuilder::Text(builder), Some(Value::String(text))) => builder.append_value(text),
            (PromotedBuilder::Number(builder), Some(Value::Number(number))) => builder.append_option(number.as_f64()),
            (PromotedBuilder::Flag(builder), Some(Value::Bool(flag))) => builder.append_value(flag),
            (PromotedBuilder::Text(builder), _) => builder.append_null(),
            (PromotedBuilder::Number(builder), _) => builder.append_null(),
            (PromotedBuilder::Flag(builder), _) => builder.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            PromotedBuilder::Text(builder) => Arc::new(builder.finish()),
            PromotedBuilder::Number(builder) => Arc::new(builder.finish()),
            PromotedBuilder::Flag(builder) => Arc::new(builder.finish()),
        }
    }
}

/// One event made ready for [`Builders`] outside any lock: its overflow JSON and its
/// reserved string properties, found in one pass over its properties.
pub struct Prepared<'a> {
    event: &'a Event,
    overflow: String,
    typed: [Option<&'a str>; TYPED_PROPERTIES.len()],
}

impl Prepared<'_> {
    pub fn event(&self) -> &Event {
        self.event
    }
}

/// Prepares an event for [`Builders::append`].
pub fn prepare(event: &Event) -> Result<Prepared<'_>, ParquetError> {
    let mut typed = [None; TYPED_PROPERTIES.len()];
    for (name, value) in &event.properties {
        if let (Some(text), Some(index)) = (value.as_str(), typed_index(name)) {
            typed[index] = Some(text);
        }
    }
    let overflow =
        serde_json::to_string(&Overflow(&event.properties)).map_err(|error| ParquetError::Encode(error.to_string()))?;
    Ok(Prepared { event, overflow, typed })
}

/// Arrow builders of the file layout ([`schema`]): events are appended row by row and
/// finished into batches.
pub struct Builders {
    name: StringBuilder,
    distinct_id: StringBuilder,
    time_ms: Int64Builder,
    insert_id: StringBuilder,
    received_ms: Int64Builder,
    properties: StringBuilder,
    typed: Vec<StringBuilder>,
    rows: usize,
}

impl Default for Builders {
    fn default() -> Self {
        Builders {
            name: StringBuilder::new(),
            distinct_id: StringBuilder::new(),
            time_ms: Int64Builder::new(),
            insert_id: StringBuilder::new(),
            received_ms: Int64Builder::new(),
            properties: StringBuilder::new(),
            typed: TYPED_PROPERTIES.iter().map(|_| StringBuilder::new()).collect(),
            rows: 0,
        }
    }
}

impl std::fmt::Debug for Builders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builders").field("rows", &self.rows).finish()
    }
}

impl Builders {
    pub fn append(&mut self, prepared: &Prepared<'_>) {
        let event = prepared.event;
        self.name.append_value(&event.name);
        self.distinct_id.append_value(&event.distinct_id);
        self.time_ms.append_value(event.time_ms);
        self.insert_id.append_value(&event.insert_id);
        self.received_ms.append_value(event.received_ms);
        self.properties.append_value(&prepared.overflow);
        for (builder, value) in self.typed.iter_mut().zip(prepared.typed.iter()) {
            builder.append_option(*value);
        }
        self.rows += 1;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn batch(columns: Vec<ArrayRef>) -> Result<RecordBatch, ParquetError> {
        RecordBatch::try_new(schema(), columns).map_err(|error| ParquetError::Encode(error.to_string()))
    }

    /// The rows so far as a batch; the builders start empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        self.rows = 0;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.name.finish()),
            Arc::new(self.distinct_id.finish()),
            Arc::new(self.time_ms.finish()),
            Arc::new(self.insert_id.finish()),
            Arc::new(self.received_ms.finish()),
            Arc::new(self.properties.finish()),
        ];
        columns.extend(self.typed.iter_mut().map(|builder| Arc::new(builder.finish()) as ArrayRef));
        Self::batch(columns)
    }

    /// The rows so far as a batch, leaving the builders as they are (for readers).
    pub fn finish_cloned(&self) -> Result<RecordBatch, ParquetError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.name.finish_cloned()),
            Arc::new(self.distinct_id.finish_cloned()),
            Arc::new(self.time_ms.finish_cloned()),
            Arc::new(self.insert_id.finish_cloned()),
            Arc::new(self.received_ms.finish_cloned()),
            Arc::new(self.properties.finish_cloned()),
        ];
        columns.extend(self.typed.iter().map(|builder| Arc::new(builder.finish_cloned()) as ArrayRef));
        Self::batch(columns)
    }
}

/// One project's events as one Arrow batch of [`schema`], in the order given.
#[cfg(test)]
pub fn to_batch(events: &[&Event]) -> Result<RecordBatch, ParquetError> {
    let mut builders = Builders::default();
    for event in events {
        builders.append(&prepare(event)?);
    }
    builders.finish()
}

/// The column index of a reserved property kept typed (the list is sorted).
fn typed_index(name: &str) -> Option<usize> {
    TYPED_PROPERTIES.binary_search(&name).ok()
}

/// Encodes a batch (of [`schema`], or of profiles) as the bytes of one Parquet file.
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, ParquetError> {
    let fail = |error: &dyn std::fmt::Display| ParquetError::Encode(error.to_string());
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|error| fail(&error))?))
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).map_err(|error| fail(&error))?;
    writer.write(batch).map_err(|error| fail(&error))?;
    writer.close().map_err(|error| fail(&error))?;
    Ok(bytes)
}

pub(crate) fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &str) -> Result<&'a T, ParquetError> {
    batch.column_by_name(name).and_then(|column| column.as_any().downcast_ref::<T>()).ok_or_else(|| {
        ParquetError::Decode { path: path.to_string(), message: format!("column {name} is missing or of another type") }
    })
}

/// The columns of a profiles file: user profiles (`kind` `user`) and group profiles
/// (`group`, with their `group_key`), properties as one JSON column.
pub fn profile_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("project_id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("group_key", DataType::Utf8, true),
        Field::new("id", DataType::Utf8, false),
        Field::new("properties", DataType::Utf8, false),
        Field::new("last_seen_ms", DataType::Int64, true),
    ]))
}

/// Encodes profiles as the bytes of one Parquet file (zstd).
pub fn encode_profiles(profiles: &[(i64, ProfileKey, Profile)]) -> Result<Vec<u8>, ParquetError> {
    let fail = |error: &dyn std::fmt::Display| ParquetError::Encode(error.to_string());
    let properties = profiles
        .iter()
        .map(|(_, _, profile)| serde_json::to_string(&profile.properties))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| fail(&error))?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(profiles.iter().map(|(project, _, _)| *project))),
        Arc::new(StringArray::from_iter_values(profiles.iter().map(|(_, key, _)| match key {
            ProfileKey::User(_) => "user",
            ProfileKey::Group { .. } => "group",
        }))),
        Arc::new(StringArray::from_iter(profiles.iter().map(|(_, key, _)| match key {
            ProfileKey::User(_) => None,
            ProfileKey::Group { key, .. } => Some(key.as_str()),
        }))),
        Arc::new(StringArray::from_iter_values(profiles.iter().map(|(_, key, _)| match key {
            ProfileKey::User(id) | ProfileKey::Group { id, .. } => id.as_str(),
        }))),
        Arc::new(StringArray::from_iter_values(properties.iter())),
        Arc::new(Int64Array::from_iter(profiles.iter().map(|(_, _, profile)| profile.last_seen_ms))),
    ];
    let batch = RecordBatch::try_new(profile_schema(), columns).map_err(|error| fail(&error))?;
    encode_batch(&batch)
}

/// Decodes a profiles file (named `path` in errors).
pub fn decode_profiles(bytes: Bytes, path: &str) -> Result<Vec<(i64, ProfileKey, Profile)>, ParquetError> {
    let decode = |message: String| ParquetError::Decode { path: path.to_string(), message };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|error| decode(error.to_string()))?;
    let mut profiles = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|error| decode(error.to_string()))?;
        let project = column::<Int64Array>(&batch, "project_id", path)?;
        let kind = column::<StringArray>(&batch, "kind", path)?;
        let group_key = column::<StringArray>(&batch, "group_key", path)?;
        let id = column::<StringArray>(&batch, "id", path)?;
        let properties = column::<StringArray>(&batch, "properties", path)?;
        let last_seen = column::<Int64Array>(&batch, "last_seen_ms", path)?;
        for row in 0..batch.num_rows() {
            let key = match kind.value(row) {
                "user" => ProfileKey::User(id.value(row).to_string()),
                _ => ProfileKey::Group { key: group_key.value(row).to_string(), id: id.value(row).to_string() },
            };
            let profile = Profile {
                properties: serde_json::from_str(properties.value(row)).map_err(|error| decode(error.to_string()))?,
                last_seen_ms: last_seen.is_valid(row).then(|| last_seen.value(row)),
            };
            profiles.push((project.value(row), key, profile));
        }
    }
    Ok(profiles)
}

/// Appends the rows of a batch of [`schema`] (from `path`, named in errors) to `events`.
/// The UTC days (as day numbers since the epoch) that events in `batches` fall on, within
/// `[from_ms, to_ms)`.
pub fn days_of(batches: &[RecordBatch], from_ms: i64, to_ms: i64) -> std::collections::BTreeSet<i64> {
    let mut days = std::collections::BTreeSet::new();
    for batch in batches {
        let Some(times) =
            batch.column_by_name("time_ms").and_then(|column| column.as_any().downcast_ref::<Int64Array>())
        else {
            continue;
        };
        for time in times.iter().flatten() {
            if time >= from_ms && time < to_ms {
                days.insert(time.div_euclid(crate::DAY_MS));
            }
        }
    }
    days
}

/// A batch of the file layout ([`schema`], with any promoted columns) read row by row,
/// without making events: each row's properties are its JSON column with the typed and
/// promoted columns' values put back.
pub struct LayoutRows<'a> {
    path: &'a str,
    name: &'a StringArray,
    distinct_id: &'a StringArray,
    time_ms: &'a Int64Array,
    insert_id: &'a StringArray,
    received_ms: &'a Int64Array,
    properties: &'a StringArray,
    typed: Vec<(&'static str, &'a StringArray)>,
    promoted: Vec<(String, &'a ArrayRef)>,
}

impl<'a> LayoutRows<'a> {
    /// `path` names the batch in errors.
    pub fn new(batch: &'a RecordBatch, path: &'a str) -> Result<LayoutRows<'a>, ParquetError> {
        // A file written before a column was added reads as if the column were empty.
        let typed = TYPED_PROPERTIES
            .iter()
            .filter_map(|name| {
                batch.column_by_name(name)?.as_any().downcast_ref::<StringArray>().map(|array| (*name, array))
            })
            .collect();
        let promoted = promoted_of(batch.schema().as_ref())
            .into_iter()
            .filter_map(|promoted| batch.column_by_name(&promoted.column()).map(|array| (promoted.name, array)))
            .collect();
        Ok(LayoutRows {
            path,
            name: column::<StringArray>(batch, "name", path)?,
            distinct_id: column::<StringArray>(batch, "distinct_id", path)?,
            time_ms: column::<Int64Array>(batch, "time_ms", path)?,
            insert_id: column::<StringArray>(batch, "insert_id", path)?,
            received_ms: column::<Int64Array>(batch, "received_ms", path)?,
            properties: column::<StringArray>(batch, "properties", path)?,
            typed,
            promoted,
        })
    }

    pub fn len(&self) -> usize {
        self.name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }

    /// Row `row`'s properties, every one of them.
    pub fn properties(&self, row: usize) -> Result<Map<String, Value>, ParquetError> {
        let mut parsed: Map<String, Value> = serde_json::from_str(self.properties.value(row))
            .map_err(|error| ParquetError::Decode { path: self.path.to_string(), message: error.to_string() })?;
        for (name, array) in &self.typed {
            if array.is_valid(row) {
                parsed.insert((*name).to_string(), Value::String(array.value(row).to_string()));
            }
        }
        for (name, array) in &self.promoted {
            if let Some(value) = promoted_value(array.as_ref(), row) {
                parsed.insert(name.clone(), value);
            }
        }
        Ok(parsed)
    }

    /// Row `row` as an event of `project_id`.
    pub fn event(&self, row: usize, project_id: i64) -> Result<Event, ParquetError> {
        Ok(Event {
            project_id,
            name: self.name.value(row).to_string(),
            distinct_id: self.distinct_id.value(row).to_string(),
            time_ms: self.time_ms.value(row),
            insert_id: self.insert_id.value(row).to_string(),
            properties: self.properties(row)?,
            received_ms: self.received_ms.value(row),
        })
    }

    /// Row `row` in the raw export's form ([`tally_ingest::event::export_json`]).
    pub fn exported(&self, row: usize, time_in_ms: bool) -> Result<Value, ParquetError> {
        Ok(tally_ingest::event::export_json(
            tally_ingest::event::Exported {
                name: self.name.value(row),
                distinct_id: self.distinct_id.value(row),
                time_ms: self.time_ms.value(row),
                insert_id: self.insert_id.value(row),
                received_ms: self.received_ms.value(row),
            },
            self.properties(row)?,
            time_in_ms,
        ))
    }
}

/// The rows of `batch` (the file layout) as events of `project_id`, appended to `events`.
pub fn append_events(
    batch: &RecordBatch,
    path: &str,
    project_id: i64,
    events: &mut Vec<Event>,
) -> Result<(), ParquetError> {
    let rows = LayoutRows::new(batch, path)?;
    events.reserve(rows.len());
    for row in 0..rows.len() {
        events.push(rows.event(row, project_id)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::local::LocalFileSystem;
    use serde_json::json;

    use super::*;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt};

    /// Reads the bytes of the file at `path`.
    async fn read_bytes(store: &dyn ObjectStore, path: &Path) -> Result<Bytes, ParquetError> {
        Ok(store.get(path).await?.bytes().await?)
    }

    /// Decodes the bytes of the Parquet file `path` (named in errors) into events of `project_id`.
    fn decode(bytes: Bytes, path: &str, project_id: i64) -> Result<Vec<Event>, ParquetError> {
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
        let batch = to_batch(&refs).unwrap();
        let bytes = encode_batch(&batch).unwrap();
        let stats = FileStats::of_batch(&batch, &bytes).unwrap();
        store.put(&path, bytes.into()).await.unwrap();
        assert_eq!(stats.rows, 1000);
        assert_eq!((stats.min_time_ms, stats.max_time_ms), (1_800_000_000_000, 1_800_000_999_000));
        let on_disk = dir.path().join("project=9/day=2027-01-15/part-1.parquet");
        assert_eq!(std::fs::metadata(&on_disk).unwrap().len(), stats.bytes);

        let read = decode(read_bytes(&store, &path).await.unwrap(), path.as_ref(), 9).unwrap();
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

    #[test]
    fn promoted_properties_move_into_columns_and_back_unchanged() {
        let promoted = [
            Promoted { name: "plan".into(), kind: Kind::Text },
            Promoted { name: "n".into(), kind: Kind::Number },
            Promoted { name: "vip".into(), kind: Kind::Flag },
        ];
        let events: Vec<Event> = (0..6)
            .map(|n| {
                let mut event = event(n);
                event.properties.insert("plan".into(), if n == 3 { json!(7) } else { json!(format!("p{n}")) });
                event.properties.insert("vip".into(), json!(n % 2 == 0));
                if n == 4 {
                    event.properties.insert("n".into(), json!(2.5));
                }
                if n == 5 {
                    event.properties.insert("n".into(), json!(u64::MAX));
                    event.properties.remove("vip");
                }
                event
            })
            .collect();
        let refs: Vec<&Event> = events.iter().collect();
        let batch = promote(&to_batch(&refs).unwrap(), &promoted).unwrap();
        assert_eq!(promoted_of(batch.schema().as_ref()).len(), 3);
        let plan = column::<StringArray>(&batch, "p:s:plan", "t").unwrap();
        assert_eq!((plan.value(0), plan.is_null(3)), ("p0", true), "a number stays in the JSON");
        let json = column::<StringArray>(&batch, "properties", "t").unwrap();
        assert!(!json.value(0).contains("\"plan\"") && json.value(3).contains("\"plan\":7"), "{}", json.value(3));
        assert!(
            json.value(5).contains("18446744073709551615"),
            "a number a float cannot keep stays: {}",
            json.value(5)
        );
        let bytes = encode_batch(&batch).unwrap();
        let read = decode(Bytes::from(bytes), "t", 9).unwrap();
        assert_eq!(read, events, "the file gives back every event as sent");
        // Columns no longer promoted go back into the JSON column.
        let back = promote(&batch, &promoted[..1]).unwrap();
        assert_eq!(promoted_of(back.schema().as_ref()), promoted[..1]);
        let mut again = Vec::new();
        append_events(&back, "t", 9, &mut again).unwrap();
        assert_eq!(again, events);
        let none = promote(&batch, &[]).unwrap();
        assert_eq!(none.schema(), schema());
    }

    #[test]
    fn the_typed_list_is_sorted_for_binary_search() {
        assert!(TYPED_PROPERTIES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[tokio::test]
    async fn a_file_that_is_not_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let path = Path::from("broken.parquet");
        store.put(&path, b"not parquet".to_vec().into()).await.unwrap();
        let bytes = read_bytes(&store, &path).await.unwrap();
        let error = decode(bytes, path.as_ref(), 1).unwrap_err().to_string();
        assert!(error.contains("broken.parquet"), "{error}");
    }
}
