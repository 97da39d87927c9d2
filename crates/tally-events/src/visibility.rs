//! What a [`DataScope`](tally_iam::authz::DataScope) lets its holder see, applied on every
//! read of this crate: the rows of its data view (the view's conditions on events, and on
//! their users' profiles) and no values of the properties it hides (classified ones).
//!
//! The view's filters are the query engine's model: `tally-query` registers a
//! [`ViewPlanner`] that turns them into expressions. A read through a data view before one
//! is registered fails (closed), never shows the whole project.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast, lit,
};
use datafusion::prelude::{DataFrame, ident};
use tally_iam::authz::Visibility;

use crate::{StorageError, parquet_file, scan};

/// Turns a data view's filters (the report model's JSON) into conditions.
pub trait ViewPlanner: Send + Sync {
    /// The view's conditions on the events themselves (its event names and event-property
    /// filters), over the event table's columns, then its conditions on user profiles, over
    /// one column `user_properties` (the profile's properties as JSON text); `None` where it
    /// has none.
    fn conditions(&self, filters: &serde_json::Value) -> Result<(Option<Expr>, Option<Expr>), String>;
}

/// A scope's visibility, resolved for one read.
#[derive(Clone, Default)]
pub(crate) struct Restriction {
    /// Events outside the view fail it.
    pub event_condition: Option<Expr>,
    /// The canonical ids of the users whose profiles pass the view (`None`: every user).
    pub users: Option<Arc<HashSet<String>>>,
    /// Properties whose values are removed.
    pub hidden: Arc<Vec<String>>,
}

impl Restriction {
    pub fn is_none(&self) -> bool {
        self.event_condition.is_none() && self.users.is_none() && self.hidden.is_empty()
    }

    /// Whether the view keeps `canonical`'s data.
    pub fn keeps_user(&self, canonical: &str) -> bool {
        self.users.as_ref().is_none_or(|users| users.contains(canonical))
    }

    /// Removes the hidden properties from a property map.
    pub fn strip(&self, properties: &mut serde_json::Map<String, serde_json::Value>) {
        for name in self.hidden.iter() {
            properties.remove(name);
        }
    }

    /// `frame` (events in the file layout, `distinct_id` canonical) without the events
    /// outside the view and without the hidden values.
    pub fn apply_to_events(&self, frame: DataFrame) -> Result<DataFrame, StorageError> {
        let mut frame = frame;
        if let Some(condition) = &self.event_condition {
            frame = frame.filter(condition.clone()).map_err(scan::engine)?;
        }
        if let Some(users) = &self.users {
            let member = ScalarUDF::from(Member::new(Arc::clone(users)));
            frame = frame.filter(member.call(vec![ident("distinct_id")])).map_err(scan::engine)?;
        }
        if self.hidden.is_empty() {
            return Ok(frame);
        }
        let hidden = |name: &str| {
            let name = parquet_file::Promoted::of_column(name).map_or(name.to_string(), |promoted| promoted.name);
            self.hidden.contains(&name)
        };
        let columns: Vec<Expr> = frame
            .schema()
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                "properties" => EditProperties::call(Arc::clone(&self.hidden), Arc::default()),
                name if hidden(name) => cast(lit(ScalarValue::Null), field.data_type().clone()).alias(name),
                name => ident(name),
            })
            .collect();
        frame.select(columns).map_err(scan::engine)
    }
}

const MEMBER: &str = "tally_view_member";
const EDIT_PROPERTIES: &str = "tally_edit_properties";

/// Whether a (canonical) `distinct_id` is one of a set of users.
#[derive(Debug)]
struct Member {
    users: Arc<HashSet<String>>,
    signature: Signature,
}

impl Member {
    fn new(users: Arc<HashSet<String>>) -> Member {
        Member { users, signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) }
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.users, &other.users)
    }
}

impl Eq for Member {}

impl std::hash::Hash for Member {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.users) as usize).hash(state);
    }
}

impl ScalarUDFImpl for Member {
    fn name(&self) -> &str {
        MEMBER
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [input] = args.args.as_slice() else { return exec_err!("tally_view_member takes one argument") };
        let array = input.to_array(args.number_rows)?;
        let Some(ids) = array.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("tally_view_member takes a Utf8 column");
        };
        let out: datafusion::arrow::array::BooleanArray =
            (0..ids.len()).map(|index| Some(!ids.is_null(index) && self.users.contains(ids.value(index)))).collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// The planner's error for a view it cannot read: the read fails rather than show more.
pub(crate) fn unreadable(visibility: &Visibility, message: impl std::fmt::Display) -> StorageError {
    let view = visibility.view.as_ref().map_or(0, |view| view.id);
    StorageError::Io(format!("data view {view} cannot be applied: {message}"))
}

/// `frame` with the Lexicon's merges applied (queries only; the raw export keeps raw
/// names): merged events carry the name they merge into, and a merged property's value is
/// read under its new name (the new name's own value wins when an event has both).
pub(crate) fn merged(frame: DataFrame, merges: &tally_iam::authz::Merges) -> Result<DataFrame, StorageError> {
    if merges.events.is_empty() && merges.properties.is_empty() {
        return Ok(frame);
    }
    let renames =
        Arc::new(merges.properties.iter().map(|(from, into)| (from.clone(), into.clone())).collect::<Vec<_>>());
    let columns: Vec<Expr> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "name" if !merges.events.is_empty() => {
                let mut case = datafusion::logical_expr::case(ident("name"));
                for (from, into) in &merges.events {
                    case = case.when(lit(from.as_str()), lit(into.as_str()));
                }
                case.otherwise(ident("name")).unwrap_or_else(|_| ident("name")).alias("name")
            }
            "properties" if !renames.is_empty() => EditProperties::call(Arc::default(), Arc::clone(&renames)),
            // A renamed promoted property is read under its new name from the JSON (where
            // the rewrite of `properties` put it), never under the old one.
            name if parquet_file::Promoted::of_column(name)
                .is_some_and(|promoted| renames.iter().any(|(from, _)| *from == promoted.name)) =>
            {
                cast(lit(ScalarValue::Null), field.data_type().clone()).alias(name)
            }
            name => ident(name),
        })
        .collect();
    frame.select(columns).map_err(scan::engine)
}

/// A JSON properties column edited: `hidden` keys removed (unreadable text shows as `{}`,
/// never what it might hide), `renames` keys read under their new names (the new name's own
/// value wins; unreadable text stays as it is).
#[derive(Debug, PartialEq, Eq, Hash)]
struct EditProperties {
    hidden: Arc<Vec<String>>,
    renames: Arc<Vec<(String, String)>>,
    signature: Signature,
}

impl EditProperties {
    fn call(hidden: Arc<Vec<String>>, renames: Arc<Vec<(String, String)>>) -> Expr {
        let signature = Signature::exact(vec![DataType::Utf8], Volatility::Immutable);
        ScalarUDF::from(EditProperties { hidden, renames, signature })
            .call(vec![ident("properties")])
            .alias("properties")
    }
}

impl ScalarUDFImpl for EditProperties {
    fn name(&self) -> &str {
        EDIT_PROPERTIES
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [input] = args.args.as_slice() else { return exec_err!("tally_edit_properties takes one argument") };
        let array = input.to_array(args.number_rows)?;
        let Some(json) = array.as_any().downcast_ref::<StringArray>() else {
            return exec_err!("tally_edit_properties takes a Utf8 column");
        };
        let names: Vec<&String> = self.hidden.iter().chain(self.renames.iter().map(|(from, _)| from)).collect();
        let mut out = StringBuilder::with_capacity(json.len(), json.value_data().len());
        for index in 0..json.len() {
            if json.is_null(index) {
                out.append_null();
                continue;
            }
            let text = json.value(index);
            // Most rows hold none of the names: those pass as they are.
            if !names.iter().any(|name| text.contains(name.as_str())) {
                out.append_value(text);
                continue;
            }
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
                Ok(mut properties) => {
                    for name in self.hidden.iter() {
                        properties.remove(name);
                    }
                    for (from, into) in self.renames.iter() {
                        if let Some(value) = properties.remove(from) {
                            properties.entry(into.clone()).or_insert(value);
                        }
                    }
                    out.append_value(serde_json::Value::Object(properties).to_string());
                }
                Err(_) if !self.hidden.is_empty() => out.append_value("{}"),
                Err(_) => out.append_value(text),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// What a view's functions hold, for a cluster ([`crate::portable`]).
pub(crate) fn encode(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    crate::portable::state_of(udf, |member: &Member| crate::portable::written(member.users.as_ref())).or_else(|| {
        crate::portable::state_of(udf, |edit: &EditProperties| {
            crate::portable::written(&(edit.hidden.as_ref(), edit.renames.as_ref()))
        })
    })
}

pub(crate) fn decode(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    match name {
        MEMBER => Some(
            crate::portable::from_state::<HashSet<String>>(name, bytes)
                .map(|users| ScalarUDF::from(Member::new(Arc::new(users)))),
        ),
        EDIT_PROPERTIES => Some(crate::portable::from_state::<(Vec<String>, Vec<(String, String)>)>(name, bytes).map(
            |(hidden, renames)| {
                let signature = Signature::exact(vec![DataType::Utf8], Volatility::Immutable);
                ScalarUDF::from(EditProperties { hidden: Arc::new(hidden), renames: Arc::new(renames), signature })
            },
        )),
        _ => None,
    }
}
