// The one way the app talks to Tally: JSON in, the `{status, results}` envelope out, and
// the server's own message on failure.
import { withDataView } from "./dataViews";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** `headers` adds to the usual ones (a public board's passcode, for one). */
export async function api<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal, headers?: Record<string, string>): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", signal, headers: { accept: "application/json", ...headers } };
  if (body instanceof Blob) {
    init.headers = { ...init.headers, "content-type": body.type || "text/plain" };
    init.body = body;
  } else if (body !== undefined) {
    init.headers = { ...init.headers, "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    // Reads of a project's data go through the data view the reader chose for it.
    response = await fetch(withDataView(path), init);
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "Tally cannot be reached: check your connection and try again.");
  }
  const text = await response.text();
  let payload: { status?: string; results?: unknown; error?: string; code?: string } = {};
  try {
    payload = text ? JSON.parse(text) : {};
  } catch {
    payload = {};
  }
  if (!response.ok) {
    throw new ApiError(response.status, payload.code ?? "http", payload.error ?? `The server answered ${response.status}.`);
  }
  return payload.results as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>("GET", path, undefined, signal);
export const post = <T>(path: string, body?: unknown, signal?: AbortSignal) => api<T>("POST", path, body ?? {}, signal);
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, body ?? {});
export const patch = <T>(path: string, body?: unknown) => api<T>("PATCH", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);

/** The message to show for any failure. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
