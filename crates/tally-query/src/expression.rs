//! Mixpanel's segmentation expressions (`where`, `on`) inside the plans. The text is parsed
//! by `tally_ingest::expr` (a syntax error is a 400 that names the character), and each row
//! is evaluated by the same evaluator the export's `where` uses, so both read an expression
//! the same way. The function reads only the columns the expression names: the reserved
//! properties from their typed columns, `distinct_id` (canonical), `time` (seconds) and the
//! JSON column only when another property is named.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanBuilder, Float64Builder, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{DataFrame, ident};
use serde_json::{Map, Value};
use tally_events::parquet_file::TYPED_PROPERTIES;
use tally_ingest::expr::{self as segmentation, Eval};

use crate::QueryError;

/// What the expression's value becomes in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum Output {
    /// True where the expression holds (undefined is false).
    Condition,
    /// Its value as text (NULL when undefined or null): a segment.
    Text,
    /// Its value as a number (NULL unless it is one).
    Number,
}

/// Where the expression holds.
pub fn condition(text: &str) -> Result<Expr, QueryError> {
    compile(text, Output::Condition)
}

/// The expression's value as text, NULL where it has none.
pub fn text(text: &str) -> Result<Expr, QueryError> {
    compile(text, Output::Text)
}

/// The expression's value as a number, NULL where it is not one.
pub fn number(text: &str) -> Result<Expr, QueryError> {
    compile(text, Output::Number)
}

/// The events a report's `where` keeps (all of them without one).
pub(crate) fn filtered(frame: DataFrame, where_expression: Option<&str>) -> Result<DataFrame, QueryError> {
    match where_expression {
        Some(text) => frame.filter(condition(text)?).map_err(crate::engine_error),
        None => Ok(frame),
    }
}

/// How a named property is read from the event table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum Source {
    /// A column of text (typed property, `distinct_id`, the event's name).
    Text(String),
    /// `time_ms`, presented as seconds (as the export presents `time`).
    Time,
    /// The JSON column.
    Json,
}

fn source(name: &str) -> Source {
    match name {
        "distinct_id" | "$distinct_id" => Source::Text("distinct_id".into()),
        "time" | "$time" => Source::Time,
        "$event" | "event" => Source::Text("name".into()),
        "$insert_id" => Source::Text("insert_id".into()),
        name if TYPED_PROPERTIES.contains(&name) => Source::Text(name.into()),
        _ => Source::Json,
    }
}

/// The properties an expression names: the event's (`properties[...]`, `event[...]`) and
/// the user profile's (`user[...]`).
#[derive(Debug, Default)]
struct Named {
    event: BTreeSet<String>,
    user: BTreeSet<String>,
}

fn names(expr: &segmentation::Expr, into: &mut Named) {
    use segmentation::Expr as E;
    match expr {
        E::Property(segmentation::PropertyScope::User, name) => {
            into.user.insert(name.clone());
        }
        E::Property(_, name) => {
            into.event.insert(name.clone());
        }
        E::Literal(_) => {}
        E::List(items) | E::Call(_, items) => items.iter().for_each(|item| names(item, into)),
        E::Unary(_, inner) => names(inner, into),
        E::Binary(left, _, right) => {
            names(left, into);
            names(right, into);
        }
        E::In { needle, haystack, .. } => {
            names(needle, into);
            names(haystack, into);
        }
    }
}

/// Whether the expression reads a profile property (`user[...]`): the events then need
/// their users' profiles joined. False for text that does not parse (its error comes when
/// it is compiled).
pub(crate) fn reads_profiles(text: Option<&str>) -> bool {
    let Some(Ok(parsed)) = text.map(segmentation::parse) else { return false };
    let mut named = Named::default();
    names(&parsed, &mut named);
    !named.user.is_empty()
}

fn compile(text: &str, output: Output) -> Result<Expr, QueryError> {
    let parsed = segmentation::parse(text).map_err(|error| QueryError::invalid(error.to_string()))?;
    let mut named = Named::default();
    names(&parsed, &mut named);
    // Columns the function reads, in order: the JSON column first when any property needs
    // it, then the profile's JSON when a profile property is named, then typed columns.
    let mut columns: Vec<(String, Source)> = Vec::new();
    let mut arguments: Vec<Expr> = Vec::new();
    // The JSON column when a property lives there, or may (a reserved property sent as
    // something other than text).
    let reads_json =
        named.event.iter().any(|name| source(name) == Source::Json || TYPED_PROPERTIES.contains(&name.as_str()));
    if reads_json {
        arguments.push(ident("properties"));
    }
    let reads_user = !named.user.is_empty();
    if reads_user {
        arguments.push(ident(tally_events::USER_PROPERTIES));
    }
    for name in &named.event {
        match source(name) {
            Source::Json => {}
            Source::Time => {
                columns.push((name.clone(), Source::Time));
                arguments.push(ident("time_ms"));
            }
            Source::Text(column) => {
                columns.push((name.clone(), Source::Text(column.clone())));
                arguments.push(ident(column));
            }
        }
    }
    if arguments.is_empty() {
        // A constant expression still runs once per row: give it a column to count rows by.
        arguments.push(ident("time_ms"));
        columns.push(("".into(), Source::Time));
    }
    let udf = Segmentation {
        text: text.to_string(),
        expr: Arc::new(parsed),
        columns,
        reads_json,
        reads_user,
        output,
        signature: Signature::variadic_any(Volatility::Immutable),
    };
    Ok(ScalarUDF::from(udf).call(arguments))
}

const SEGMENTATION: &str = "tally_segmentation";

/// What an expression's function holds (its text parsed again where it arrives), for a
/// cluster ([`crate::cluster`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct SegmentationState {
    text: String,
    columns: Vec<(String, Source)>,
    reads_json: bool,
    reads_user: bool,
    output: Output,
}

pub(crate) fn encode_udf(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    tally_events::portable::state_of(udf, |function: &Segmentation| {
        tally_events::portable::written(&SegmentationState {
            text: function.text.clone(),
            columns: function.columns.clone(),
            reads_json: function.reads_json,
            reads_user: function.reads_user,
            output: function.output,
        })
    })
}

pub(crate) fn decode_udf(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    (name == SEGMENTATION).then(|| {
        let state: SegmentationState = tally_events::portable::from_state(name, bytes)?;
        let parsed = segmentation::parse(&state.text)
            .map_err(|error| datafusion::common::DataFusionError::Plan(format!("{name}: {error}")))?;
        Ok(ScalarUDF::from(Segmentation {
            text: state.text,
            expr: Arc::new(parsed),
            columns: state.columns,
            reads_json: state.reads_json,
            reads_user: state.reads_user,
            output: state.output,
            signature: Signature::variadic_any(Volatility::Immutable),
        }))
    })
}

/// Evaluates one parsed expression per row.
#[derive(Debug)]
struct Segmentation {
    text: String,
    expr: Arc<segmentation::Expr>,
    /// The named properties read from columns, in argument order (after the JSON column).
    columns: Vec<(String, Source)>,
    reads_json: bool,
    /// Whether the profile's JSON follows (after the event's JSON column, if read).
    reads_user: bool,
    output: Output,
    signature: Signature,
}

impl PartialEq for Segmentation {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.output == other.output
    }
}

impl Eq for Segmentation {}

impl std::hash::Hash for Segmentation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
        self.output.hash(state);
    }
}

enum Column {
    Text(StringArray),
    Time(Int64Array),
}

fn value_text(value: &Eval<'_>) -> Option<String> {
    match value {
        Eval::Undefined | Eval::Null => None,
        Eval::Bool(flag) => Some(flag.to_string()),
        Eval::Number(number) if number.fract() == 0.0 && number.abs() < 9e15 => Some((*number as i64).to_string()),
        Eval::Number(number) => Some(number.to_string()),
        Eval::String(text) => Some(text.to_string()),
        Eval::DateTime(time) => Some(time.to_string()),
        Eval::List(_) | Eval::Object(_) => None,
    }
}

impl ScalarUDFImpl for Segmentation {
    fn name(&self) -> &str {
        SEGMENTATION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.output {
            Output::Condition => DataType::Boolean,
            Output::Text => DataType::Utf8,
            Output::Number => DataType::Float64,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut arrays = args.args.iter().map(|arg| arg.to_array(rows));
        let mut json_column = |read: bool| -> DfResult<Option<StringArray>> {
            if !read {
                return Ok(None);
            }
            let array = arrays.next().transpose()?;
            let strings = array.and_then(|array| {
                datafusion::arrow::compute::cast(&array, &DataType::Utf8)
                    .ok()
                    .and_then(|array| array.as_any().downcast_ref::<StringArray>().cloned())
            });
            match strings {
                Some(strings) => Ok(Some(strings)),
                None => exec_err!("tally_segmentation: a properties column is not text"),
            }
        };
        let json = json_column(self.reads_json)?;
        let user_json = json_column(self.reads_user)?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (_, source) in &self.columns {
            let Some(array) = arrays.next().transpose()? else {
                return exec_err!("tally_segmentation: a column is missing");
            };
            let column = match source {
                Source::Time => array.as_any().downcast_ref::<Int64Array>().cloned().map(Column::Time),
                _ => datafusion::arrow::compute::cast(&array, &DataType::Utf8)
                    .ok()
                    .and_then(|array| array.as_any().downcast_ref::<StringArray>().cloned())
                    .map(Column::Text),
            };
            match column {
                Some(column) => columns.push(column),
                None => return exec_err!("tally_segmentation: a column has an unexpected type"),
            }
        }
        let mut conditions = BooleanBuilder::with_capacity(rows);
        let mut texts = StringBuilder::new();
        let mut numbers = Float64Builder::with_capacity(rows);
        for row in 0..rows {
            let mut record: Map<String, Value> = match &json {
                Some(json) if !json.is_null(row) => serde_json::from_str(json.value(row)).unwrap_or_default(),
                _ => Map::new(),
            };
            for ((name, _), column) in self.columns.iter().zip(&columns) {
                if name.is_empty() {
                    continue;
                }
                let value = match column {
                    Column::Text(array) if !array.is_null(row) => Value::String(array.value(row).to_string()),
                    Column::Time(array) if !array.is_null(row) => Value::from(array.value(row) / 1000),
                    _ => continue,
                };
                record.insert(name.clone(), value);
            }
            let user: Map<String, Value> = match &user_json {
                Some(json) if !json.is_null(row) => serde_json::from_str(json.value(row)).unwrap_or_default(),
                _ => Map::new(),
            };
            let value = self.expr.eval_in(&record, &user);
            match self.output {
                Output::Condition => conditions.append_value(value.to_boolean()),
                Output::Text => texts.append_option(value_text(&value)),
                Output::Number => numbers.append_option(match value {
                    Eval::Number(number) => Some(number),
                    _ => None,
                }),
            }
        }
        Ok(ColumnarValue::Array(match self.output {
            Output::Condition => Arc::new(conditions.finish()),
            Output::Text => Arc::new(texts.finish()),
            Output::Number => Arc::new(numbers.finish()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_properties_ask_for_the_profiles() {
        assert!(reads_profiles(Some(r#"user["plan"] == "pro""#)));
        assert!(!reads_profiles(Some(r#"properties["plan"] == "pro""#)));
        assert!(!reads_profiles(Some(r#"user["plan"] =="#)));
        assert!(!reads_profiles(None));
    }

    #[test]
    fn a_syntax_error_names_the_character() {
        let error = condition(r#"properties["a"] =="#).unwrap_err();
        assert!(matches!(error, QueryError::Invalid(_)));
        assert!(error.to_string().contains("at character"), "{error}");
    }

    #[test]
    fn only_the_named_columns_are_read() {
        let mut named = Named::default();
        names(&segmentation::parse(r#"properties["$browser"] == "x" and defined(user["plan"])"#).unwrap(), &mut named);
        assert_eq!(named.event.into_iter().collect::<Vec<_>>(), ["$browser"]);
        assert_eq!(named.user.into_iter().collect::<Vec<_>>(), ["plan"]);
        assert_eq!(source("$browser"), Source::Text("$browser".into()));
        assert_eq!(source("plan"), Source::Json);
        assert_eq!(source("time"), Source::Time);
    }
}
