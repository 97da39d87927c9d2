//! Typed ids, so that a project id cannot be passed where a user id is expected.
//!
//! Ids are 64-bit integers, as Mixpanel's are: its APIs take `project_id=123`.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(
    /// An organization.
    OrgId
);
id_type!(
    /// A project inside an organization.
    ProjectId
);
id_type!(
    /// A person's account.
    UserId
);
id_type!(
    /// A team inside an organization.
    TeamId
);
id_type!(
    /// A non-human member of one organization.
    ServiceAccountId
);
id_type!(
    /// A pending or answered invitation to an organization.
    InvitationId
);
id_type!(
    /// A member's request for access to a project.
    AccessRequestId
);

/// Who is acting: a person or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    User(UserId),
    ServiceAccount(ServiceAccountId),
}

impl Principal {
    /// The `principal_kind` stored beside grants and team memberships.
    pub fn kind(self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::ServiceAccount(_) => "service_account",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Principal::User(id) => id.0,
            Principal::ServiceAccount(id) => id.0,
        }
    }
}
