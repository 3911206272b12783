// Names the calling agent from its request headers, as one of a fixed set of label values.
import type { IncomingHttpHeaders } from "node:http";

export const CLIENTS = ["claude-code", "cline", "cursor", "continue", "other"] as const;
export type ClientName = (typeof CLIENTS)[number];

export function identifyClient(headers: IncomingHttpHeaders): ClientName {
  const ua = String(headers["user-agent"] ?? "").toLowerCase();
  const title = String(headers["x-title"] ?? "").toLowerCase();
  const referer = String(headers["http-referer"] ?? headers.referer ?? "").toLowerCase();
  // Claude Code sends "claude-cli/<version> (external, cli)"; its SDK mode uses "claude-code/...".
  if (ua.startsWith("claude-cli/") || ua.includes("claude-code")) return "claude-code";
  if (title === "cline" || referer.includes("cline.bot") || ua.includes("cline")) return "cline";
  if (ua.includes("cursor")) return "cursor";
  if (title === "continue" || ua.includes("continue")) return "continue";
  return "other";
}
