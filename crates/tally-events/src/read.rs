//! What the query engine reads of one project: its catalogued files (pruned by time), its
//! events still in memory, and its identity map, taken together at one moment and kept
//! readable (a [`ReadLease`](crate::readers::ReadLease)) until dropped. [`ProjectEvents::frame`]
//! presents them as one DataFusion table in the file layout, one copy per deduplication key
//! and every `distinct_id` replaced by its user's canonical id — no per-event Rust objects
//! on the way.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use tally_iam::authz::DataScope;
use tally_types::permissions::ProjectMarker;

use crate::{EventQuery, EventStore, StorageError, parquet_file, readers, scan};

/// The column of [`ProjectEvents::with_profiles`] holding the user's profile properties.
pub const USER_PROPERTIES: &str = "user_properties";
/// The column of [`ProjectEvents::profile_table`] holding the user's canonical id.
pub const PROFILE_USER: &str = "profile_user";

/// A property of a project's user profiles ([`EventStore::profile_properties_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProperty {
    pub name: String,
    /// The JSON types seen: `string`, `number`, `boolean`, `list`, `object`, `null`.
    pub types: std::collections::BTreeSet<&'static str>,
    /// How many profiles hold it.
    pub profiles: u64,
}

/// A catalogued file's path and its UTC day (days since the epoch).
type DayFile = (i64, String);

/// One project's events as of the moment they were taken.
pub struct ProjectEvents {
    project_id: i64,
    region: String,
    files_store: Arc<dyn object_store::ObjectStore>,
    /// Files that may hold copies of one event (with each other, or with memory), each with
    /// its UTC day (days since the epoch; files are partitioned by day).
    paths: Vec<DayFile>,
    /// Compacted files alone in their partition, on a day memory has no events of: each
    /// holds one copy of each of its events and no other file or batch has any of them, so
    /// they are read without the deduplicating window.
    clean: Vec<DayFile>,
    /// The promoted columns of the files (their union): every read presents them all.
    promoted: Vec<parquet_file::Promoted>,
    memory: Vec<RecordBatch>,
    identities: Arc<HashMap<String, String>>,
    /// Every project's profiles (read only for this one's, and only when a report asks),
    /// and the other nodes'.
    profiles: Arc<std::sync::RwLock<crate::Profiles>>,
    peers: Arc<std::sync::RwLock<crate::peers::Peers>>,
    /// The project's event names (its lexicon) when the events were taken.
    names: Vec<String>,
    from_ms: i64,
    to_ms: i64,
    /// What of the project the scope shows.
    restriction: crate::visibility::Restriction,
    /// The Lexicon's merges, applied to what queries read.
    merges: tally_iam::authz::Merges,
    _lease: readers::ReadLease,
}

impl std::fmt::Debug for ProjectEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectEvents")
            .field("project_id", &self.project_id)
            .field("files", &self.paths.len())
            .field("clean_files", &self.clean.len())
            .field("memory_batches", &self.memory.len())
            .finish()
    }
}

impl EventStore {
    /// The project's events between `from_ms` (inclusive) and `to_ms` (exclusive), for the
    /// query engine. The scope proves the caller was authorized to read this project.
    pub async fn project_events<P: ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ProjectEvents, StorageError> {
        let project = scope.project();
        self.events_of(project.id.0, project.id_merge, scope.visibility(), from_ms, to_ms).await
    }

    /// [`EventStore::project_events`] of a project named by id: for the store's own tests.
    pub(crate) async fn events_of(
        &self,
        project_id: i64,
        id_merge: tally_types::IdMerge,
        visibility: &tally_iam::authz::Visibility,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<ProjectEvents, StorageError> {
        let lease = self.readers.lease(Arc::clone(&self.files));
        // Memory first, then the catalog: a flush in between shows events twice (one copy is
        // kept), never not at all.
        let memory = self.memory.read().unwrap_or_else(|poisoned| poisoned.into_inner()).batches_of(project_id)?;
        let names = self.with_lexicon(project_id, |lexicon| lexicon.events.keys().cloned().collect());
        let identities = Arc::new(self.mapping(project_id, id_merge));
        let files = self.catalog.event_files(&self.region, project_id, from_ms, to_ms).await?;
        let promoted = parquet_file::union_of(&files)?;
        let (clean, paths) = split_clean(files, &parquet_file::days_of(&memory, i64::MIN, i64::MAX));
        let restriction = self.restriction(visibility, project_id, &identities).await?;
        Ok(ProjectEvents {
            project_id,
            region: self.region.clone(),
            files_store: Arc::clone(&self.files),
            paths,
            clean,
            promoted,
            memory,
            identities,
            profiles: Arc::clone(&self.profiles),
            peers: Arc::clone(&self.peers),
            names,
            from_ms,
            to_ms,
            restriction,
            merges: visibility.merges.clone(),
            _lease: lease,
        })
    }

    /// Registers the query engine's reading of data views (once; later calls are ignored).
    pub fn set_view_planner(&self, planner: Arc<dyn crate::ViewPlanner>) {
        let _ = self.view_planner.set(planner);
    }

    /// The project's identity map (`distinct_id` → canonical id).
    pub(crate) fn identities_of<P: ProjectMarker>(&self, scope: &DataScope<P>) -> HashMap<String, String> {
        self.mapping(scope.project_id().0, scope.project().id_merge)
    }

    pub(crate) async fn restriction(
        &self,
        visibility: &tally_iam::authz::Visibility,
        project_id: i64,
        identities: &HashMap<String, String>,
    ) -> Result<crate::visibility::Restriction, StorageError> {
        let hidden = Arc::new(visibility.hidden.iter().cloned().collect::<Vec<_>>());
        let Some(view) = &visibility.view else {
            return Ok(crate::visibility::Restriction { hidden, ..Default::default() });
        };
        let Some(planner) = self.view_planner.get() else {
            return Err(crate::visibility::unreadable(visibility, "the query engine is not running"));
        };
        let (event_condition, profile_condition) =
            planner.conditions(&view.filters).map_err(|error| crate::visibility::unreadable(visibility, error))?;
        let users = match profile_condition {
            None => None,
            Some(condition) => {
                let chosen = chosen_profiles(&self.profiles, &self.peers, project_id, identities);
                let context = SessionContext::new();
                let passing = profile_batch(&chosen, None)
                    .and_then(|batch| context.read_batch(batch).map_err(scan::engine))?
                    .filter(condition)
                    .and_then(|frame| frame.select(vec![ident(PROFILE_USER)]))
                    .map_err(scan::engine)?
                    .collect()
                    .await
                    .map_err(scan::engine)?;
                let mut users = std::collections::HashSet::new();
                for batch in passing {
                    let column = batch.column(0);
                    let column = datafusion::arrow::compute::cast(column, &DataType::Utf8).map_err(scan::engine)?;
                    if let Some(ids) = column.as_any().downcast_ref::<StringArray>() {
                        users.extend(ids.iter().flatten().map(str::to_string));
                    }
                }
                Some(Arc::new(users))
            }
        };
        Ok(crate::visibility::Restriction { event_condition, users, hidden })
    }

    /// The project's lexicon (event names and properties with their counts). Through a data
    /// view, the events are those of the view's data, with its counts and times, and their
    /// properties as the project knows them (names and types, counts not shown).
    pub async fn lexicon_of<P: ProjectMarker>(&self, scope: &DataScope<P>) -> Result<crate::Lexicon, StorageError> {
        let lexicon = self.lexicon(scope.project_id().0);
        if scope.visibility().view.is_none() {
            return Ok(lexicon);
        }
        let events = self.project_events(scope, i64::MIN, i64::MAX).await?;
        let context = self.read_session();
        let Some(frame) = events.frame(&context).await? else { return Ok(crate::Lexicon::default()) };
        use datafusion::functions_aggregate::expr_fn::{count, max, min};
        let batches = frame
            .aggregate(
                vec![ident("name")],
                vec![
                    count(datafusion::logical_expr::lit(1)).alias("n"),
                    min(ident("time_ms")).alias("first"),
                    max(ident("time_ms")).alias("last"),
                ],
            )
            .map_err(scan::engine)?
            .collect()
            .await
            .map_err(scan::engine)?;
        let mut seen = crate::Lexicon::default();
        for batch in batches {
            let names = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(scan::engine)?;
            let numbers = |index: usize| {
                datafusion::arrow::compute::cast(batch.column(index), &DataType::Int64).map_err(scan::engine)
            };
            let (counts, firsts, lasts) = (numbers(1)?, numbers(2)?, numbers(3)?);
            let (Some(names), Some(counts), Some(firsts), Some(lasts)) = (
                names.as_any().downcast_ref::<StringArray>(),
                counts.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>(),
                firsts.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>(),
                lasts.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>(),
            ) else {
                continue;
            };
            for row in 0..batch.num_rows() {
                let name = names.value(row).to_string();
                let mut entry = lexicon.events.get(&name).cloned().unwrap_or_default();
                for property in entry.properties.values_mut() {
                    property.seen = Default::default();
                }
                entry.seen = crate::lexicon::Seen {
                    count: u64::try_from(counts.value(row)).unwrap_or_default(),
                    first_seen_ms: firsts.value(row),
                    last_seen_ms: lasts.value(row),
                };
                seen.events.insert(name, entry);
            }
        }
        Ok(seen)
    }

    /// The properties the scope's user profiles hold: each name with the JSON types seen
    /// and how many profiles hold it, sorted by name.
    pub async fn profile_properties_of<P: ProjectMarker>(
        &self,
        scope: &DataScope<P>,
    ) -> Result<Vec<ProfileProperty>, StorageError> {
        let mut found: std::collections::BTreeMap<String, ProfileProperty> = std::collections::BTreeMap::new();
        for (_, profile) in self.profiles_of(scope, None).await? {
            for (name, value) in &profile.properties {
                let entry = found.entry(name.clone()).or_insert_with(|| ProfileProperty {
                    name: name.clone(),
                    types: Default::default(),
                    profiles: 0,
                });
                entry.types.insert(crate::lexicon::type_of(value));
                entry.profiles += 1;
            }
        }
        Ok(found.into_values().collect())
    }

    /// The reserved properties the project only ever sent as text (its lexicon says so):
    /// the query engine reads those from their typed columns alone, never the JSON column.
    pub fn text_only_properties<P: ProjectMarker>(&self, scope: &DataScope<P>) -> Vec<&'static str> {
        self.with_lexicon(scope.project_id().0, |lexicon| {
            parquet_file::TYPED_PROPERTIES.iter().copied().filter(|name| lexicon.only_strings(name)).collect()
        })
    }

    /// The event properties the project has sent as a list at least once (a breakdown
    /// counts an event once under each element of those).
    pub fn list_properties<P: ProjectMarker>(&self, scope: &DataScope<P>) -> std::collections::BTreeSet<String> {
        self.with_lexicon(scope.project_id().0, |lexicon| {
            lexicon
                .events
                .values()
                .flat_map(|event| event.properties.iter())
                .filter(|(_, property)| property.types.contains("list"))
                .map(|(name, _)| name.clone())
                .collect()
        })
    }

    /// A session in the region's read pool that reads promoted properties: for the store's
    /// own reads through [`ProjectEvents`].
    pub(crate) fn read_session(&self) -> SessionContext {
        let config = datafusion::prelude::SessionConfig::new();
        let context = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
        crate::promoted::register(&context);
        context
    }

    /// The query engine's runtime of this region (its memory pool and spill folder).
    pub fn runtime(&self) -> Arc<RuntimeEnv> {
        Arc::clone(&self.runtime)
    }
}

impl ProjectEvents {
    /// The events as a table of `context` with the columns of [`parquet_file::schema`]:
    /// within the time range, one copy per (event, distinct_id, time, `$insert_id`) (the most
    /// recently received), `distinct_id` canonical. `None` when there is nothing to read.
    pub async fn frame(&self, context: &SessionContext) -> Result<Option<DataFrame>, StorageError> {
        match self.between(context, self.from_ms, self.to_ms).await? {
            Some(frame) => crate::visibility::merged(frame, &self.merges).map(Some),
            None => Ok(None),
        }
    }

    /// The UTC days (since the epoch) in the range that files or memory hold events of,
    /// in order.
    pub fn days(&self) -> Vec<i64> {
        let mut days = parquet_file::days_of(&self.memory, self.from_ms, self.to_ms);
        days.extend(self.paths.iter().chain(&self.clean).map(|(day, _)| *day));
        days.into_iter().collect()
    }

    /// One UTC day of the events (`day` from [`ProjectEvents::days`]) as the raw export
    /// reads them: as [`ProjectEvents::frame`] presents them but under their raw names (the
    /// Lexicon's merges are for reports), sorted by time and then by reception. Only that
    /// day's files are read.
    pub async fn raw_day(&self, context: &SessionContext, day: i64) -> Result<Option<DataFrame>, StorageError> {
        let from_ms = self.from_ms.max(day.saturating_mul(crate::DAY_MS));
        let to_ms = self.to_ms.min(day.saturating_add(1).saturating_mul(crate::DAY_MS));
        self.raw_between(context, from_ms, to_ms).await
    }

    /// Every event of the range as [`ProjectEvents::raw_day`] reads a day's: for small reads.
    pub async fn raw(&self, context: &SessionContext) -> Result<Option<DataFrame>, StorageError> {
        self.raw_between(context, self.from_ms, self.to_ms).await
    }

    async fn raw_between(
        &self,
        context: &SessionContext,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<DataFrame>, StorageError> {
        self.between(context, from_ms, to_ms).await?.map(scan::in_time_order).transpose()
    }

    /// The events of `[from_ms, to_ms)` (within the range taken), before the merges.
    async fn between(
        &self,
        context: &SessionContext,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<DataFrame>, StorageError> {
        let query = EventQuery { from_ms, to_ms, ..Default::default() };
        let (first_day, last_day) =
            (from_ms.div_euclid(crate::DAY_MS), to_ms.saturating_sub(1).div_euclid(crate::DAY_MS));
        let within = |files: &[DayFile]| -> Vec<String> {
            files.iter().filter(|(day, _)| (first_day..=last_day).contains(day)).map(|(_, path)| path.clone()).collect()
        };
        // Aggregates need no order: the deduplicating window without the export's sort, and
        // files known to hold one copy of each event read as they are.
        let mixed = scan::undeduplicated(
            context,
            Arc::clone(&self.files_store),
            scan::Files { region: self.region.clone(), paths: within(&self.paths), promoted: self.promoted.clone() },
            self.memory.clone(),
            &query,
        )
        .await?
        .map(scan::deduplicated_unsorted)
        .transpose()?;
        let clean = scan::undeduplicated(
            context,
            Arc::clone(&self.files_store),
            scan::Files { region: self.region.clone(), paths: within(&self.clean), promoted: self.promoted.clone() },
            Vec::new(),
            &query,
        )
        .await?;
        let frame = match (mixed, clean) {
            (Some(mixed), Some(clean)) => mixed.union(clean).map_err(scan::engine)?,
            (Some(frame), None) | (None, Some(frame)) => frame,
            (None, None) => return Ok(None),
        };
        let frame = if self.identities.is_empty() {
            frame
        } else {
            let canonical = ScalarUDF::from(Canonical::new(Arc::clone(&self.identities)));
            let columns: Vec<Expr> = frame
                .schema()
                .fields()
                .iter()
                .map(|field| match field.name().as_str() {
                    "distinct_id" => canonical.call(vec![ident("distinct_id")]).alias("distinct_id"),
                    name => ident(name),
                })
                .collect();
            frame.select(columns).map_err(scan::engine)?
        };
        if self.restriction.is_none() { Ok(Some(frame)) } else { self.restriction.apply_to_events(frame).map(Some) }
    }

    /// The project's user profiles as they are now (profile properties join at query time in
    /// their latest state), one row per user: `profile_user` (the canonical id) and
    /// `user_properties` (the profile's properties as JSON text). When several profiles
    /// belong to one user, the one stored under the canonical id wins, then the first by id.
    pub fn profile_table(&self, context: &SessionContext) -> Result<DataFrame, StorageError> {
        let chosen = chosen_profiles(&self.profiles, &self.peers, self.project_id, &self.identities);
        let batch = profile_batch(&chosen, Some(&self.restriction))?;
        context.read_batch(batch).map_err(scan::engine)
    }

    /// `frame` (the events as [`ProjectEvents::frame`] presents them) with each event's user
    /// profile ([`ProjectEvents::profile_table`]) in the column `user_properties`, NULL when
    /// the user has no profile.
    pub fn with_profiles(&self, context: &SessionContext, frame: DataFrame) -> Result<DataFrame, StorageError> {
        let table = self.profile_table(context)?;
        let mut keep: Vec<Expr> = frame.schema().fields().iter().map(|field| ident(field.name())).collect();
        keep.push(ident(USER_PROPERTIES));
        frame
            .join(table, datafusion::common::JoinType::Left, &["distinct_id"], &[PROFILE_USER], None)
            .and_then(|joined| joined.select(keep))
            .map_err(scan::engine)
    }

    /// The canonical id of `distinct_id` (itself when it is not merged into another).
    pub fn canonical(&self, distinct_id: &str) -> String {
        self.identities.get(distinct_id).cloned().unwrap_or_else(|| distinct_id.to_string())
    }

    /// The project's event names as queries read them (merged ones under their new
    /// name), sorted.
    pub fn event_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.names.iter().map(|name| self.merges.events.get(name).unwrap_or(name).clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The profile of each user of a project: when several profiles belong to one user, the
/// one stored under the canonical id wins, then the first by id.
fn chosen_profiles(
    profiles: &std::sync::RwLock<crate::Profiles>,
    peers: &std::sync::RwLock<crate::peers::Peers>,
    project_id: i64,
    identities: &HashMap<String, String>,
) -> HashMap<String, serde_json::Map<String, serde_json::Value>> {
    let mut chosen: HashMap<String, (bool, String, serde_json::Map<String, serde_json::Value>)> = HashMap::new();
    for (key, profile) in crate::peers::project_profiles(profiles, peers, project_id) {
        let tally_ingest::profiles::ProfileKey::User(id) = key else { continue };
        let user = identities.get(&id).cloned().unwrap_or_else(|| id.clone());
        let exact = user == id;
        let better = match chosen.get(&user) {
            None => true,
            Some((was_exact, was_id, _)) => (exact, std::cmp::Reverse(&id)) > (*was_exact, std::cmp::Reverse(was_id)),
        };
        if better {
            chosen.insert(user, (exact, id, profile.properties));
        }
    }
    chosen.into_iter().map(|(user, (_, _, properties))| (user, properties)).collect()
}

/// Profiles as a table (`profile_user`, `user_properties` as JSON text): with a
/// restriction, only the users its view keeps, without its hidden properties.
fn profile_batch(
    chosen: &HashMap<String, serde_json::Map<String, serde_json::Value>>,
    restriction: Option<&crate::visibility::Restriction>,
) -> Result<RecordBatch, StorageError> {
    let mut users = StringBuilder::new();
    let mut properties = StringBuilder::new();
    for (user, found) in chosen {
        let json = match restriction {
            Some(restriction) if !restriction.keeps_user(user) => continue,
            Some(restriction) if !restriction.hidden.is_empty() => {
                let mut found = found.clone();
                restriction.strip(&mut found);
                serde_json::Value::Object(found).to_string()
            }
            _ => serde_json::Value::Object(found.clone()).to_string(),
        };
        users.append_value(user);
        properties.append_value(json);
    }
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new(PROFILE_USER, DataType::Utf8, false),
        datafusion::arrow::datatypes::Field::new(USER_PROPERTIES, DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![Arc::new(users.finish()), Arc::new(properties.finish())];
    RecordBatch::try_new(schema, columns).map_err(scan::engine)
}

/// Splits the catalogued files into those read as they are (a compacted file alone in its
/// partition, on a day without events in memory) and those that need deduplicating.
fn split_clean(
    files: Vec<tally_store::EventFile>,
    memory_days: &std::collections::BTreeSet<i64>,
) -> (Vec<DayFile>, Vec<DayFile>) {
    let mut per_partition: HashMap<(String, i64), usize> = HashMap::new();
    for file in &files {
        *per_partition.entry((file.day.clone(), file.bucket)).or_default() += 1;
    }
    let mut clean = Vec::new();
    let mut mixed = Vec::new();
    for file in files {
        let alone = per_partition.get(&(file.day.clone(), file.bucket)) == Some(&1);
        let compacted = file.path.rsplit('/').next().is_some_and(|name| name.starts_with("compact-"));
        let day = file.min_time_ms.div_euclid(crate::DAY_MS);
        if alone && compacted && !memory_days.contains(&day) {
            clean.push((day, file.path));
        } else {
            mixed.push((day, file.path));
        }
    }
    (clean, mixed)
}

const CANONICAL: &str = "tally_canonical_id";

/// What the canonical-id function holds (the identity map), for a cluster
/// ([`crate::portable`]).
pub(crate) fn encode(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    crate::portable::state_of(udf, |canonical: &Canonical| crate::portable::written(canonical.map.as_ref()))
}

pub(crate) fn decode(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    (name == CANONICAL)
        .then(|| crate::portable::from_state(name, bytes).map(|map| ScalarUDF::from(Canonical::new(Arc::new(map)))))
}

/// `distinct_id` → its user's canonical id, from the project's identity map.
#[derive(Debug)]
struct Canonical {
    map: Arc<HashMap<String, String>>,
    signature: Signature,
}

impl Canonical {
    fn new(map: Arc<HashMap<String, String>>) -> Canonical {
        Canonical { map, signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) }
    }
}

impl PartialEq for Canonical {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.map, &other.map)
    }
}

impl Eq for Canonical {}

impl std::hash::Hash for Canonical {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.map) as usize).hash(state);
    }
}

impl ScalarUDFImpl for Canonical {
    fn name(&self) -> &str {
        CANONICAL
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [input] = args.args.as_slice() else { return exec_err!("tally_canonical_id takes one argument") };
        let array = input.to_array(args.number_rows)?;
        let Some(ids) = array.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("tally_canonical_id takes a Utf8 column");
        };
        let mut out = StringBuilder::with_capacity(ids.len(), ids.value_data().len());
        for index in 0..ids.len() {
            if ids.is_null(index) {
                out.append_null();
                continue;
            }
            let id = ids.value(index);
            out.append_value(self.map.get(id).map_or(id, String::as_str));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}
