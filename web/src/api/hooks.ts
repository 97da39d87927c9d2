// Server state shared by every screen.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router-dom";
import { get } from "./client";
import { chooseDataView, dataViewPaths } from "./dataViews";
import type { DataView, Me, Organization, OrgMember, OrgSummary, ProjectSummary } from "./types";

export function useMe() {
  return useQuery({ queryKey: ["me"], queryFn: ({ signal }) => get<Me>("/api/app/me", signal) });
}

export function useOrganization(orgId: number | undefined) {
  return useQuery({
    queryKey: ["org", orgId],
    queryFn: ({ signal }) => get<Organization>(`/api/app/organizations/${orgId}`, signal),
    enabled: orgId !== undefined,
  });
}

/** The organization's members (users, with their e-mails); needs `view_organization`. */
export function useOrgMembers(orgId: number | undefined) {
  return useQuery({
    queryKey: ["org", orgId, "members"],
    queryFn: ({ signal }) => get<OrgMember[]>(`/api/app/organizations/${orgId}/members`, signal),
    enabled: orgId !== undefined,
  });
}

export interface Current {
  me: Me | undefined;
  org: OrgSummary | undefined;
  project: ProjectSummary | undefined;
}

/** The organization and project the URL names (or the first ones the caller may open). */
export function useCurrent(): Current {
  const params = useParams();
  const { data: me } = useMe();
  const projectId = params.projectId ? Number(params.projectId) : undefined;
  const orgId = params.orgId ? Number(params.orgId) : undefined;
  const orgs = me?.organizations ?? [];
  let org: OrgSummary | undefined;
  let project: ProjectSummary | undefined;
  if (projectId !== undefined) {
    for (const candidate of orgs) {
      const found = candidate.projects.find((p) => p.id === projectId);
      if (found) {
        org = candidate;
        project = found;
      }
    }
  } else if (orgId !== undefined) {
    org = orgs.find((o) => o.id === orgId);
  }
  return { me, org, project };
}

/** Whether the caller holds a project permission (the server checks it again). */
export function mayInProject(project: ProjectSummary | undefined, permission: string): boolean {
  return project?.permissions.includes(permission) ?? false;
}

export const dataViewsKey = (projectId: number) => ["project", projectId, "data-views"] as const;

/** The data views of a project the caller may open (All Project Data, id 0, among them when
 * open to them); needs `view_reports`. */
export function useDataViews(projectId: number | undefined, enabled = true) {
  return useQuery({
    queryKey: dataViewsKey(projectId ?? 0),
    queryFn: ({ signal }) => get<DataView[]>(dataViewPaths.list(projectId ?? 0), signal),
    enabled: enabled && projectId !== undefined,
  });
}

/** Switches a project's reads to another data view (null: the server's default): what was
 * read through the previous one is dropped, and the screen, mounted afresh, reads again. */
export function useSwitchDataView() {
  const queryClient = useQueryClient();
  return (projectId: number, viewId: number | null) => {
    queryClient.removeQueries({ predicate: ({ queryKey }) => queryKey[0] === "project" && queryKey[1] === projectId && queryKey[2] !== "data-views" });
    chooseDataView(projectId, viewId);
  };
}
