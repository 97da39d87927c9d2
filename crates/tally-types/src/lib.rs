//! Tally's shared vocabulary: typed ids, the clock, secrets and random tokens.
//!
//! Every other crate depends on this one, so it does no I/O and knows nothing of HTTP,
//! SQL or configuration files. Reading the wall clock happens only in [`clock`].

pub mod clock;
pub mod error;
pub mod identity;
pub mod ids;
pub mod permissions;
pub mod roles;
pub mod secret;
pub mod token;

pub use clock::{Clock, FakeClock, SharedClock, SystemClock};
pub use error::{Classified, ErrorKind};
pub use identity::IdMerge;
pub use ids::{AccessRequestId, InvitationId, OrgId, Principal, ProjectId, ServiceAccountId, TeamId, UserId};
pub use permissions::{OrgPermission, OrgPermissionSet, ProjectPermission, ProjectPermissionSet, ProjectRole};
pub use roles::OrgRole;
pub use secret::Secret;
