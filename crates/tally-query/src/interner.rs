//! Small numbers for property values inside a per-user sequence: a funnel that holds
//! properties constant, or attributes an attempt to a step's value, needs each event's values
//! beside its time and step bits. [`Interner::call`] is a plan function giving each distinct
//! tuple of values (the held ones, then the breakdown's) a number; the finish reads back what
//! a number stands for. Two kinds:
//! - [`Interner::new`] numbers as rows pass, in a lock shared by the plan's partitions (one
//!   pass, one process). A number is given before its row reaches the aggregate, so a lookup
//!   in the finish always finds it.
//! - [`Interner::fixed`] is made from tuples a first query found; it never grows, so it can
//!   travel to a cluster's executors as plan state, and every process numbers alike. A tuple
//!   it does not know (an event that arrived between the two queries) gets the one number
//!   past the last, which stands for no values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, Int64Builder, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde::{Deserialize, Serialize};

/// Most distinct tuples one query may number: the numbers live in 22 bits of an event's code
/// (one is kept for the unknown tuple of a fixed numbering).
pub const MAX_TUPLES: usize = (1 << 22) - 1;

#[derive(Debug, Default)]
struct Numbers {
    /// Each tuple's values written one after another (see [`key`]), to its number.
    tuples: HashMap<String, i64>,
    /// Per tuple number: the number of its held values alone, and its breakdown value.
    held_of: Vec<i64>,
    segment_of: Vec<Option<String>>,
    held: HashMap<String, i64>,
    /// The tuples in number order, kept by a fixed numbering to travel by.
    kept: Option<Vec<Vec<Option<String>>>>,
}

impl Numbers {
    /// The number of `values` (the held values, then the segment's), given if new; `buffer`
    /// is scratch space.
    fn number(&mut self, values: &[Option<&str>], shape: Shape, buffer: &mut String) -> DfResult<i64> {
        key(buffer, values);
        if let Some(number) = self.tuples.get(buffer.as_str()) {
            return Ok(*number);
        }
        let number = self.tuples.len();
        if number >= MAX_TUPLES {
            return exec_err!(
                "more than {MAX_TUPLES} distinct values to hold constant or break down by; choose a property with fewer values"
            );
        }
        let tuple = buffer.clone();
        key(buffer, &values[..shape.held.min(values.len())]);
        let next_held = self.held.len() as i64;
        let held = *self.held.entry(buffer.clone()).or_insert(next_held);
        self.held_of.push(held);
        let segment = if shape.segment { values.get(shape.held).copied().flatten() } else { None };
        self.segment_of.push(segment.map(str::to_string));
        self.tuples.insert(tuple, number as i64);
        if let Some(kept) = &mut self.kept {
            kept.push(values.iter().map(|value| value.map(str::to_string)).collect());
        }
        Ok(number as i64)
    }
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

/// How many values of a tuple are held; whether one more is the segment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Shape {
    held: usize,
    segment: bool,
}

#[derive(Debug, Clone)]
enum Numbering {
    Growing(Arc<Mutex<Numbers>>),
    Fixed(Arc<Numbers>),
}

/// What a fixed numbering holds, as it travels: its shape and its tuples in number order.
#[derive(Serialize, Deserialize)]
pub(crate) struct FixedState {
    shape: Shape,
    tuples: Vec<Vec<Option<String>>>,
}

/// The numbering of one query's value tuples: `held` values first, then (with a breakdown)
/// one segment value.
#[derive(Debug, Clone)]
pub struct Interner {
    numbers: Numbering,
    shape: Shape,
}

impl Interner {
    /// A numbering that grows as rows pass; it stays in this process.
    pub fn new(held: usize, segment: bool) -> Interner {
        Interner { numbers: Numbering::Growing(Arc::default()), shape: Shape { held, segment } }
    }

    /// A numbering of `tuples` alone (each the held values, then the segment's).
    pub fn fixed(
        held: usize,
        segment: bool,
        tuples: impl IntoIterator<Item = Vec<Option<String>>>,
    ) -> DfResult<Interner> {
        let shape = Shape { held, segment };
        let mut numbers = Numbers { kept: Some(Vec::new()), ..Numbers::default() };
        let mut buffer = String::new();
        for tuple in tuples {
            let values: Vec<Option<&str>> = tuple.iter().map(Option::as_deref).collect();
            numbers.number(&values, shape, &mut buffer)?;
        }
        Ok(Interner { numbers: Numbering::Fixed(Arc::new(numbers)), shape })
    }

    /// A fixed numbering's state, to travel by; a growing one cannot leave its process.
    pub(crate) fn state(&self) -> DfResult<FixedState> {
        match &self.numbers {
            Numbering::Fixed(numbers) => {
                Ok(FixedState { shape: self.shape, tuples: numbers.kept.clone().unwrap_or_default() })
            }
            Numbering::Growing(_) => datafusion::common::plan_err!("{}", crate::cluster::STAYS_HERE),
        }
    }

    /// A fixed numbering made again from its [`Interner::state`].
    pub(crate) fn from_state(state: FixedState) -> DfResult<Interner> {
        Interner::fixed(state.shape.held, state.shape.segment, state.tuples)
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
        let mut buffer = String::new();
        match &self.numbers {
            Numbering::Growing(numbers) => {
                let Ok(mut numbers) = numbers.lock() else { return exec_err!("the value numbering was poisoned") };
                for values in rows {
                    out.append_value(numbers.number(&values, self.shape, &mut buffer)?);
                }
            }
            Numbering::Fixed(numbers) => {
                let unknown = numbers.tuples.len() as i64;
                for values in rows {
                    key(&mut buffer, &values);
                    out.append_value(numbers.tuples.get(buffer.as_str()).copied().unwrap_or(unknown));
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn number_for_tests(&self, values: Vec<Option<&str>>, out: &mut Int64Builder) {
        self.number(std::iter::once(values), out).unwrap();
    }

    /// A view of the numbers given so far, for the finish of one user's events.
    pub fn with<T>(&self, read: impl FnOnce(&Lookup<'_>) -> T) -> Option<T> {
        match &self.numbers {
            Numbering::Growing(numbers) => {
                let numbers = numbers.lock().ok()?;
                Some(read(&Lookup { numbers: &numbers }))
            }
            Numbering::Fixed(numbers) => Some(read(&Lookup { numbers })),
        }
    }

    /// The one numbering both kinds share an identity by (for plan equality).
    fn identity(&self) -> usize {
        match &self.numbers {
            Numbering::Growing(numbers) => Arc::as_ptr(numbers) as *const () as usize,
            Numbering::Fixed(numbers) => Arc::as_ptr(numbers) as *const () as usize,
        }
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

/// A fixed numbering travels as its tuples; a growing one cannot leave its process
/// ([`crate::cluster::STAYS_HERE`]): encoding it is a clear error.
pub(crate) fn encode_udf(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    tally_events::portable::state_of(udf, |intern: &Intern| {
        intern.interner.state().and_then(|state| tally_events::portable::written(&state))
    })
}

pub(crate) fn decode_udf(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    (name == INTERN).then(|| {
        if bytes.is_empty() {
            // The encoder dropped a growing numbering's refusal with its state.
            return datafusion::common::plan_err!("{}", crate::cluster::STAYS_HERE);
        }
        tally_events::portable::from_state(name, bytes).and_then(Interner::from_state).map(|interner| {
            ScalarUDF::from(Intern {
                interner,
                signature: Signature::variadic(vec![DataType::Utf8], Volatility::Volatile),
            })
        })
    })
}

#[derive(Debug)]
struct Intern {
    interner: Interner,
    signature: Signature,
}

impl PartialEq for Intern {
    fn eq(&self, other: &Self) -> bool {
        self.interner.identity() == other.interner.identity()
    }
}

impl Eq for Intern {}

impl std::hash::Hash for Intern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.interner.identity().hash(state);
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

    #[test]
    fn a_fixed_numbering_travels_as_its_tuples_and_gives_unknown_tuples_no_values() {
        let tuples = [("red", "ads"), ("red", "mail"), ("blue", "ads")]
            .map(|(held, segment)| vec![Some(held.to_string()), Some(segment.to_string())]);
        let fixed = Interner::fixed(1, true, tuples).unwrap();
        let state = serde_json::to_vec(&fixed.state().unwrap()).unwrap();
        let arrived = Interner::from_state(serde_json::from_slice(&state).unwrap()).unwrap();
        let rows = [vec![Some("blue"), Some("ads")], vec![Some("red"), Some("mail")], vec![Some("green"), None]];
        let here = numbers(&fixed, &rows);
        assert_eq!(numbers(&arrived, &rows), here, "every process numbers alike");
        assert_eq!(here, vec![2, 1, 3], "an unknown tuple gets the number past the last");
        arrived
            .with(|lookup| {
                assert_eq!(lookup.held(0), lookup.held(1));
                assert_ne!(lookup.held(1), lookup.held(2));
                assert_eq!(lookup.segment(2), Some("ads"));
                assert_eq!((lookup.held(3), lookup.segment(3)), (-1, None));
            })
            .unwrap();
        assert!(Interner::new(1, true).state().is_err(), "a growing numbering stays in its process");
    }
}
