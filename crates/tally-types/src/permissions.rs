//! Named permissions and the four default roles at each level, as sets rather than a
//! ranking: a principal's effective permissions are the union of what every grant gives
//! (Mixpanel's "all roles are additive"). Features check a named permission, never a role.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::roles::{OrgRole, UnknownRole};

macro_rules! permission_enum {
    ($(#[$doc:meta])* $name:ident, $set:ident, $markers:ident, $marker:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        /// A permission named at the type level: a domain function that needs it takes a
        /// permit typed by its marker, which only the authorization function can make.
        pub trait $marker {
            const PERMISSION: $name;
        }

        /// One zero-sized marker type per permission, named like it.
        pub mod $markers {
            $(
                #[derive(Debug, Clone, Copy)]
                pub struct $variant;
                impl super::$marker for $variant {
                    const PERMISSION: super::$name = super::$name::$variant;
                }
            )+
        }

        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn bit(self) -> u64 {
                1u64 << (self as u32)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownPermission;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|permission| permission.as_str() == text)
                    .ok_or_else(|| UnknownPermission(text.to_string()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        /// A set of permissions, as bits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $set(u64);

        impl $set {
            pub const EMPTY: $set = $set(0);

            pub fn of(permissions: &[$name]) -> $set {
                $set(permissions.iter().fold(0, |bits, permission| bits | permission.bit()))
            }

            pub fn all() -> $set {
                $set::of($name::ALL)
            }

            pub fn contains(self, permission: $name) -> bool {
                self.0 & permission.bit() != 0
            }

            pub fn union(self, other: $set) -> $set {
                $set(self.0 | other.0)
            }

            pub fn is_subset_of(self, other: $set) -> bool {
                self.0 & !other.0 == 0
            }

            pub fn is_empty(self) -> bool {
                self.0 == 0
            }

            pub fn iter(self) -> impl Iterator<Item = $name> {
                $name::ALL.iter().copied().filter(move |permission| self.contains(*permission))
            }

            pub fn names(self) -> Vec<&'static str> {
                self.iter().map($name::as_str).collect()
            }
        }

        impl FromIterator<$name> for $set {
            fn from_iter<I: IntoIterator<Item = $name>>(iter: I) -> Self {
                $set(iter.into_iter().fold(0, |bits, permission| bits | permission.bit()))
            }
        }
    };
}

/// The text was not a permission name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

permission_enum!(
    /// What an organization role allows (Mixpanel's organization action matrix).
    OrgPermission, OrgPermissionSet, org, OrgMarker {
        /// See the organization, its projects and its members.
        ViewOrganization = "view_organization",
        ViewBilling = "view_billing",
        ManageBilling = "manage_billing",
        CreateProjects = "create_projects",
        DeleteProjects = "delete_projects",
        TransferProjects = "transfer_projects",
        ManageTeams = "manage_teams",
        /// Add, invite and remove users, in the organization and its projects.
        ManageMembers = "manage_members",
        ManageServiceAccounts = "manage_service_accounts",
        /// Change organization roles, up to Admin.
        ModifyOrgRoles = "modify_org_roles",
        /// Make someone (or oneself) an organization Owner.
        GrantOrgOwner = "grant_org_owner",
        /// Two-factor enforcement, SSO and SCIM.
        ManageSecurity = "manage_security",
        ViewAuditLog = "view_org_audit_log",
        DeleteOrganization = "delete_organization",
    }
);

permission_enum!(
    /// What a project role allows (Mixpanel's project settings and analysis matrices).
    ProjectPermission, ProjectPermissionSet, project, ProjectMarker {
        // Analysis.
        ViewReports = "view_reports",
        SaveReports = "save_reports",
        ShareEntities = "share_entities",
        DownloadReports = "download_reports",
        CreateAlerts = "create_alerts",
        ManageAllAlerts = "manage_all_alerts",
        ViewUsers = "view_users",
        ExportUsers = "export_users",
        EditCohorts = "edit_cohorts",
        ExportCohorts = "export_cohorts",
        CreateBoards = "create_boards",
        CreateBoardSubscriptions = "create_board_subscriptions",
        MakeBoardsPublic = "make_boards_public",
        EditCustomDefinitions = "edit_custom_definitions",
        CreateAnnotations = "create_annotations",
        ExportEvents = "export_events",
        // Data management.
        EditProfiles = "edit_profiles",
        EditBorrowedProperties = "edit_borrowed_properties",
        UploadLookupTables = "upload_lookup_tables",
        MapLookupTables = "map_lookup_tables",
        EditLexicon = "edit_lexicon",
        MergeDropData = "merge_drop_data",
        DownloadLexicon = "download_lexicon",
        ImportEvents = "import_events",
        MarkClassifiedData = "mark_classified_data",
        AccessClassifiedData = "access_classified_data",
        // Settings and administration.
        ViewProjectSettings = "view_project_settings",
        EditProjectSettings = "edit_project_settings",
        ViewAccessKeys = "view_access_keys",
        ViewUsage = "view_usage",
        ManageProjectMembers = "manage_project_members",
        ManageProjectServiceAccounts = "manage_project_service_accounts",
        ManageCustomRoles = "manage_custom_roles",
        ViewProjectAuditLog = "view_project_audit_log",
        ManagePublicBoardsFeature = "manage_public_boards_feature",
        ManagePrivacyRequests = "manage_privacy_requests",
        ManageProjectSecurity = "manage_project_security",
        ResetProject = "reset_project",
        DeleteProject = "delete_project",
        TransferProject = "transfer_project",
    }
);

impl ProjectPermission {
    /// What the permission lets its holder do, in a sentence for a role editor.
    pub fn description(self) -> &'static str {
        use ProjectPermission::*;
        match self {
            ViewReports => "Open reports, boards and the Lexicon, and run Insights, Funnels, Retention and Flows.",
            SaveReports => "Save reports and change one's own saved reports.",
            ShareEntities => "Share reports and boards with other users and teams.",
            DownloadReports => "Download report results as CSV or images.",
            CreateAlerts => "Create alerts on saved reports.",
            ManageAllAlerts => "Change and delete every alert in the project, not only one's own.",
            ViewUsers => "See user profiles, their activity feeds and the live view of events.",
            ExportUsers => "Export user profiles as CSV.",
            EditCohorts => "Create and change cohorts.",
            ExportCohorts => "Export the users of a cohort.",
            CreateBoards => "Create boards.",
            CreateBoardSubscriptions => "Subscribe people to boards by e-mail.",
            MakeBoardsPublic => "Make public links to boards.",
            EditCustomDefinitions => "Create custom events, properties and formulas.",
            CreateAnnotations => "Add annotations to charts.",
            ExportEvents => "Export raw events (the export API).",
            EditProfiles => "Change and delete user profiles.",
            EditBorrowedProperties => "Change borrowed properties.",
            UploadLookupTables => "Upload lookup tables.",
            MapLookupTables => "Map lookup tables to properties.",
            EditLexicon => "Edit names, descriptions and tags in the Lexicon, and hide events.",
            MergeDropData => "Merge and drop events and properties.",
            DownloadLexicon => "Download the Lexicon.",
            ImportEvents => "Send events with a service account (the import API).",
            MarkClassifiedData => "Mark properties as classified.",
            AccessClassifiedData => "See the values of classified properties.",
            ViewProjectSettings => "See the project's settings and roles.",
            EditProjectSettings => "Change the project's name, time zone and identity merging.",
            ViewAccessKeys => "See the project token and API secret.",
            ViewUsage => "See the project's event volume.",
            ManageProjectMembers => "Add and remove the project's users and teams, and change their roles.",
            ManageProjectServiceAccounts => "Add and remove the project's service accounts.",
            ManageCustomRoles => "Create, change and delete custom roles.",
            ViewProjectAuditLog => "Read the project's audit log.",
            ManagePublicBoardsFeature => "Turn public board links on or off for the whole project.",
            ManagePrivacyRequests => "Retrieve or delete a person's data (GDPR and CCPA requests).",
            ManageProjectSecurity => "Change the project's security settings.",
            ResetProject => "Delete every event and profile of the project, keeping its settings.",
            DeleteProject => "Delete the project.",
            TransferProject => "Move the project to another organization.",
        }
    }
}

impl OrgRole {
    /// The organization permissions this role gives.
    pub fn permissions(self) -> OrgPermissionSet {
        use OrgPermission::*;
        match self {
            OrgRole::Owner => OrgPermissionSet::all(),
            OrgRole::Admin => OrgPermissionSet::of(&[
                ViewOrganization,
                CreateProjects,
                ManageTeams,
                ManageMembers,
                ManageServiceAccounts,
                ModifyOrgRoles,
                ManageSecurity,
                ViewAuditLog,
            ]),
            OrgRole::BillingAdmin => OrgPermissionSet::of(&[ViewOrganization, ViewBilling, ManageBilling]),
            OrgRole::Member => OrgPermissionSet::of(&[ViewOrganization]),
        }
    }

    /// The project role every project of the organization gives this org role, if any.
    pub fn implied_project_role(self) -> Option<ProjectRole> {
        match self {
            OrgRole::Owner => Some(ProjectRole::Owner),
            OrgRole::Admin => Some(ProjectRole::Admin),
            OrgRole::BillingAdmin | OrgRole::Member => None,
        }
    }

    /// Owners rank above Admins, who rank above Billing Admins and Members.
    pub fn rank(self) -> u8 {
        match self {
            OrgRole::Owner => 3,
            OrgRole::Admin => 2,
            OrgRole::BillingAdmin | OrgRole::Member => 1,
        }
    }
}

/// One of the four default project roles. Custom roles are permission sets stored per project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    Owner,
    Admin,
    Analyst,
    Consumer,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 4] =
        [ProjectRole::Owner, ProjectRole::Admin, ProjectRole::Analyst, ProjectRole::Consumer];

    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Owner => "owner",
            ProjectRole::Admin => "admin",
            ProjectRole::Analyst => "analyst",
            ProjectRole::Consumer => "consumer",
        }
    }

    /// The project permissions this role gives.
    pub fn permissions(self) -> ProjectPermissionSet {
        use ProjectPermission::*;
        let consumer = [
            ViewReports,
            SaveReports,
            ViewUsers,
            EditCohorts,
            CreateBoards,
            EditCustomDefinitions,
            UploadLookupTables,
            ViewProjectSettings,
        ];
        let analyst = [
            ShareEntities,
            DownloadReports,
            CreateAlerts,
            ExportUsers,
            ExportCohorts,
            CreateBoardSubscriptions,
            MakeBoardsPublic,
            CreateAnnotations,
            ExportEvents,
            DownloadLexicon,
        ];
        let admin = [
            EditProfiles,
            EditBorrowedProperties,
            MapLookupTables,
            EditLexicon,
            ImportEvents,
            EditProjectSettings,
            ViewAccessKeys,
            ViewUsage,
            ManageProjectMembers,
            ManageProjectServiceAccounts,
            ManageCustomRoles,
            ViewProjectAuditLog,
            ManagePrivacyRequests,
        ];
        let owner = [
            ManageAllAlerts,
            MergeDropData,
            ManagePublicBoardsFeature,
            ManageProjectSecurity,
            ResetProject,
            DeleteProject,
            TransferProject,
        ];
        let set = |groups: &[&[ProjectPermission]]| groups.iter().flat_map(|group| group.iter().copied()).collect();
        match self {
            ProjectRole::Consumer => set(&[&consumer]),
            ProjectRole::Analyst => set(&[&consumer, &analyst]),
            ProjectRole::Admin => set(&[&consumer, &analyst, &admin]),
            // Classified data is never in a default role (since April 2026): only custom roles grant it.
            ProjectRole::Owner => set(&[&consumer, &analyst, &admin, &owner]),
        }
    }
}

impl fmt::Display for ProjectRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProjectRole {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProjectRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole { given: text.to_string(), expected: "owner, admin, analyst, consumer" })
    }
}

/// What every custom role includes whatever its author chose (viewing reports, and
/// handling what one created).
pub fn custom_role_baseline() -> ProjectPermissionSet {
    ProjectPermissionSet::of(&[ProjectPermission::ViewReports, ProjectPermission::ViewProjectSettings])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for permission in ProjectPermission::ALL {
            assert_eq!(permission.as_str().parse::<ProjectPermission>(), Ok(*permission));
        }
        for permission in OrgPermission::ALL {
            assert_eq!(permission.as_str().parse::<OrgPermission>(), Ok(*permission));
        }
        assert!(ProjectPermission::ALL.len() <= 64 && OrgPermission::ALL.len() <= 64);
        assert!("fly".parse::<ProjectPermission>().is_err());
    }

    #[test]
    fn default_roles_nest() {
        let [owner, admin, analyst, consumer] = ProjectRole::ALL.map(ProjectRole::permissions);
        assert!(consumer.is_subset_of(analyst) && analyst.is_subset_of(admin) && admin.is_subset_of(owner));
        assert!(!owner.is_subset_of(admin));
        assert!(!owner.contains(ProjectPermission::AccessClassifiedData));
        assert!(OrgRole::Admin.permissions().is_subset_of(OrgRole::Owner.permissions()));
        assert!(!OrgRole::Admin.permissions().contains(OrgPermission::ManageBilling));
    }

    #[test]
    fn sets_union_and_serialize() {
        let a = ProjectPermissionSet::of(&[ProjectPermission::ViewReports]);
        let b = ProjectPermissionSet::of(&[ProjectPermission::ExportEvents]);
        let both = a.union(b);
        assert!(both.contains(ProjectPermission::ViewReports) && both.contains(ProjectPermission::ExportEvents));
        assert_eq!(both.names(), ["view_reports", "export_events"]);
    }
}
