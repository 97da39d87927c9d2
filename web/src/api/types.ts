// Shapes of the settings API's answers that the server's OpenAPI document does not type
// yet (its `views` module). The report model and answers come from `schema.d.ts`,
// generated from the document.

export type OrgRole = "owner" | "admin" | "billing_admin" | "member";
export type ProjectRole = "owner" | "admin" | "analyst" | "consumer" | string;

export interface Grant {
  source: string;
  role: ProjectRole;
}

export interface ProjectSummary {
  id: number;
  organization_id: number;
  name: string;
  region: string;
  timezone: string;
  environment: string | null;
  token?: string;
  permissions: string[];
  grants: Grant[];
}

export interface OrgSummary {
  id: number;
  name: string;
  role: OrgRole;
  sign_in_required?: boolean;
  projects: ProjectSummary[];
}

export interface Me {
  user: { type: "user"; id: number; email: string; name: string } | { type: "service_account"; id: number; username: string };
  organizations: OrgSummary[];
}

export interface Organization {
  id: number;
  name: string;
  created: string;
  your_role: OrgRole;
  your_permissions: string[];
}

export interface OrgMember {
  user_id: number;
  email: string;
  name: string;
  role: OrgRole;
  joined: string;
}

export interface OrgProject {
  id: number;
  name: string;
  region: string;
  timezone: string;
  environment: string | null;
  your_permissions: string[];
  your_grants: Grant[];
}

export interface Invitation {
  id: number;
  email: string;
  organization_role: OrgRole;
  projects: { id: number; role: ProjectRole }[];
  invited_by: number;
  created: string;
  expires: string;
  last_sent: string;
  link?: string;
}

export interface InviteOutcome {
  sent: number;
  failed: number;
  rows: { row: number; email: string; status: "ok" | "error"; code?: string; error?: string; invitation?: Invitation }[];
}

export interface Team {
  id: number;
  name: string;
  created: string;
}

export type Principal = { type: "user"; id: number } | { type: "service_account"; id: number };

export interface TeamDetail extends Team {
  members: { principal: Principal; label: string }[];
  projects: { id: number; role: ProjectRole }[];
}

export interface ProjectMember {
  principal: Principal;
  label: string;
  grants: Grant[];
}

export interface ProjectSettings {
  id: number;
  organization_id: number;
  name: string;
  region: string;
  timezone: string;
  environment: string | null;
  id_merge: string;
  created: string;
}

export interface LexiconProperty {
  name: string;
  types: string[];
  count: number;
  first_seen: string | null;
  last_seen: string | null;
}

export interface LexiconEvent {
  name: string;
  count: number;
  first_seen: string | null;
  last_seen: string | null;
  properties: LexiconProperty[];
}

export type SignInStep =
  | { status: "signed_in"; user_id: number; email: string; recovery_codes?: string[] }
  | { status: "second_factor_required"; method: "totp" | "sms"; challenge: string }
  | { status: "enrollment_required"; challenge: string };

export interface Provisioning {
  otpauth_uri: string;
  qr_png_base64: string;
  secret: string;
}

export interface TwoFactorStatus {
  method: "totp" | "sms" | null;
  phone: string | null;
  recovery_codes_left: number;
  required_by_organization: boolean;
}

export interface SessionInfo {
  id: string;
  current: boolean;
  created: string;
  last_seen?: string;
  ip?: string;
  user_agent?: string;
}
