//! Plan functions that travel: a cluster's scheduler and executors are other processes,
//! so each of Tally's functions goes there as its name and what it holds (serde JSON,
//! written here), and is made again from them ([`encode`], [`decode`]). The query engine's
//! codec (`tally_query::cluster`) calls these for the store's functions and
//! [`state_of`]/[`from_state`] for its own.

use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{AggregateUDF, AggregateUDFImpl, ScalarUDF, ScalarUDFImpl};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What `udf` holds, when it is one of the store's functions (`None` otherwise).
pub fn encode(udf: &ScalarUDF) -> Option<DfResult<Vec<u8>>> {
    crate::read::encode(udf).or_else(|| crate::promoted::encode(udf)).or_else(|| crate::visibility::encode(udf))
}

/// The store's function `name` made again from what [`encode`] wrote (`None` when the name
/// is not one of the store's).
pub fn decode(name: &str, bytes: &[u8]) -> Option<DfResult<ScalarUDF>> {
    crate::read::decode(name, bytes)
        .or_else(|| crate::promoted::decode(name, bytes))
        .or_else(|| crate::visibility::decode(name, bytes))
}

/// What `state` writes of the function when `udf` is a `T` (`None` otherwise): write it
/// with [`written`].
pub fn state_of<T: ScalarUDFImpl>(
    udf: &ScalarUDF,
    state: impl FnOnce(&T) -> DfResult<Vec<u8>>,
) -> Option<DfResult<Vec<u8>>> {
    let function: &dyn std::any::Any = udf.inner().as_ref();
    function.downcast_ref::<T>().map(state)
}

/// [`state_of`] for an aggregate function.
pub fn aggregate_state_of<T: AggregateUDFImpl>(
    udaf: &AggregateUDF,
    state: impl FnOnce(&T) -> DfResult<Vec<u8>>,
) -> Option<DfResult<Vec<u8>>> {
    let function: &dyn std::any::Any = udaf.inner().as_ref();
    function.downcast_ref::<T>().map(state)
}

/// A function's state as bytes (serde JSON).
pub fn written<S: Serialize + ?Sized>(state: &S) -> DfResult<Vec<u8>> {
    serde_json::to_vec(state).map_err(|error| DataFusionError::Internal(format!("a plan function's state: {error}")))
}

/// What [`state_of`] wrote, read back for `name`.
pub fn from_state<S: DeserializeOwned>(name: &str, bytes: &[u8]) -> DfResult<S> {
    serde_json::from_slice(bytes).map_err(|error| {
        DataFusionError::Plan(format!(
            "the plan function {name} arrived unreadable ({error}); every process of a cluster must run the same Tally build"
        ))
    })
}
