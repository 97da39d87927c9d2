//! Roles a principal can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's one role in an organization (Mixpanel's four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Owner,
    Admin,
    BillingAdmin,
    Member,
}

impl OrgRole {
    pub const ALL: [OrgRole; 4] = [OrgRole::Owner, OrgRole::Admin, OrgRole::BillingAdmin, OrgRole::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::BillingAdmin => "billing_admin",
            OrgRole::Member => "member",
        }
    }

    /// The role as a sentence names it: "an Owner", "a Billing Admin".
    pub fn with_article(self) -> &'static str {
        match self {
            OrgRole::Owner => "an Owner",
            OrgRole::Admin => "an Admin",
            OrgRole::BillingAdmin => "a Billing Admin",
            OrgRole::Member => "a Member",
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a role name; the message lists the names that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {given:?}: expected one of {expected}")]
pub struct UnknownRole {
    pub given: String,
    pub expected: &'static str,
}

impl FromStr for OrgRole {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OrgRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole { given: text.to_string(), expected: "owner, admin, billing_admin, member" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_roles_round_trip_through_text() {
        for role in OrgRole::ALL {
            assert_eq!(role.as_str().parse::<OrgRole>(), Ok(role));
        }
        let error = "superuser".parse::<OrgRole>().unwrap_err();
        assert!(error.to_string().contains("billing_admin"));
    }
}
