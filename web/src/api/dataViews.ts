// Data views: which one the reader chose for each project (kept in this browser), the
// view the server opens when none is named, and the read routes that answer through the
// chosen one (`?workspace_id=`, added by the client to every request it sends).
import { useSyncExternalStore } from "react";
import type { DataView } from "./types";

/** The unfiltered view every project has. */
export const ALL_PROJECT_DATA = 0;

// The routes that read a project's data: reports and the users behind a report's number,
// profiles, activity, the live view, the Lexicon and its export, a cohort's users, its
// export and an unsaved cohort's preview.
const READS = /^\/api\/app\/projects\/(\d+)\/(query|query\/users|users|users\/activity|events\/live|lexicon|lexicon\/export|cohorts\/preview|cohorts\/\d+\/(?:users|export))(?:\?|$)/;

// This tab's choices: read from localStorage once, so that a choice made in another tab
// does not change what this one reads behind the back of its screens.
const chosen = new Map<number, number | null>();
const listeners = new Set<() => void>();
const storageKey = (projectId: number) => `tally.data-view.${projectId}`;

/** The view chosen for a project, or null for the one the server opens by default. */
export function chosenDataView(projectId: number): number | null {
  if (!chosen.has(projectId)) {
    let stored: string | null = null;
    try {
      stored = localStorage.getItem(storageKey(projectId));
    } catch {
      // No storage (a private window, or a test): the choice lasts as long as the tab.
    }
    const id = stored === null || stored === "" ? NaN : Number(stored);
    chosen.set(projectId, Number.isInteger(id) ? id : null);
  }
  return chosen.get(projectId) ?? null;
}

/** Chooses the view a project's reads go through (null: the server's default). */
export function chooseDataView(projectId: number, viewId: number | null) {
  chosen.set(projectId, viewId);
  try {
    if (viewId === null) localStorage.removeItem(storageKey(projectId));
    else localStorage.setItem(storageKey(projectId), String(viewId));
  } catch {
    // As above: kept for this tab only.
  }
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The view chosen for a project, re-rendering when the choice changes. */
export function useChosenDataView(projectId: number | undefined): number | null {
  return useSyncExternalStore(subscribe, () => (projectId === undefined ? null : chosenDataView(projectId)));
}

/** The view the server opens when a read names none: All Project Data when the caller may
 * open it, else the project's default view. */
export function defaultDataView(views: DataView[]): DataView | undefined {
  return views.find((v) => v.id === ALL_PROJECT_DATA) ?? views.find((v) => v.is_default) ?? views[0];
}

/** The view a reader sees: the chosen one while it is still open to them, else the default. */
export function effectiveDataView(views: DataView[], chosenId: number | null): DataView | undefined {
  return views.find((v) => v.id === chosenId) ?? defaultDataView(views);
}

/** `path` with the project's chosen view as `workspace_id` when it is a read route. */
export function withDataView(path: string): string {
  const match = READS.exec(path);
  if (!match || /[?&]workspace_id=/.test(path)) return path;
  const viewId = chosenDataView(Number(match[1]));
  if (viewId === null) return path;
  return `${path}${path.includes("?") ? "&" : "?"}workspace_id=${viewId}`;
}

export const dataViewPaths = {
  list: (projectId: number) => `/api/app/projects/${projectId}/data-views`,
  one: (projectId: number, viewId: number) => `/api/app/projects/${projectId}/data-views/${viewId}`,
  members: (projectId: number, viewId: number) => `/api/app/projects/${projectId}/data-views/${viewId}/members`,
};
