//! Reading promoted properties. Files keep a project's frequent custom properties in typed
//! columns (`p:<kind>:<name>`, [`crate::parquet_file::Promoted`]) and out of the JSON
//! column, so a plan that reads the JSON column alone would miss them. [`Promotions`] is an
//! analyzer rule every session reading events registers ([`register`]): it rewrites, where
//! a plan node's input has promoted columns,
//! - a property reader (`tally_property_text` / `tally_property_number`, whose names this
//!   module owns) over `properties` into the promoted columns' value, else the reader;
//! - any other use of `properties` inside an expression into the JSON with the promoted
//!   values put back ([`fold_in`]), so every function reading the JSON sees every property.
//!
//! How values read as text and numbers ([`text`], [`number`]) lives here too, so a value
//! reads the same from a column and from the JSON.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result as DfResult, exec_err};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::parquet_file::{Promoted, promoted_value};

/// The JSON column's name.
const PROPERTIES: &str = "properties";
/// The names of `tally-query`'s property readers over the JSON column.
pub const PROPERTY_TEXT: &str = "tally_property_text";
pub const PROPERTY_NUMBER: &str = "tally_property_number";
const FOLD_IN: &str = "tally_fold_in";
const PROMOTED_TEXT: &str = "tally_promoted_text";
const PROMOTED_NUMBER: &str = "tally_promoted_number";

/// A property's value as text, as filters and breakdowns see it.
pub fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number_text(&number)),
        other => Some(other.to_string()),
    }
}

/// A number as text, the way segments and filters see it: whole numbers without a fraction
/// (`1.0` and `1` are the same value), others as JSON writes them.
pub fn number_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(value) if number.is_f64() && value.fract() == 0.0 && value.abs() < 9e15 => (value as i64).to_string(),
        _ => number.to_string(),
    }
}

/// A property's value as a number: a JSON number, or text that reads as one.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|number| number.is_finite()),
        _ => None,
    }
}

/// Registers the rewrite in a session that reads events.
pub fn register(context: &SessionContext) {
    context.add_analyzer_rule(Arc::new(Promotions));
}

/// The analyzer rule (see the module's documentation).
#[derive(Debug, Default)]
pub struct Promotions;

impl AnalyzerRule for Promotions {
    fn name(&self) -> &str {
        "tally_promotions"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let columns = promoted_inputs(&node);
            if columns.is_empty() {
                return Ok(Transformed::no(node));
            }
            // Rewritten expressions keep the names the node's output schema gives them.
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                // A bare `properties` (kept as it is by a projection) stays the JSON column.
                let bare = match &expr {
                    Expr::Column(column) => column.name == PROPERTIES,
                    Expr::Alias(alias) => {
                        matches!(alias.expr.as_ref(), Expr::Column(column) if column.name == PROPERTIES)
                    }
                    _ => false,
                };
                if bare {
                    return Ok(Transformed::no(expr));
                }
                let name = names.save(&expr);
                Ok(rewrite(expr, &columns)?.update_data(|expr| name.restore(expr)))
            })
        })
        .map(|transformed| transformed.data)
    }
}

/// The promoted columns the inputs of `node` offer, with the column each is read from.
fn promoted_inputs(node: &LogicalPlan) -> Vec<(Promoted, Column)> {
    let mut found = Vec::new();
    for input in node.inputs() {
        collect(input.schema(), &mut found);
    }
    found
}

fn collect(schema: &DFSchema, found: &mut Vec<(Promoted, Column)>) {
    for (qualifier, field) in schema.iter() {
        if let Some(promoted) = Promoted::of_column(field.name()) {
            found.push((promoted, Column::new(qualifier.cloned(), field.name())));
        }
    }
}

fn rewrite(expr: Expr, columns: &[(Promoted, Column)]) -> DfResult<Transformed<Expr>> {
    expr.transform_down(|expr| match &expr {
        Expr::ScalarFunction(call) => {
            let name = call.func.name();
            if name == FOLD_IN || name == PROMOTED_TEXT || name == PROMOTED_NUMBER {
                return Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump));
            }
            if (name == PROPERTY_TEXT || name == PROPERTY_NUMBER)
                && let [Expr::Column(json), Expr::Literal(datafusion::common::ScalarValue::Utf8(Some(property)), _)] =
                    call.args.as_slice()
                && json.name == PROPERTIES
            {
                let numeric = name == PROPERTY_NUMBER;
                let mut reads: Vec<Expr> = columns
                    .iter()
                    .filter(|(promoted, _)| promoted.name == *property)
                    .map(|(_, column)| read(numeric).call(vec![Expr::Column(column.clone())]))
                    .collect();
                if reads.is_empty() {
                    // Not promoted: the JSON holds it whole, and the reader reads only it.
                    return Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump));
                }
                reads.push(expr.clone());
                let read = datafusion::functions::expr_fn::coalesce(reads);
                return Ok(Transformed::new(read, true, TreeNodeRecursion::Jump));
            }
            Ok(Transformed::no(expr))
        }
        Expr::Column(column) if column.name == PROPERTIES => {
            let mut args = vec![expr.clone()];
            args.extend(columns.iter().map(|(_, column)| Expr::Column(column.clone())));
            let names = columns.iter().map(|(promoted, _)| promoted.name.clone()).collect();
            // Not into the new call: its first argument is this column again.
            Ok(Transformed::new(fold_in(names).call(args), true, TreeNodeRecursion::Jump))
        }
        _ => Ok(Transformed::no(expr)),
    })
}

/// A promoted column's value as a property reader gives it: text or a number.
fn read(numeric: bool) -> ScalarUDF {
    ScalarUDF::from(PromotedRead { numeric, signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PromotedRead {
    numeric: bool,
    signature: Signature,
}

impl ScalarUDFImpl for PromotedRead {
    fn name(&self) -> &str {
        if self.numeric { PROMOTED_NUMBER } else { PROMOTED_TEXT }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.numeric { DataType::Float64 } else { DataType::Utf8 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [column] = args.args.as_slice() else { return exec_err!("{} takes one column", self.name()) };
        let array = column.to_array(args.number_rows)?;
        // Text columns read as text without going through JSON values.
        if !self.numeric
            && let Some(strings) = array.as_any().downcast_ref::<StringArray>()
        {
            return Ok(ColumnarValue::Array(Arc::new(strings.clone())));
        }
        let rows = array.len();
        if self.numeric {
            let mut out = Float64Builder::with_capacity(rows);
            for row in 0..rows {
                out.append_option(promoted_value(array.as_ref(), row).as_ref().and_then(number));
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            out.append_option(promoted_value(array.as_ref(), row).and_then(text));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `tally_fold_in(properties, column…)`: the JSON with the promoted columns' values put
/// back under their `names` (unchanged text where a row has none).
fn fold_in(names: Vec<String>) -> ScalarUDF {
    ScalarUDF::from(FoldIn { names, signature: Signature::variadic_any(Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FoldIn {
    names: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for FoldIn {
    fn name(&self) -> &str {
        FOLD_IN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|value| value.to_array(rows)).collect::<DfResult<_>>()?;
        let Some((json, columns)) = arrays.split_first() else { return exec_err!("{FOLD_IN} takes the JSON column") };
        let Some(json) = json.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("{FOLD_IN} takes the JSON column as Utf8");
        };
        let mut out = StringBuilder::with_capacity(rows, json.value_data().len());
        for row in 0..rows {
            if json.is_null(row) {
                out.append_null();
                continue;
            }
            let values: Vec<(&String, Value)> = self
                .names
                .iter()
                .zip(columns)
                .filter_map(|(name, column)| promoted_value(column.as_ref(), row).map(|value| (name, value)))
                .collect();
            if values.is_empty() {
                out.append_value(json.value(row));
                continue;
            }
            match serde_json::from_str::<Map<String, Value>>(json.value(row)) {
                Ok(mut map) => {
                    for (name, value) in values {
                        map.entry(name.clone()).or_insert(value);
                    }
                    out.append_value(Value::Object(map).to_string());
                }
                // Unreadable text stays as it is, as the readers would see it.
                Err(_) => out.append_value(json.value(row)),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// What the rewrite's functions hold, for a cluster ([`crate::portable`]).
pub(crate) fn encode(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    crate::portable::state_of(udf, |read: &PromotedRead| crate::portable::written(&read.numeric))
        .or_else(|| crate::portable::state_of(udf, |fold: &FoldIn| crate::portable::written(&fold.names)))
}

pub(crate) fn decode(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    match name {
        PROMOTED_TEXT | PROMOTED_NUMBER => Some(crate::portable::from_state(name, bytes).map(read)),
        FOLD_IN => Some(crate::portable::from_state(name, bytes).map(fold_in)),
        _ => None,
    }
}
