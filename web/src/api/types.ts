// Names for the API's answers, all generated from the server's OpenAPI document
// (`schema.d.ts`, by `scripts/api-types`): nothing here is written by hand.
import type { components } from "./schema";

type S = components["schemas"];

export type OrgRole = S["OrgRole"];
export type Grant = S["GrantView"];
export type Me = S["MeView"];
export type OrgSummary = S["OrgSummaryView"];
export type ProjectSummary = S["ProjectSummaryView"];
export type Organization = S["OrganizationView"];
export type OrgMember = S["OrgMemberView"];
export type OrgProject = S["OrgProjectView"];
export type Invitation = S["InvitationView"];
export type InviteOutcome = S["InviteOutcomesView"];
export type InvitationLookup = S["InvitationLookupView"];
export type Team = S["TeamView"];
export type TeamDetail = S["TeamDetailView"];
export type Principal = S["PrincipalView"];
export type ProjectMember = S["ProjectMemberView"];
export type ProjectSettings = S["ProjectSettingsView"];
export type Keys = S["KeysView"];
export type AccessRequest = S["AccessRequestView"];
export type LexiconEvent = S["LexiconEventView"];
export type Lexicon = S["LexiconView"];
export type SignInStep = S["SignInStepView"];
export type Provisioning = S["ProvisioningView"];
export type TwoFactorStatus = S["TwoFactorStatusView"];
export type SessionInfo = S["SessionView"];
export type Billing = S["BillingView"];
export type SsoSettings = S["SsoSettingsView"];
export type Domain = S["DomainView"];
export type OrgSecurity = S["OrgSecurityView"];
export type SsoDiscovery = S["SsoDiscoveryView"];
export type SetupLink = S["SetupLinkView"];
export type ScimToken = S["ScimTokenView"];
export type InvitationLink = S["InvitationLinkView"];
export type RecoveryCodes = S["RecoveryCodesView"];
export type ServiceAccount = S["ServiceAccountView"];
export type AuditEntry = S["AuditEntry"];

/** A request body as the server's document types it: `{...} satisfies Body<"SignInBody">`. */
export type Body<Name extends keyof S> = S[Name];
export type CustomRole = S["CustomRoleView"];
export type PermissionCatalog = S["PermissionCatalogView"];
export type DataView = S["DataViewView"];
export type DataViewMember = S["DataViewMemberView"];
export type DataViewFilters = S["DataViewFilters"];
