//! Tally's functions inside the plans: reading one property of an event (from its typed
//! column or its JSON column), finding a time's bucket, and the per-user sequence aggregate
//! behind Funnels and Retention (a `GroupsAccumulator`, never a self-join).

use std::sync::Arc;

use crate::model::PropertySource;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Builder, Int32Builder, Int64Array, Int64Builder, ListArray, ListBuilder,
    StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, Expr, GroupsAccumulator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{DataFrame, SessionContext, ident, lit};
use tally_events::parquet_file::TYPED_PROPERTIES;

/// Registers the functions that do not depend on one query (the property readers) in a
/// session, and the rewrite that reads promoted properties from their columns.
pub fn register(context: &SessionContext) {
    tally_events::promoted::register(context);
    for function in named() {
        context.register_udf(function.as_ref().clone());
    }
}

/// The functions every process knows by name: the embedded engine's sessions, and a
/// cluster's scheduler and executors ([`crate::cluster`]), register these same ones.
/// The rest of Tally's functions belong to one query and travel with its plan.
pub fn named() -> Vec<Arc<ScalarUDF>> {
    [false, true]
        .into_iter()
        .map(|numeric| Arc::new(ScalarUDF::from(Property { numeric, signature: two_strings() })))
        .collect()
}

const BUCKET: &str = "tally_bucket";
const QUANTILE: &str = "tally_quantile";
const ELEMENTS: &str = "tally_elements";

fn two_strings() -> Signature {
    Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable)
}

tokio::task_local! {
    /// The reserved properties the running query reads from their typed column alone: the
    /// project's lexicon shows it never sent them as anything but text, so its JSON column
    /// never holds them.
    static TEXT_ONLY: Arc<Vec<&'static str>>;
}

/// Whether the running query reads the reserved property `name` from its typed column alone.
fn text_only(name: &str) -> bool {
    TEXT_ONLY.try_with(|names| names.contains(&name)).unwrap_or(false)
}

/// Runs `work` (a query) reading the reserved properties `names` from their typed columns
/// alone.
pub(crate) async fn with_text_only<F: std::future::Future>(names: Vec<&'static str>, work: F) -> F::Output {
    TEXT_ONLY.scope(Arc::new(names), work).await
}

/// The event property `name` as text (numbers as written, booleans as `true`/`false`,
/// lists and objects as JSON), NULL when it is not set or null.
pub fn property_text(name: &str) -> Expr {
    match name {
        "distinct_id" | "$distinct_id" => ident("distinct_id"),
        "$event" | "event" => ident("name"),
        "$insert_id" => ident("insert_id"),
        // A reserved property sent as something other than text lives in the JSON column
        // (unless the project never sent it so: then the JSON column is not read at all).
        name if TYPED_PROPERTIES.contains(&name) => {
            if text_only(name) {
                ident(name)
            } else {
                datafusion::functions::expr_fn::coalesce(vec![ident(name), json_text(name)])
            }
        }
        name => json_text(name),
    }
}

/// The event property `name` as a number: a JSON number, or text that reads as one; NULL
/// otherwise.
pub fn property_number(name: &str) -> Expr {
    if name == "$time" || name == "time" {
        return datafusion::logical_expr::cast(ident("time_ms") / lit(1000i64), DataType::Float64);
    }
    let typed = || datafusion::logical_expr::try_cast(ident(name), DataType::Float64);
    if TYPED_PROPERTIES.contains(&name) && text_only(name) {
        return typed();
    }
    let json = ScalarUDF::from(Property { numeric: true, signature: two_strings() })
        .call(vec![ident("properties"), lit(name)]);
    if TYPED_PROPERTIES.contains(&name) {
        return datafusion::functions::expr_fn::coalesce(vec![
            datafusion::logical_expr::try_cast(ident(name), DataType::Float64),
            json,
        ]);
    }
    json
}

fn json_text(name: &str) -> Expr {
    ScalarUDF::from(Property { numeric: false, signature: two_strings() }).call(vec![ident("properties"), lit(name)])
}

/// The property `name` of `source` as text: the event's ([`property_text`]) or its user's
/// profile's (from the profiles joined by `ProjectEvents::with_profiles`).
pub fn sourced_text(source: PropertySource, name: &str) -> Expr {
    match source {
        PropertySource::Event => property_text(name),
        PropertySource::User => ScalarUDF::from(Property { numeric: false, signature: two_strings() })
            .call(vec![ident(tally_events::USER_PROPERTIES), lit(name)]),
        PropertySource::Cohort => datafusion::logical_expr::when(crate::cohorts::membership(name), lit("true"))
            .otherwise(lit("false"))
            .unwrap_or_else(|_| lit("false")),
    }
}

/// The property `name` of `source` as a number ([`property_number`] for the event's).
pub fn sourced_number(source: PropertySource, name: &str) -> Expr {
    match source {
        PropertySource::Event => property_number(name),
        PropertySource::User => ScalarUDF::from(Property { numeric: true, signature: two_strings() })
            .call(vec![ident(tally_events::USER_PROPERTIES), lit(name)]),
        PropertySource::Cohort => datafusion::logical_expr::when(crate::cohorts::membership(name), lit(1.0))
            .otherwise(lit(0.0))
            .unwrap_or_else(|_| lit(0.0)),
    }
}

/// Reads one property out of the JSON properties column.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Property {
    numeric: bool,
    signature: Signature,
}

impl ScalarUDFImpl for Property {
    fn name(&self) -> &str {
        // The names the promoted-column rewrite looks for.
        if self.numeric { tally_events::promoted::PROPERTY_NUMBER } else { tally_events::promoted::PROPERTY_TEXT }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.numeric { DataType::Float64 } else { DataType::Utf8 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [json, name] = args.args.as_slice() else { return exec_err!("{} takes two arguments", self.name()) };
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) = name else {
            return exec_err!("{}: the property name must be a literal", self.name());
        };
        let json = json.to_array(args.number_rows)?;
        let Some(json) = json.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("{} reads a Utf8 column", self.name());
        };
        let values = (0..json.len()).map(|row| if json.is_null(row) { None } else { lookup(json.value(row), name) });
        if self.numeric {
            let mut out = Float64Builder::with_capacity(json.len());
            for value in values {
                out.append_option(value.and_then(|value| number(&value)));
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let mut out = StringBuilder::with_capacity(json.len(), json.len() * 8);
        for value in values {
            out.append_option(value.and_then(text));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// A result column as the array type `A` (cast to `data_type` first: strings may come back
/// as views, counts as other integer widths).
pub(crate) fn column_as<A: Array + Clone + 'static>(
    column: &ArrayRef,
    data_type: &DataType,
) -> Result<A, crate::QueryError> {
    let cast = datafusion::arrow::compute::cast(column, data_type)
        .map_err(|error| crate::QueryError::Storage(format!("query engine: {error}")))?;
    cast.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| crate::QueryError::Storage("query engine: a result column has an unexpected type".into()))
}

use tally_events::promoted::number;
pub use tally_events::promoted::{number_text, text};

/// The value of the top-level key `name` of a JSON object, without building the others.
fn lookup(json: &str, name: &str) -> Option<serde_json::Value> {
    use serde::Deserializer;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    deserializer.deserialize_map(Find { name }).ok().flatten()
}

struct Find<'a> {
    name: &'a str,
}

impl<'de> serde::de::Visitor<'de> for Find<'_> {
    type Value = Option<serde_json::Value>;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut value = None;
        // The whole object is read (the parser checks it ends well), the others skipped.
        while let Some(found) = map.next_key_seed(KeyIs { name: self.name })? {
            if found && value.is_none() {
                value = Some(map.next_value::<serde_json::Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(value)
    }
}

/// Whether a key is the wanted one, without allocating it.
struct KeyIs<'a> {
    name: &'a str,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.name)
    }
}

/// The index of the bucket holding a time (UTC ms), by binary search over the buckets'
/// starts; NULL outside the range. One per query (the starts are the query's).
#[derive(Debug)]
pub struct Bucket {
    starts: Arc<Vec<i64>>,
    to_ms: i64,
    signature: Signature,
}

impl Bucket {
    pub fn expr(starts: Vec<i64>, to_ms: i64, time: Expr) -> Expr {
        Bucket::udf(starts, to_ms).call(vec![time])
    }

    fn udf(starts: Vec<i64>, to_ms: i64) -> ScalarUDF {
        let signature = Signature::exact(vec![DataType::Int64], Volatility::Immutable);
        ScalarUDF::from(Bucket { starts: Arc::new(starts), to_ms, signature })
    }
}

impl PartialEq for Bucket {
    fn eq(&self, other: &Self) -> bool {
        self.starts == other.starts && self.to_ms == other.to_ms
    }
}

impl Eq for Bucket {}

impl std::hash::Hash for Bucket {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.starts.hash(state);
        self.to_ms.hash(state);
    }
}

impl ScalarUDFImpl for Bucket {
    fn name(&self) -> &str {
        BUCKET
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [time] = args.args.as_slice() else { return exec_err!("tally_bucket takes one argument") };
        let time = time.to_array(args.number_rows)?;
        let Some(time) = time.as_any().downcast_ref::<Int64Array>() else {
            return exec_err!("tally_bucket reads an Int64 column");
        };
        let first = self.starts.first().copied().unwrap_or(i64::MAX);
        let mut out = Int32Builder::with_capacity(time.len());
        for row in 0..time.len() {
            let value = time.value(row);
            if time.is_null(row) || value < first || value >= self.to_ms {
                out.append_null();
                continue;
            }
            let index = self.starts.partition_point(|start| *start <= value).saturating_sub(1);
            out.append_value(i32::try_from(index).unwrap_or(i32::MAX));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `tally_quantile(values, p)`: the exact quantile of a list of numbers, interpolated
/// linearly between the two closest ranks (`rank = p·(n−1)`), as DuckDB's `quantile_cont`
/// computes it; NULL for an empty list. (DataFusion's `percentile_cont` rounds the weight
/// to six decimals.)
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Quantile {
    signature: Signature,
}

impl Quantile {
    pub fn expr(values: Expr, quantile: f64) -> Expr {
        Quantile::udf().call(vec![values, lit(quantile)])
    }

    fn udf() -> ScalarUDF {
        ScalarUDF::from(Quantile { signature: Signature::any(2, Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for Quantile {
    fn name(&self) -> &str {
        QUANTILE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [values, quantile] = args.args.as_slice() else { return exec_err!("tally_quantile takes two arguments") };
        let ColumnarValue::Scalar(ScalarValue::Float64(Some(quantile))) = quantile else {
            return exec_err!("tally_quantile: the quantile must be a literal number");
        };
        let values = values.to_array(args.number_rows)?;
        let Some(lists) = values.as_any().downcast_ref::<ListArray>() else {
            return exec_err!("tally_quantile reads a list of numbers");
        };
        let mut out = Float64Builder::with_capacity(lists.len());
        for row in 0..lists.len() {
            if lists.is_null(row) {
                out.append_null();
                continue;
            }
            let list = datafusion::arrow::compute::cast(&lists.value(row), &DataType::Float64)?;
            let Some(list) = list.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>() else {
                return exec_err!("tally_quantile reads a list of numbers");
            };
            let mut sorted: Vec<f64> = list.iter().flatten().collect();
            sorted.sort_by(f64::total_cmp);
            out.append_option(quantile_of(&sorted, *quantile));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// The quantile `q` of sorted numbers, interpolated between the closest ranks.
pub fn quantile_of(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = q.clamp(0.0, 1.0) * last as f64;
    let lower = rank.floor();
    let (low, high) = (sorted[lower as usize], sorted[(rank.ceil() as usize).min(last)]);
    Some(low + (high - low) * (rank - lower))
}

/// What a sequence aggregate makes of one user's events, given them sorted by time (ties
/// keep the order they were read in): a short list of numbers the report then tallies.
pub trait Finish: std::fmt::Debug + Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn finish(&self, events: &[(i64, i64)]) -> Vec<i64>;
    /// What it holds, for a cluster's executors ([`crate::cluster`]); an error when it
    /// cannot leave this process.
    fn state(&self) -> DfResult<serde_json::Value>;
}

/// A [`Finish`] made again from its name and [`Finish::state`].
fn finish_from(name: &str, state: serde_json::Value) -> Option<DfResult<Arc<dyn Finish>>> {
    let read = |error: serde_json::Error| {
        datafusion::common::DataFusionError::Plan(format!("the aggregate {name} arrived unreadable: {error}"))
    };
    match name {
        crate::funnels::FINISH => Some(crate::funnels::finish_from(state).map_err(read).and_then(|made| made)),
        crate::retention::FINISH => Some(crate::retention::finish_from(state).map_err(read)),
        crate::flows::FINISH => Some(crate::flows::finish_from(state).map_err(read)),
        _ => None,
    }
}

/// What this module's plan functions hold, for a cluster ([`crate::cluster`]).
pub(crate) fn encode_udf(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    use tally_events::portable::{state_of, written};
    state_of(udf, |bucket: &Bucket| written(&(bucket.starts.as_ref(), bucket.to_ms)))
        .or_else(|| state_of(udf, |property: &Property| written(&property.numeric)))
        .or_else(|| state_of(udf, |_: &Quantile| written(&())))
        .or_else(|| state_of(udf, |_: &Elements| written(&())))
}

pub(crate) fn decode_udf(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    use tally_events::portable::from_state;
    match name {
        BUCKET => Some(from_state(name, bytes).map(|(starts, to_ms)| Bucket::udf(starts, to_ms))),
        tally_events::promoted::PROPERTY_TEXT | tally_events::promoted::PROPERTY_NUMBER => {
            Some(from_state(name, bytes).map(|numeric| ScalarUDF::from(Property { numeric, signature: two_strings() })))
        }
        QUANTILE => Some(Ok(Quantile::udf())),
        ELEMENTS => Some(Ok(elements_udf())),
        _ => None,
    }
}

/// What a sequence aggregate holds (its finish's name and state), for a cluster.
pub(crate) fn encode_udaf(udaf: &AggregateUDF) -> Option<DfResult<Vec<u8>>> {
    tally_events::portable::aggregate_state_of(udaf, |sequence: &Sequence| {
        sequence.finish.state().and_then(|state| tally_events::portable::written(&state))
    })
}

pub(crate) fn decode_udaf(name: &str, bytes: &[u8]) -> Option<DfResult<AggregateUDF>> {
    let state = match tally_events::portable::from_state::<serde_json::Value>(name, bytes) {
        Ok(state) => state,
        Err(error) => return Some(Err(error)),
    };
    finish_from(name, state).map(|finish| finish.map(Sequence::udaf))
}

/// Runs `finish` over each user's events and hands every user's result to `visit` with
/// their canonical id. `code` is each event's code; `keep` (over the `code` column) picks
/// the events the users' sequences hold. The empty distinct_id is not a user.
pub(crate) async fn each_user(
    frame: DataFrame,
    code: Expr,
    keep: Option<Expr>,
    finish: Arc<dyn Finish>,
    mut visit: impl FnMut(&str, &[i64]),
) -> Result<(), crate::QueryError> {
    use futures_util::StreamExt;
    let udaf = Sequence::udaf(finish);
    let mut coded = frame
        .filter(ident("distinct_id").not_eq(lit("")))
        .and_then(|frame| frame.select(vec![ident("distinct_id"), ident("time_ms"), code.alias("code")]))
        .map_err(crate::engine_error)?;
    if let Some(keep) = keep {
        coded = coded.filter(keep).map_err(crate::engine_error)?;
    }
    let mut stream = coded
        .aggregate(vec![ident("distinct_id")], vec![udaf.call(vec![ident("time_ms"), ident("code")]).alias("user")])
        .map_err(crate::engine_error)?
        .execute_stream()
        .await
        .map_err(crate::engine_error)?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(crate::engine_error)?;
        let (Some(ids), Some(results)) = (batch.column_by_name("distinct_id"), batch.column_by_name("user")) else {
            return Err(crate::QueryError::Storage("query engine: a sequence answer lacks a column".into()));
        };
        let ids = column_as::<StringArray>(ids, &DataType::Utf8)?;
        let Some(results) = results.as_any().downcast_ref::<ListArray>() else {
            return Err(crate::QueryError::Storage("query engine: a sequence answer is not a list".into()));
        };
        for row in 0..results.len() {
            if results.is_null(row) {
                continue;
            }
            let values = results.value(row);
            if let Some(values) = values.as_any().downcast_ref::<Int64Array>() {
                visit(ids.value(row), values.values());
            }
        }
    }
    Ok(())
}

/// `sequence(time_ms, code)`: collects each group's (time, code) pairs and hands them,
/// sorted by time, to a [`Finish`]. Groups are users, so the state is a packed list per user.
#[derive(Debug)]
pub struct Sequence {
    finish: Arc<dyn Finish>,
    signature: Signature,
}

impl Sequence {
    pub fn udaf(finish: Arc<dyn Finish>) -> AggregateUDF {
        AggregateUDF::from(Sequence {
            finish,
            signature: Signature::exact(vec![DataType::Int64, DataType::Int64], Volatility::Immutable),
        })
    }
}

impl PartialEq for Sequence {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.finish, &other.finish)
    }
}

impl Eq for Sequence {}

impl std::hash::Hash for Sequence {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.finish) as *const () as usize).hash(state);
    }
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

impl AggregateUDFImpl for Sequence {
    fn name(&self) -> &str {
        self.finish.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(list_type())
    }
    fn state_fields(&self, _args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new("pairs", list_type(), true))])
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(OneSequence { pairs: Vec::new(), finish: Arc::clone(&self.finish) }))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Sequences { groups: Vec::new(), finish: Arc::clone(&self.finish) }))
    }
}

fn pairs_of(values: &[ArrayRef]) -> DfResult<(&Int64Array, &Int64Array)> {
    let [time, code] = values else { return exec_err!("a sequence aggregate takes (time, code)") };
    match (time.as_any().downcast_ref::<Int64Array>(), code.as_any().downcast_ref::<Int64Array>()) {
        (Some(time), Some(code)) => Ok((time, code)),
        _ => exec_err!("a sequence aggregate takes two Int64 columns"),
    }
}

fn lists_of(values: &[ArrayRef]) -> DfResult<&ListArray> {
    match values.first().and_then(|array| array.as_any().downcast_ref::<ListArray>()) {
        Some(list) => Ok(list),
        None => exec_err!("a sequence aggregate's state is a list"),
    }
}

/// Appends the packed pairs (time, code, time, code, …) of one state row.
fn unpack(list: &ListArray, row: usize, into: &mut Vec<(i64, i64)>) -> DfResult<()> {
    if list.is_null(row) {
        return Ok(());
    }
    let values = list.value(row);
    let Some(values) = values.as_any().downcast_ref::<Int64Array>() else {
        return exec_err!("a sequence aggregate's state holds Int64 values");
    };
    let numbers = values.values();
    into.extend(numbers.chunks_exact(2).map(|pair| (pair[0], pair[1])));
    Ok(())
}

fn pack<'a>(groups: impl Iterator<Item = &'a Vec<(i64, i64)>>) -> ArrayRef {
    let mut out = ListBuilder::new(Int64Builder::new());
    for pairs in groups {
        for (time, code) in pairs {
            out.values().append_value(*time);
            out.values().append_value(*code);
        }
        out.append(true);
    }
    Arc::new(out.finish())
}

fn finished<'a>(finish: &dyn Finish, groups: impl Iterator<Item = &'a mut Vec<(i64, i64)>>) -> ArrayRef {
    let mut out = ListBuilder::new(Int64Builder::new());
    for pairs in groups {
        // Stable: events at the same millisecond keep the order they were read in.
        pairs.sort_by_key(|(time, _)| *time);
        for value in finish.finish(pairs) {
            out.values().append_value(value);
        }
        out.append(true);
    }
    Arc::new(out.finish())
}

#[derive(Debug)]
struct Sequences {
    groups: Vec<Vec<(i64, i64)>>,
    finish: Arc<dyn Finish>,
}

fn keeps(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|filter| filter.is_valid(row) && filter.value(row))
}

impl GroupsAccumulator for Sequences {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let (time, code) = pairs_of(values)?;
        for (row, group) in group_indices.iter().enumerate() {
            if keeps(opt_filter, row) && time.is_valid(row) && code.is_valid(row) {
                self.groups[*group].push((time.value(row), code.value(row)));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let mut taken = emit_to.take_needed(&mut self.groups);
        Ok(finished(self.finish.as_ref(), taken.iter_mut()))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let taken = emit_to.take_needed(&mut self.groups);
        Ok(vec![pack(taken.iter())])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DfResult<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let lists = lists_of(values)?;
        for (row, group) in group_indices.iter().enumerate() {
            unpack(lists, row, &mut self.groups[*group])?;
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let (time, code) = pairs_of(values)?;
        let rows: Vec<Vec<(i64, i64)>> = (0..time.len())
            .map(|row| {
                if keeps(opt_filter, row) && time.is_valid(row) && code.is_valid(row) {
                    vec![(time.value(row), code.value(row))]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Ok(vec![pack(rows.iter())])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<(i64, i64)>>()
            + self.groups.iter().map(|pairs| pairs.capacity() * 16).sum::<usize>()
    }
}

/// The same for a single group (a plan without GROUP BY).
#[derive(Debug)]
struct OneSequence {
    pairs: Vec<(i64, i64)>,
    finish: Arc<dyn Finish>,
}

impl Accumulator for OneSequence {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let (time, code) = pairs_of(values)?;
        for row in 0..time.len() {
            if time.is_valid(row) && code.is_valid(row) {
                self.pairs.push((time.value(row), code.value(row)));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let array = finished(self.finish.as_ref(), std::iter::once(&mut self.pairs));
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.pairs.capacity() * 16
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let array = pack(std::iter::once(&self.pairs));
        Ok(vec![ScalarValue::try_from_array(&array, 0)?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let lists = lists_of(states)?;
        for row in 0..lists.len() {
            unpack(lists, row, &mut self.pairs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_one_key_and_reads_its_value() {
        let json = r#"{"a":1,"plan":"pro","nested":{"plan":"x"},"n":"2.5","flag":true,"list":[1,"b"]}"#;
        assert_eq!(lookup(json, "plan").and_then(text).as_deref(), Some("pro"));
        assert_eq!(lookup(json, "a").and_then(text).as_deref(), Some("1"));
        assert_eq!(lookup(r#"{"a":1.0,"b":2.5}"#, "a").and_then(text).as_deref(), Some("1"), "1.0 is 1");
        assert_eq!(lookup(r#"{"a":1.0,"b":2.5}"#, "b").and_then(text).as_deref(), Some("2.5"));
        assert_eq!(lookup(json, "flag").and_then(text).as_deref(), Some("true"));
        assert_eq!(lookup(json, "list").and_then(text).as_deref(), Some(r#"[1,"b"]"#));
        assert_eq!(lookup(json, "n").as_ref().and_then(number), Some(2.5));
        assert_eq!(lookup(json, "missing"), None);
        assert_eq!(lookup("not json", "a"), None);
        assert_eq!(lookup(r#"{"p\u0061":"escaped"}"#, "pa").and_then(text).as_deref(), Some("escaped"));
    }
}

/// A property's value as the list of its elements, for a breakdown that counts an event
/// once under each element of a list property: a JSON array's elements as text (as
/// [`text`] writes them), anything else as itself alone; an empty list, or no value, as one
/// NULL (the "(not set)" segment).
pub fn elements(value: Expr) -> Expr {
    elements_udf().call(vec![value])
}

fn elements_udf() -> ScalarUDF {
    ScalarUDF::from(Elements { signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Elements {
    signature: Signature,
}

impl ScalarUDFImpl for Elements {
    fn name(&self) -> &str {
        ELEMENTS
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [input] = args.args.as_slice() else { return exec_err!("tally_elements takes one argument") };
        let array = input.to_array(args.number_rows)?;
        let Some(values) = array.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("tally_elements takes a Utf8 column");
        };
        let mut out = ListBuilder::new(StringBuilder::new());
        for row in 0..values.len() {
            let items: Vec<Option<String>> = if values.is_null(row) {
                vec![None]
            } else {
                let value = values.value(row);
                match value.trim_start().starts_with('[').then(|| serde_json::from_str::<Vec<serde_json::Value>>(value))
                {
                    Some(Ok(list)) if !list.is_empty() => list.into_iter().map(text).collect(),
                    Some(Ok(_)) => vec![None],
                    _ => vec![Some(value.to_string())],
                }
            };
            for item in items {
                out.values().append_option(item);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
