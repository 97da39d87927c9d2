// The alerts' server state: the caller's alerts, one alert (with whether its report still
// fits it), and its checks, under one key so that a change refreshes them all.
import { useQuery } from "@tanstack/react-query";
import { get } from "../../api/client";
import { type Alert, type AlertCheck, alertPaths } from "../../api/alerts";

export const alertKeys = {
  all: (projectId: number) => ["project", projectId, "alerts"] as const,
  list: (projectId: number) => ["project", projectId, "alerts", "list"] as const,
  one: (projectId: number, alertId: number) => ["project", projectId, "alerts", "one", alertId] as const,
  history: (projectId: number, alertId: number) => ["project", projectId, "alerts", "history", alertId] as const,
};

export function useAlerts(projectId: number, enabled = true) {
  return useQuery({
    queryKey: alertKeys.list(projectId),
    queryFn: ({ signal }) => get<Alert[]>(alertPaths.list(projectId), signal),
    enabled,
  });
}

/** One alert as it stands now: the list says what its last check found, this also whether
 * its saved report has changed shape since (`placeholder`: what to show meanwhile). */
export function useAlert(projectId: number, alertId: number, placeholder?: Alert) {
  return useQuery({
    queryKey: alertKeys.one(projectId, alertId),
    queryFn: ({ signal }) => get<Alert>(alertPaths.one(projectId, alertId), signal),
    placeholderData: placeholder,
  });
}

export function useAlertHistory(projectId: number, alertId: number) {
  return useQuery({
    queryKey: alertKeys.history(projectId, alertId),
    queryFn: ({ signal }) => get<AlertCheck[]>(alertPaths.history(projectId, alertId), signal),
  });
}
