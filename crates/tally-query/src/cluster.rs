//! Queries on an Apache Ballista cluster: the scheduler and executors that `tally
//! scheduler` and `tally executor` run, and the session a node's query engine sends a
//! report's plans through when `[query] cluster` names a scheduler.
//!
//! Every process of a cluster is the same `tally` binary, so Tally's functions are compiled
//! into each. A plan leaves its process as protobuf: the functions every process knows
//! ([`functions::named`]) go by name, and the ones that belong to one query (the identity
//! map, a view's users, the buckets of a report, the funnel's steps…) go as their name and
//! what they hold, written and read by [`LogicalCodec`] and [`PhysicalCodec`] (each
//! module's `encode_udf`/`decode_udf`). A node's events still in memory go in the plan as
//! Arrow IPC, so a query on a cluster sees what the same query on the node sees. The
//! region's files are read by the scheduler (to plan) and the executors (to scan) through
//! the same `tally-events://<region>/` stores as on the node ([`Stores`]).
//!
//! A funnel that holds values constant or attributes a breakdown numbers its values
//! (`interner.rs`): on the node as rows pass, in one lock; on a cluster from a first query's
//! distinct values, a fixed numbering that travels like the rest. The growing kind cannot
//! leave its process ([`STAYS_HERE`]).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::{
    SessionConfigExt, ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result as DfResult, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::{QueryError, functions};

/// Why a plan stays on the node that made it.
pub const STAYS_HERE: &str = "a numbering of held or attributed values that grows as rows pass lives in one \
     process and cannot go to the cluster; a funnel on a cluster numbers its values in a first query";

/// Whether `context` sends its plans to a cluster ([`remote_session`]).
pub(crate) fn is_remote(context: &SessionContext) -> bool {
    context.state().config().get_extension::<tally_events::ClusterSession>().is_some()
}

/// How executors get their tasks: they ask the scheduler for work (every 50 ms when idle,
/// at least every 5 s when busy, each ask doubling as a heartbeat) and count their own
/// free cores. Ballista 55's default, the scheduler pushing tasks and counting every
/// executor's free cores itself, never gives back the cores of a task it cancels when it
/// rolls a stage back after another executor died (apache/datafusion-ballista#2418): the
/// survivor looked busy forever and the query stalled.
const SCHEDULING: ballista_core::config::TaskSchedulingPolicy = ballista_core::config::TaskSchedulingPolicy::PullStaged;
/// How long the scheduler waits for an executor's ask before it gives the executor's
/// tasks to others (Ballista's default is 180 s: a query whose executor died stalled for
/// minutes). Twice a busy executor's longest gap between asks.
pub const EXECUTOR_TIMEOUT_SECONDS: u64 = 10;
/// How often the scheduler looks for executors past that timeout (Ballista's: 15 s).
pub const EXPIRY_CHECK_SECONDS: u64 = 3;
/// The largest message between a cluster's processes: a plan carries a node's events in
/// memory, a query's identity map and its profiles.
const MESSAGE_BYTES: u32 = 1 << 30;

/// A region's event files as a cluster's processes read them: the region's name and the
/// store behind `tally-events://<region>/` (the same bucket, or the same shared folder, as
/// the ingest nodes').
#[derive(Debug, Clone, Default)]
pub struct Stores(Vec<(String, Arc<dyn object_store::ObjectStore>)>);

impl Stores {
    pub fn new(regions: Vec<(String, Arc<dyn object_store::ObjectStore>)>) -> Stores {
        Stores(regions)
    }

    fn registry(&self) -> Result<Arc<dyn ObjectStoreRegistry>, String> {
        let registry = DefaultObjectStoreRegistry::new();
        for (region, store) in &self.0 {
            let url = url::Url::parse(&tally_events::files_url(region))
                .map_err(|error| format!("region {region}: {error}"))?;
            registry.register_store(&url, Arc::clone(store));
        }
        Ok(Arc::new(registry))
    }
}

/// The logical plan codec of every process: Tally's functions and in-memory tables, the
/// rest as Ballista writes it.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

/// Marks an in-memory table's bytes (Arrow IPC follows).
const BATCHES: &[u8] = b"tally-batches\n";

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> DfResult<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match buf.strip_prefix(BATCHES) {
            Some(ipc) => read_batches(ipc, schema),
            None => self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        let table: &dyn std::any::Any = node.as_ref();
        match table.downcast_ref::<MemTable>() {
            Some(table) => write_batches(table, buf),
            None => self.ballista.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> DfResult<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udaf(node, buf)
    }
}

/// The physical plan codec of every process: Tally's functions, the rest (Ballista's
/// shuffle nodes) as Ballista writes it.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.ballista.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udaf(node, buf)
    }
}

/// Writes what one of Tally's functions holds; another function is left to go by name.
fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
    let state = tally_events::portable::encode(udf)
        .or_else(|| functions::encode_udf(udf))
        .or_else(|| crate::flows::encode_udf(udf))
        .or_else(|| crate::expression::encode_udf(udf))
        .or_else(|| crate::interner::encode_udf(udf));
    if let Some(state) = state {
        buf.extend(state?);
    }
    Ok(())
}

fn decode_udf(name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
    let made = tally_events::portable::decode(name, buf)
        .or_else(|| functions::decode_udf(name, buf))
        .or_else(|| crate::flows::decode_udf(name, buf))
        .or_else(|| crate::expression::decode_udf(name, buf))
        .or_else(|| crate::interner::decode_udf(name, buf));
    match made {
        Some(udf) => udf.map(Arc::new),
        None => Err(DataFusionError::Plan(format!(
            "the function {name} is not known here; every process of a cluster must run the same Tally build"
        ))),
    }
}

fn encode_udaf(udaf: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
    if let Some(state) = functions::encode_udaf(udaf) {
        buf.extend(state?);
    }
    Ok(())
}

fn decode_udaf(name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
    match functions::decode_udaf(name, buf) {
        Some(udaf) => udaf.map(Arc::new),
        None => Err(DataFusionError::Plan(format!(
            "the aggregate {name} is not known here; every process of a cluster must run the same Tally build"
        ))),
    }
}

fn write_batches(table: &MemTable, buf: &mut Vec<u8>) -> DfResult<()> {
    buf.extend_from_slice(BATCHES);
    let schema = table.schema();
    let mut writer = StreamWriter::try_new(&mut *buf, &schema)?;
    for partition in &table.batches {
        let Ok(batches) = partition.try_read() else {
            return Err(DataFusionError::Internal("an in-memory table is being written to".into()));
        };
        for batch in batches.iter() {
            writer.write(batch)?;
        }
    }
    writer.finish()?;
    Ok(())
}

fn read_batches(ipc: &[u8], schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
    let reader = StreamReader::try_new(ipc, None)?;
    let batches = reader.collect::<Result<Vec<RecordBatch>, _>>()?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// A session whose plans run on the cluster whose scheduler is at `url` (`df://host:port`),
/// with Tally's functions and codecs. No connection is made until a plan runs.
pub(crate) async fn remote_session(url: &str, partitions: usize) -> Result<SessionContext, QueryError> {
    let mut config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_target_partitions(partitions)
        .with_extension(Arc::new(tally_events::ClusterSession));
    config.options_mut().execution.sort_spill_reservation_bytes = tally_events::SORT_MERGE_RESERVATION;
    let settings = [
        ("ballista.client.grpc_max_message_size", MESSAGE_BYTES.to_string()),
        ("ballista.job.name", "tally".into()),
        // The static planner: Ballista 55's adaptive one lost track of a job whose map
        // stage it resubmitted after an executor died ("Can't find active stage"), and the
        // query stalled; the static one reruns the lost stage and answers.
        ("ballista.planner.adaptive.enabled", "false".into()),
        // A task reading a dead executor's shuffle output tries three times; a second
        // between tries (Ballista's default is 3 s) lets the stage rerun sooner.
        ("ballista.client.io_retry_wait_time_ms", "1000".into()),
    ];
    for (key, value) in settings {
        config.options_mut().set(key, &value).map_err(crate::engine_error)?;
    }
    let state = SessionStateBuilder::new().with_config(config).with_default_features().build();
    let context = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|error| QueryError::Storage(format!("the query cluster at {url}: {error}")))?;
    // Ballista replaces the session's functions with its own list: Tally's go in after.
    functions::register(&context);
    Ok(context)
}

/// A session state with Ballista's functions and rules plus Tally's named functions, over
/// `runtime`: what the scheduler plans with and the executors look functions up in.
fn cluster_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    let mut scalar = ballista_scalar_functions();
    scalar.extend(functions::named());
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalar)
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build()
}

/// Runs a scheduler on `listen` until the process stops. `external_host` is the name
/// executors and clients reach it by.
pub async fn run_scheduler(listen: SocketAddr, external_host: &str, stores: &Stores) -> Result<(), String> {
    use ballista_scheduler::config::SchedulerConfig;
    let registry = stores.registry()?;
    let builder: ballista_scheduler::SessionBuilder = Arc::new(move |config: SessionConfig| {
        let runtime = RuntimeEnvBuilder::new().with_object_store_registry(Arc::clone(&registry)).build_arc()?;
        Ok(cluster_state(config, runtime))
    });
    let config = SchedulerConfig {
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_session_builder: Some(builder),
        scheduling_policy: SCHEDULING,
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: EXPIRY_CHECK_SECONDS,
        no_executors_grace_period_seconds: EXECUTOR_TIMEOUT_SECONDS,
        grpc_server_max_decoding_message_size: MESSAGE_BYTES,
        grpc_server_max_encoding_message_size: MESSAGE_BYTES,
        grpc_client_max_message_size: MESSAGE_BYTES,
        ..Default::default()
    }
    .with_hostname(external_host)
    .with_port(listen.port());
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&config)
        .await
        .map_err(|error| format!("cannot start the scheduler: {error}"))?;
    ballista_scheduler::scheduler_process::start_server(cluster, listen, Arc::new(config))
        .await
        .map_err(|error| format!("the scheduler on {listen} stopped: {error}"))
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Arrow Flight (results and shuffle) on this address (tasks are asked of the scheduler).
    pub listen: SocketAddr,
    /// The name the scheduler and clients reach it by (default: the address it connects from).
    pub external_host: Option<String>,
    /// Shuffle and result files.
    pub work_dir: std::path::PathBuf,
    /// Memory its tasks may hold before they spill (bytes).
    pub memory_bytes: u64,
    /// Tasks at once (0: one per core).
    pub tasks: usize,
}

/// Runs an executor until the process stops (it takes over Ctrl-C and SIGTERM to leave
/// the cluster cleanly).
pub async fn run_executor(settings: ExecutorSettings, stores: &Stores) -> Result<(), String> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let registry = stores.registry()?;
    std::fs::create_dir_all(&settings.work_dir)
        .map_err(|error| format!("cannot create {}: {error}", settings.work_dir.display()))?;
    let work_dir = settings.work_dir.clone();
    let runtime: ballista_core::RuntimeProducer = Arc::new(move |_config: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&registry))
            .with_temp_file_path(&work_dir)
            .build_arc()
    });
    let functions = BallistaFunctionRegistry::from(&cluster_state(
        SessionConfig::new_with_ballista(),
        Arc::new(RuntimeEnv::default()),
    ));
    let config = ExecutorProcessConfig {
        bind_host: settings.listen.ip().to_string(),
        port: settings.listen.port(),
        // Only advertised: with pull scheduling nothing listens there (the scheduler's
        // calls to cancel a task fail and the task runs to its end).
        grpc_port: settings.listen.port().saturating_add(1),
        scheduler_host: settings.scheduler_host.clone(),
        scheduler_port: settings.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        external_host: settings.external_host.clone(),
        vcores: settings.tasks,
        work_dir: Some(settings.work_dir.display().to_string()),
        task_scheduling_policy: SCHEDULING,
        job_data_clean_up_interval_seconds: 600,
        job_data_ttl_seconds: 3600,
        memory_pool_size: Some(settings.memory_bytes),
        grpc_max_decoding_message_size: MESSAGE_BYTES,
        grpc_max_encoding_message_size: MESSAGE_BYTES,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_runtime_producer: Some(runtime),
        override_config_producer: Some(Arc::new(SessionConfig::new_with_ballista)),
        override_function_registry: Some(Arc::new(functions)),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|error| format!("the executor on {} stopped: {error}", settings.listen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::ident;
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };

    /// Three users' events: (distinct_id, time_ms, code).
    fn events() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("distinct_id", DataType::Utf8, false),
            Field::new("time_ms", DataType::Int64, false),
            Field::new("code", DataType::Int64, false),
        ]));
        let ids = StringArray::from(vec!["a", "a", "a", "b", "b", "c"]);
        let times = Int64Array::from(vec![0, 100, 250, 10, 500, 40]);
        let codes = Int64Array::from(vec![3, 2, 2, 3, 2, 2]);
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(times), Arc::new(codes)]).unwrap()
    }

    fn session() -> SessionContext {
        let context = SessionContext::new();
        functions::register(&context);
        context
    }

    async fn rows(context: &SessionContext, plan: LogicalPlan) -> String {
        let frame = datafusion::dataframe::DataFrame::new(context.state(), plan);
        let sorted = frame.sort(vec![ident("distinct_id").sort(true, false)]).unwrap();
        pretty_format_batches(&sorted.collect().await.unwrap()).unwrap().to_string()
    }

    /// `plan` gives `expected` after the logical codec (node → scheduler) and after the
    /// physical codec (scheduler → executor), each in a fresh session.
    async fn answers_the_same_after_both_codecs(plan: LogicalPlan, expected: &str) {
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &LogicalCodec::default()).unwrap();
        let there = session();
        let arrived =
            logical_plan_from_bytes_with_extension_codec(&bytes, &there.task_ctx(), &LogicalCodec::default()).unwrap();
        assert_eq!(rows(&there, arrived.clone()).await, expected);
        let physical = there.state().create_physical_plan(&arrived).await.unwrap();
        let bytes = physical_plan_to_bytes_with_extension_codec(physical, &PhysicalCodec::default()).unwrap();
        let executor = session();
        let task =
            physical_plan_from_bytes_with_extension_codec(&bytes, &executor.task_ctx(), &PhysicalCodec::default())
                .unwrap();
        let batches = datafusion::physical_plan::collect(task, executor.task_ctx()).await.unwrap();
        let mut lines: Vec<String> =
            pretty_format_batches(&batches).unwrap().to_string().lines().map(str::to_string).collect();
        let mut wanted: Vec<String> = expected.lines().map(str::to_string).collect();
        lines.sort();
        wanted.sort();
        assert_eq!(lines, wanted);
    }

    /// A plan with an in-memory table, a bucket, a segmentation expression and the
    /// sequence aggregate gives the same rows after the logical codec (node → scheduler)
    /// and the physical codec (scheduler → executor) as before.
    #[tokio::test]
    async fn a_plan_with_tallys_functions_answers_the_same_after_both_codecs() {
        let here = session();
        let returns =
            crate::retention::finish_from(serde_json::json!({ "unit_ms": 100, "ends": [1, 2, 3], "cohorts": null }))
                .unwrap();
        let plan = here
            .read_batch(events())
            .unwrap()
            .filter(crate::expression::condition("properties[\"distinct_id\"] != \"nobody\"").unwrap())
            .unwrap()
            .select(vec![
                ident("distinct_id"),
                ident("time_ms"),
                ident("code"),
                functions::Bucket::expr(vec![0, 200], 1_000, ident("time_ms")).alias("bucket"),
            ])
            .unwrap()
            .aggregate(
                vec![ident("distinct_id")],
                vec![
                    functions::Sequence::udaf(returns).call(vec![ident("time_ms"), ident("code")]).alias("seen"),
                    datafusion::functions_aggregate::expr_fn::max(ident("bucket")).alias("last_bucket"),
                ],
            )
            .unwrap()
            .into_unoptimized_plan();
        let expected = rows(&here, plan.clone()).await;
        assert!(expected.contains("| a "), "{expected}");

        answers_the_same_after_both_codecs(plan, &expected).await;
    }

    /// A fixed value numbering travels: each process numbers the same tuples alike, and a
    /// tuple it was not made from gets the one number past the last.
    #[tokio::test]
    async fn a_fixed_value_numbering_numbers_alike_after_both_codecs() {
        let here = session();
        let tuples = [Some("c"), Some("a")].map(|id| vec![id.map(str::to_string)]);
        let numbering = crate::interner::Interner::fixed(1, false, tuples).unwrap();
        let plan = here
            .read_batch(events())
            .unwrap()
            .select(vec![ident("distinct_id"), numbering.call(vec![ident("distinct_id")]).alias("number")])
            .unwrap()
            .distinct()
            .unwrap()
            .into_unoptimized_plan();
        let expected = rows(&here, plan.clone()).await;
        for (id, number) in [("a", 1), ("b", 2), ("c", 0)] {
            assert!(expected.contains(&format!("| {id}           | {number}      |")), "{expected}");
        }
        answers_the_same_after_both_codecs(plan, &expected).await;
    }

    /// The growing value numbering cannot leave its process: encoding it fails with the
    /// reason, and a plan that names it without its state is refused where it arrives.
    #[tokio::test]
    async fn the_growing_value_numbering_says_it_stays_on_the_node() {
        let here = session();
        let numbering = crate::interner::Interner::new(1, false);
        let plan = here
            .read_batch(events())
            .unwrap()
            .select(vec![numbering.call(vec![ident("distinct_id")]).alias("number")])
            .unwrap()
            .into_unoptimized_plan();
        // The logical encoder drops a function's failed state; the decoder then refuses it.
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &LogicalCodec::default()).unwrap();
        let refused =
            logical_plan_from_bytes_with_extension_codec(&bytes, &session().task_ctx(), &LogicalCodec::default())
                .unwrap_err();
        assert!(refused.to_string().contains("cannot go to the cluster"), "{refused}");
        let physical = here.state().create_physical_plan(&plan).await.unwrap();
        let refused = physical_plan_to_bytes_with_extension_codec(physical, &PhysicalCodec::default()).unwrap_err();
        assert!(refused.to_string().contains("cannot go to the cluster"), "{refused}");
    }
}
