// The optional API key: sent as "Authorization: Bearer <key>" or "x-api-key: <key>" (what Claude Code, Cline and
// the SDKs send), compared in constant time, never logged, forwarded or put on a span.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The key a request carries, if any. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string" && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  const x = headers["x-api-key"];
  return typeof x === "string" ? x.trim() : undefined;
}

/** Compares digests, so neither the key's content nor its length shows in the time taken. */
export function keyMatches(presented: string | undefined, expected: Buffer): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), expected);
}

export function expectedKey(key: string): Buffer {
  return digest(key);
}

/** Open without the key: the dashboard's own files (its data comes from /api/*), and metrics unless protected. */
export function needsKey(path: string, protectMetrics: boolean): boolean {
  if (path === "/dashboard" || path.startsWith("/dashboard/")) return false;
  if (path === "/metrics" || path === "/healthz") return protectMetrics;
  return true;
}
