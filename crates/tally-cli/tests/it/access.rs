//! The access model over HTTP: the role matrix against an independent reference table,
//! tenant isolation over the whole route inventory, and the scenarios of the brief.

mod escalation;
mod isolation;
mod matrix;
mod reference;
mod routes;
mod scenario;
pub(crate) mod world;
