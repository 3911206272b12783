// Browsers: a web page the user happens to visit must not use the local model or read what it says. The sidecar
// answers CORS itself; llama-server's own CORS answers (which reflect any origin) never reach a browser.
import type { IncomingHttpHeaders } from "node:http";

/** none: not from a browser page (agents, SDKs, curl); same: the sidecar's own pages; allowed: --allowed-origins. */
export type OriginVerdict = "none" | "same" | "allowed" | "refused";

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function judgeOrigin(method: string, headers: IncomingHttpHeaders, allowed: ReadonlySet<string>): OriginVerdict {
  const origin = first(headers.origin)?.toLowerCase();
  if (origin === undefined) {
    // No Origin: a no-cors request or a navigation. A page elsewhere still says where it is from; following a
    // link (a top-level navigation: the user sees the answer, the page that linked does not) is fine. A form's
    // POST navigates too, but sends a request the user never chose: only reading is a link followed.
    const reading = method === "GET" || method === "HEAD";
    if (first(headers["sec-fetch-mode"]) === "navigate" && reading) return "none";
    const site = first(headers["sec-fetch-site"]);
    return site === "cross-site" || site === "same-site" ? "refused" : "none";
  }
  const host = first(headers.host)?.toLowerCase();
  if (host && (origin === `http://${host}` || origin === `https://${host}`)) return "same";
  if (allowed.has(origin)) return "allowed";
  return "refused"; // "null" (sandboxed frames, files) included
}

/** Methods and how long a browser may keep a preflight's answer. */
const PREFLIGHT_METHODS = "GET, HEAD, POST";
const PREFLIGHT_MAX_AGE = "600";

/** Headers that let an allowed origin's page read an answer. */
export function corsHeaders(origin: string): Record<string, string> {
  return { "Access-Control-Allow-Origin": origin, Vary: "Origin" };
}

/** The answer to an allowed origin's preflight: what it may send. */
export function preflightHeaders(origin: string, requestedHeaders: string | undefined): Record<string, string> {
  return {
    ...corsHeaders(origin),
    "Access-Control-Allow-Methods": PREFLIGHT_METHODS,
    "Access-Control-Allow-Headers": requestedHeaders ?? "content-type, authorization, x-api-key",
    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
  };
}
