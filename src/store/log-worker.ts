// The request log's own thread: it alone writes the SQLite file, so a transaction, a checkpoint or a prune never
// holds up the proxy's event loop. Each message names a LogDb method and its arguments; the answer carries its id.
import { parentPort, workerData } from "node:worker_threads";
import { type Content, capped, redactor } from "./log-content.js";
import { LogDb } from "./log-db.js";

/** What the thread is started with: the log's folder, and how captured bodies are kept. */
export interface LogThreadData {
  dir: string;
  capture: { patterns: readonly string[]; secrets: readonly string[]; maxBytes: number };
}

/** A call of the log, and its answer. */
export interface LogCall {
  id: number;
  op: LogOp;
  args: unknown[];
}
export type LogAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string; code?: string };

/** The methods the main thread may call: everything but close, which ends the thread. */
export const LOG_OPS = [
  "insert",
  "requests",
  "pageAfter",
  "session",
  "lastSession",
  "sessions",
  "prune",
  "count",
  "usedBytes",
  "content",
  "previousCaptured",
  "row",
] as const;
export type LogOp = (typeof LOG_OPS)[number];

/**
 * The file is open only while in use, and closed after a second without calls: a disk may then be remounted
 * read-only (the kernel refuses while a file on it is open for writing).
 */
const IDLE_CLOSE_MS = 1000;

const port = parentPort;
if (port) {
  const ops = new Set<string>(LOG_OPS);
  const { dir, capture } = workerData as LogThreadData;
  const redact = redactor(capture.patterns, capture.secrets);
  // Captured bodies are redacted and capped here, off the proxy's thread, before they are compressed and kept.
  const keep = (b: Content): Content => ({
    id: b.id,
    request: capped(redact(b.request), capture.maxBytes),
    response: b.response === undefined ? undefined : capped(redact(b.response), capture.maxBytes),
  });
  let db: LogDb | undefined;
  let idle: NodeJS.Timeout | undefined;
  const open = (): LogDb => {
    clearTimeout(idle);
    db ??= new LogDb(dir);
    idle = setTimeout(() => {
      db?.close();
      db = undefined;
    }, IDLE_CLOSE_MS);
    return db;
  };
  port.on("message", (call: LogCall | "close") => {
    if (call === "close") {
      clearTimeout(idle);
      db?.close();
      port.close();
      return;
    }
    try {
      if (!ops.has(call.op)) throw new Error(`no such call: ${call.op}`);
      const log = open();
      const args = call.op === "insert" ? [call.args[0], ((call.args[1] ?? []) as Content[]).map(keep)] : call.args;
      const fn = log[call.op] as (...a: unknown[]) => unknown;
      port.postMessage({ id: call.id, ok: true, value: fn.apply(log, args) } satisfies LogAnswer);
    } catch (err) {
      const e = err as Error & { code?: string };
      port.postMessage({ id: call.id, ok: false, error: e.message, code: e.code } satisfies LogAnswer);
    }
  });
}
