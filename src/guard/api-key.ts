// The optional API key: sent as "Authorization: Bearer <key>", "x-api-key: <key>" (what Claude Code, Cline and the
// SDKs send) or "api-key: <key>" (Azure-style clients), compared in constant time, never logged, forwarded or put on
// a span.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { isDashboardFile, isMetricsPath } from "../wire/own-paths.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The key a request carries, if any. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string" && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  // x-api-key: Anthropic's SDKs and Claude Code; api-key: Azure OpenAI's clients.
  const x = headers["x-api-key"] ?? headers["api-key"];
  return typeof x === "string" ? x.trim() : undefined;
}

/** Compares digests, so neither the key's content nor its length shows in the time taken. */
export function keyMatches(presented: string | undefined, expected: Buffer): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), expected);
}

export function expectedKey(key: string): Buffer {
  return digest(key);
}

/**
 * Open without the key: exactly the dashboard's own files (its data comes from /api/*), and the metrics and health
 * check unless protected, each matched as the router matches it. Any other path under /dashboard is a local 404,
 * never forwarded (app.ts).
 */
export function needsKey(path: string, protectMetrics: boolean): boolean {
  if (isDashboardFile(path)) return false;
  if (isMetricsPath(path)) return protectMetrics;
  return true;
}
