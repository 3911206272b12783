// The paths the sidecar answers itself, compared the way its router compares them (in any case, a trailing slash
// ignored): none is ever forwarded, and of them only the dashboard's own files, and the metrics and health check
// unless protected, are open without the key.

/** The dashboard's files, by name under /dashboard/ ("" is the page itself). */
export const DASHBOARD_FILES = [
  "",
  "app.js",
  "dom.js",
  "format.js",
  "gpu.js",
  "sessions.js",
  "style.css",
  "uplot.js",
  "uplot.css",
] as const;
export type DashboardFile = (typeof DASHBOARD_FILES)[number];

/** A path as the router compares it: lower case, trailing slashes dropped. */
export function routerPath(path: string): string {
  return path.toLowerCase().replace(/\/+$/, "") || "/";
}

const DASHBOARD = new Set(DASHBOARD_FILES.map((f) => routerPath(`/dashboard/${f}`)));
/** Folders that are the sidecar's alone, and single paths. */
const OWN_FOLDERS = ["/dashboard", "/api", "/otlp"];
const OWN_PATHS = new Set(["/metrics", "/healthz"]);
/**
 * llama-server's (and llama-swap's) Ollama-compatible routes live under /api too, for clients that list models
 * the Ollama way (VS Code's Ollama provider): those are llama-server's, and go on to it (with the key).
 */
const UPSTREAM_API = new Set(["/api/tags", "/api/show"]);

export const isDashboardFile = (path: string): boolean => DASHBOARD.has(routerPath(path));

/** /metrics or /healthz: what Prometheus and health checks read. */
export const isMetricsPath = (path: string): boolean => OWN_PATHS.has(routerPath(path));

export function isOwnPath(path: string): boolean {
  const p = routerPath(path);
  if (UPSTREAM_API.has(p)) return false;
  return OWN_PATHS.has(p) || OWN_FOLDERS.some((f) => p === f || p.startsWith(`${f}/`));
}
