// The cohorts' server state: the list, one cohort, a page of its members, and the users
// behind a report's number (to save as one).
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import type { Cohort, CohortUsers } from "../../api/cohorts";
import type { Report } from "../../api/report";
import { type Selection, type SelectionUsers, selectionPath } from "../../api/selection";

export const cohortsBase = (projectId: number) => `/api/app/projects/${projectId}/cohorts`;

export const cohortKeys = {
  all: (projectId: number) => ["project", projectId, "cohorts"] as const,
  list: (projectId: number) => ["project", projectId, "cohorts", "list"] as const,
  one: (projectId: number, id: number) => ["project", projectId, "cohorts", "one", id] as const,
  users: (projectId: number, id: number, page: number, pageSize: number) => ["project", projectId, "cohorts", "users", id, page, pageSize] as const,
};

export function useCohorts(projectId: number, enabled = true) {
  return useQuery({
    queryKey: cohortKeys.list(projectId),
    queryFn: ({ signal }) => get<Cohort[]>(cohortsBase(projectId), signal),
    enabled,
  });
}

export function useCohort(projectId: number, id: number) {
  return useQuery({
    queryKey: cohortKeys.one(projectId, id),
    queryFn: ({ signal }) => get<Cohort>(`${cohortsBase(projectId)}/${id}`, signal),
  });
}

export function useCohortUsers(projectId: number, id: number, page: number, pageSize: number, enabled = true) {
  return useQuery({
    queryKey: cohortKeys.users(projectId, id, page, pageSize),
    queryFn: ({ signal }) => get<CohortUsers>(`${cohortsBase(projectId)}/${id}/users?page=${page}&page_size=${pageSize}`, signal),
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** The users behind one number of a report (all of them, up to 100,000), asked for only
 * while `enabled` (a dialog is open): asked afresh each time, as the data may have grown. */
export function useSelectionUsers(projectId: number, report: Report | null, selection: Selection | null, enabled: boolean) {
  return useQuery({
    queryKey: ["project", projectId, "query-users", report, selection],
    queryFn: ({ signal }) => post<SelectionUsers>(selectionPath(projectId), { report, selection }, signal),
    enabled: enabled && report != null && selection != null,
  });
}
