//! Mixpanel-compatible ingestion without I/O: decoding request bodies the way the official
//! SDKs send them (form `data=` as base64 or raw JSON, JSON bodies, NDJSON, gzip), and
//! validating events the way Mixpanel documents it, with one reason per refused record.
//!
//! The server resolves projects and stores what this crate accepts; nothing here touches a
//! disk or a socket.

pub mod decode;
pub mod event;
pub mod expr;
pub mod profiles;
pub mod validate;

pub use decode::{DecodeError, Payload, decode_items};
pub use event::Event;
pub use validate::{Endpoint, MAX_ITEMS, Outcome, RecordError, Rules, distinct_id_from_ip, validate_event};
