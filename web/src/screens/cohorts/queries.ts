// The cohorts' server state: the list, one cohort, a page of its members, and saving one.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { get } from "../../api/client";
import type { Cohort, CohortUsers } from "../../api/cohorts";

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
