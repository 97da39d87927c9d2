//! Small numbers for property values inside a per-user sequence: a funnel that holds
//! properties constant, or attributes an attempt to a step's value, needs each event's values
//! beside its time and step bits. [`Interner::call`] is a plan function giving each distinct
//! tuple of values (the held ones, then the breakdown's) a number, in a lock shared by the
//! plan's partitions; the finish reads back what a number stands for. A number is given
//! before its row reaches the aggregate, so a lookup in the finish always finds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, Int64Builder, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Most distinct tuples one query may number: the numbers live in 22 bits of an event's code.
pub const MAX_TUPLES: usize = 1 << 22;

#[derive(Debug, Default)]
struct Numbers {
    /// Each tuple's values written one after another (see [`key`]), to its number.
    tuples: HashMap<String, i64>,
    /// Per tuple number: the number of its held values alone, and its breakdown value.
    held_of: Vec<i64>,
    segment_of: Vec<Option<String>>,
    held: HashMap<String, i64>,
}

/// Writes values into one key: each as a marker (set or not) then its text and a separator,
/// so no two different tuples share a key.
fn key(into: &mut String, values: &[Option<&str>]) {
    into.clear();
    for value in values {
        match value {
            Some(text) => {
                into.push('\u{2}');
                into.push_str(text);
            }
            None => into.push('\u{1}'),
        }
        into.push('\u{0}');
    }
}

/// The numbering of one query's value tuples: `held` values first, then (with a breakdown)
/// one segment value.
#[derive(Debug, Clone)]
pub struct Interner {
    numbers: Arc<Mutex<Numbers>>,
    held: usize,
    segment: bool,
}

impl Interner {
    pub fn new(held: usize, segment: bool) -> Interner {
        Interner { numbers: Arc::default(), held, segment }
    }

    /// The plan expression numbering `values` (the held values, then the segment's).
    pub fn call(&self, values: Vec<Expr>) -> Expr {
        ScalarUDF::from(Intern {
            interner: self.clone(),
            signature: Signature::variadic(vec![DataType::Utf8], Volatility::Volatile),
        })
        .call(values)
    }

    /// Numbers each row of `rows` (a tuple of values per row).
    fn number<'a>(&self, rows: impl Iterator<Item = Vec<Option<&'a str>>>, out: &mut Int64Builder) -> DfResult<()> {
        let Ok(mut numbers) = self.numbers.lock() else { return exec_err!("the value numbering was poisoned") };
        let mut buffer = String::new();
        for values in rows {
            key(&mut buffer, &values);
            if let Some(number) = numbers.tuples.get(buffer.as_str()) {
                out.append_value(*number);
                continue;
            }
            let number = numbers.tuples.len();
            if number >= MAX_TUPLES {
                return exec_err!(
                    "more than {MAX_TUPLES} distinct values to hold constant or break down by; choose a property with fewer values"
                );
            }
            let tuple = buffer.clone();
            key(&mut buffer, &values[..self.held.min(values.len())]);
            let next_held = numbers.held.len() as i64;
            let held = *numbers.held.entry(buffer.clone()).or_insert(next_held);
            numbers.held_of.push(held);
            let segment = if self.segment { values.get(self.held).copied().flatten() } else { None };
            numbers.segment_of.push(segment.map(str::to_string));
            numbers.tuples.insert(tuple, number as i64);
            out.append_value(number as i64);
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn number_for_tests(&self, values: Vec<Option<&str>>, out: &mut Int64Builder) {
        self.number(std::iter::once(values), out).unwrap();
    }

    /// A view of the numbers given so far, for the finish of one user's events.
    pub fn with<T>(&self, read: impl FnOnce(&Lookup<'_>) -> T) -> Option<T> {
        let numbers = self.numbers.lock().ok()?;
        Some(read(&Lookup { numbers: &numbers }))
    }
}

/// What tuple numbers stand for.
pub struct Lookup<'a> {
    numbers: &'a Numbers,
}

impl Lookup<'_> {
    /// The number of a tuple's held values (equal for equal held values).
    pub fn held(&self, tuple: i64) -> i64 {
        usize::try_from(tuple).ok().and_then(|index| self.numbers.held_of.get(index)).copied().unwrap_or(-1)
    }

    /// A tuple's breakdown value (`None` when not set).
    pub fn segment(&self, tuple: i64) -> Option<&str> {
        usize::try_from(tuple).ok().and_then(|index| self.numbers.segment_of.get(index)).and_then(Option::as_deref)
    }
}

const INTERN: &str = "tally_intern";

/// The numbering cannot leave its process ([`crate::cluster::STAYS_HERE`]): encoding or
/// decoding it is a clear error.
pub(crate) fn encode_udf(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    tally_events::portable::state_of(udf, |_: &Intern| datafusion::common::plan_err!("{}", crate::cluster::STAYS_HERE))
}

pub(crate) fn decode_udf(name: &str) -> Option<DfResult<ScalarUDF>> {
    (name == INTERN).then(|| datafusion::common::plan_err!("{}", crate::cluster::STAYS_HERE))
}

#[derive(Debug)]
struct Intern {
    interner: Interner,
    signature: Signature,
}

impl PartialEq for Intern {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.interner.numbers, &other.interner.numbers)
    }
}

impl Eq for Intern {}

impl std::hash::Hash for Intern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.interner.numbers) as usize).hash(state);
    }
}

impl ScalarUDFImpl for Intern {
    fn name(&self) -> &str {
        INTERN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args.args.iter().map(|value| value.to_array(rows)).collect::<DfResult<Vec<_>>>()?;
        let mut columns = Vec::with_capacity(arrays.len());
        for array in &arrays {
            let Some(strings) = array.as_any().downcast_ref::<StringArray>() else {
                return exec_err!("tally_intern takes Utf8 columns");
            };
            columns.push(strings);
        }
        let mut out = Int64Builder::with_capacity(rows);
        let tuples = (0..rows)
            .map(|row| columns.iter().map(|column| (!column.is_null(row)).then(|| column.value(row))).collect());
        self.interner.number(tuples, &mut out)?;
        Ok(ColumnarValue::Array(std::sync::Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(interner: &Interner, rows: &[Vec<Option<&str>>]) -> Vec<i64> {
        let mut out = Int64Builder::new();
        interner.number(rows.iter().cloned(), &mut out).unwrap();
        out.finish().values().to_vec()
    }

    #[test]
    fn equal_held_values_share_a_number_whatever_the_segment() {
        let interner = Interner::new(1, true);
        let rows = [
            vec![Some("red"), Some("ads")],
            vec![Some("red"), Some("mail")],
            vec![None, Some("ads")],
            vec![Some("red"), Some("ads")],
            vec![Some("re"), Some("dads")],
        ];
        let [a, b, c, again, shifted] = numbers(&interner, &rows)[..] else { panic!("five numbers") };
        assert_eq!(again, a);
        assert_ne!(shifted, a, "values never run into each other");
        interner
            .with(|lookup| {
                assert_eq!(lookup.held(a), lookup.held(b));
                assert_ne!(lookup.held(a), lookup.held(c));
                assert_eq!(lookup.segment(b), Some("mail"));
                assert_eq!(lookup.segment(c), Some("ads"));
                assert_eq!(lookup.segment(99), None);
            })
            .unwrap();
    }
}
