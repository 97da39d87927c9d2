//! The kinds of failure every crate's error maps to, so that the server can turn any of
//! them into an HTTP status in one place.

/// What kind of failure an error is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range; the message says what to fix.
    InvalidInput,
    /// No valid credentials came with the request.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// No such object, or not one the caller may see.
    NotFound,
    /// The object already exists or changed under the caller.
    Conflict,
    /// The request body is larger than allowed.
    TooLarge,
    /// Too many requests of this kind for now; retry later.
    RateLimited,
    /// A dependency (database, disk) is down for now; retrying later may work.
    Unavailable,
    /// An outside provider (mail, SMS) failed; the message, safe to show, says to retry.
    Upstream,
    /// The object's data lives in a region this node does not serve.
    Misdirected,
    /// Our fault. Clients see a request id, never the details.
    Internal,
}

/// An error that knows its kind and a stable machine-readable code such as
/// `invalid_email` or `setup_link_rejected`.
pub trait Classified: std::error::Error {
    fn kind(&self) -> ErrorKind;
    fn code(&self) -> &'static str;
}
