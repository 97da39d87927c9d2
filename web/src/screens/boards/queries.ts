// Server state of boards, saved reports, public links and annotations, one query key each,
// so that a change made on one screen refreshes the others.
import { useQuery } from "@tanstack/react-query";
import { get, post } from "../../api/client";
import type { Answer, Report } from "../../api/report";
import type { Annotation, AnnotationTag, Board, BoardDetail, Bookmark, PublicLink } from "../../api/boards";
import type { ProjectMember, Team } from "../../api/types";

export const keys = {
  boards: (projectId: number) => ["project", projectId, "boards"] as const,
  board: (projectId: number, boardId: number) => ["project", projectId, "board", boardId] as const,
  bookmarks: (projectId: number) => ["project", projectId, "bookmarks"] as const,
  members: (projectId: number) => ["project", projectId, "members"] as const,
  publicLinks: (projectId: number) => ["project", projectId, "public-links"] as const,
  publicBoards: (projectId: number) => ["project", projectId, "public-boards"] as const,
  boardSettings: (projectId: number) => ["project", projectId, "board-settings"] as const,
  annotations: (projectId: number) => ["project", projectId, "annotations"] as const,
  annotationTags: (projectId: number) => ["project", projectId, "annotation-tags"] as const,
  teams: (orgId: number) => ["org", orgId, "teams"] as const,
};

export const base = (projectId: number) => `/api/app/projects/${projectId}`;

export function useBoards(projectId: number, enabled = true) {
  return useQuery({ queryKey: keys.boards(projectId), queryFn: ({ signal }) => get<Board[]>(`${base(projectId)}/boards`, signal), enabled });
}

export function useBoard(projectId: number, boardId: number) {
  return useQuery({
    queryKey: keys.board(projectId, boardId),
    queryFn: ({ signal }) => get<BoardDetail>(`${base(projectId)}/boards/${boardId}`, signal),
  });
}

export function useBookmarks(projectId: number, enabled = true) {
  return useQuery({
    queryKey: keys.bookmarks(projectId),
    queryFn: ({ signal }) => get<Bookmark[]>(`${base(projectId)}/bookmarks`, signal),
    enabled,
  });
}

/** The project's members (to name owners and to share with); needs `view_project_settings`. */
export function useMembers(projectId: number, enabled = true) {
  return useQuery({
    queryKey: keys.members(projectId),
    queryFn: ({ signal }) => get<ProjectMember[]>(`${base(projectId)}/members`, signal),
    enabled,
  });
}

export function useTeams(orgId: number | undefined) {
  return useQuery({
    queryKey: keys.teams(orgId ?? 0),
    queryFn: ({ signal }) => get<Team[]>(`/api/app/organizations/${orgId}/teams`, signal),
    enabled: orgId !== undefined,
  });
}

export function usePublicLinks(projectId: number, enabled = true) {
  return useQuery({
    queryKey: keys.publicLinks(projectId),
    queryFn: ({ signal }) => get<PublicLink[]>(`${base(projectId)}/public-links`, signal),
    enabled,
  });
}

export function usePublicBoards(projectId: number) {
  return useQuery({
    queryKey: keys.publicBoards(projectId),
    queryFn: ({ signal }) => get<{ enabled: boolean }>(`${base(projectId)}/public-boards`, signal),
  });
}

export function useBoardSettings(projectId: number) {
  return useQuery({
    queryKey: keys.boardSettings(projectId),
    queryFn: ({ signal }) => get<{ default_access: string }>(`${base(projectId)}/board-settings`, signal),
  });
}

/** The annotations of whole days `from`–`to` (`YYYY-MM-DD`), in the project's time zone. */
export function useAnnotations(projectId: number, from: string | undefined, to: string | undefined) {
  return useQuery({
    queryKey: [...keys.annotations(projectId), from, to],
    queryFn: ({ signal }) =>
      get<Annotation[]>(`${base(projectId)}/annotations?${new URLSearchParams({ fromDate: from ?? "", toDate: to ?? "" }).toString()}`, signal),
    enabled: Boolean(from && to),
  });
}

/** The annotations from day `from` to day `to` (`YYYY-MM-DD`, in the project's time zone);
 * either end left open when not given. */
export function useAnnotationList(projectId: number, from: string | null, to: string | null) {
  const params = new URLSearchParams();
  if (from) params.set("fromDate", from);
  if (to) params.set("toDate", to);
  return useQuery({
    queryKey: [...keys.annotations(projectId), "list", from, to],
    queryFn: ({ signal }) => get<Annotation[]>(`${base(projectId)}/annotations?${params.toString()}`, signal),
  });
}

/** The project's annotation tags, by name. */
export function useAnnotationTags(projectId: number, enabled = true) {
  return useQuery({
    queryKey: keys.annotationTags(projectId),
    queryFn: ({ signal }) => get<AnnotationTag[]>(`${base(projectId)}/annotations/tags`, signal),
    enabled,
  });
}

/** A saved report's answer, run as saved (`POST /query`). */
export function useSavedAnswer(projectId: number, report: Report | undefined) {
  const text = report ? JSON.stringify(report) : "";
  return useQuery({
    queryKey: ["project", projectId, "saved-answer", text],
    queryFn: ({ signal }) => post<Answer>(`${base(projectId)}/query`, report, signal),
    enabled: report !== undefined,
    staleTime: 60_000,
  });
}

/** Who a user id is, as the project's members list names them. */
export function memberName(members: ProjectMember[] | undefined, userId: number | null | undefined): string {
  if (userId == null) return "—";
  const found = members?.find((m) => m.principal.type === "user" && m.principal.id === userId);
  return found?.label ?? `User ${userId}`;
}
