// Captured content as the request log keeps it (--capture-content only): redacted by pattern, capped, compressed.
import { gunzipSync, gzipSync } from "node:zlib";

/** A request's captured bodies, as text: what the client sent, and the completion it got. */
export interface Content {
  id: string;
  request: string;
  response?: string;
}

/** Secrets' shapes redacted from every body before it is kept, whatever the settings add. */
const BUILT_IN = [
  /sk-ant-[A-Za-z0-9_-]{20,}/g,
  /sk-[A-Za-z0-9_-]{20,}/g,
  /gh[pousr]_[A-Za-z0-9]{20,}/g,
  /AKIA[0-9A-Z]{16}/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/gi,
];

export const REDACTED = "[redacted]";

/** Replaces each pattern (the built-in ones, the settings', and literal secrets such as the sidecar's own keys). */
export function redactor(patterns: readonly string[], secrets: readonly string[]): (text: string) => string {
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const all = [
    ...BUILT_IN,
    ...patterns.map((p) => new RegExp(p, "g")),
    ...secrets.filter((s) => s.length >= 8).map((s) => new RegExp(literal(s), "g")),
  ];
  return (text) => all.reduce((t, re) => t.replace(re, REDACTED), text);
}

/** At most `maxBytes` of UTF-8, cut at a character, with a note of how much was left out. */
export function capped(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  const cut = bytes
    .subarray(0, maxBytes)
    .toString("utf8")
    .replace(/\uFFFD$/, "");
  return `${cut}\n[… ${bytes.length - Buffer.byteLength(cut)} bytes left out]`;
}

export const pack = (text: string | undefined): Buffer | null => (text === undefined ? null : gzipSync(text));
export const unpack = (blob: Uint8Array | null | undefined): string | undefined =>
  blob ? gunzipSync(blob).toString("utf8") : undefined;
