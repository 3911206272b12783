// The request log's own thread: it alone writes the SQLite file, so a transaction, a checkpoint or a prune never
// holds up the proxy's event loop. Each message names a LogDb method and its arguments; the answer carries its id.
import { parentPort, workerData } from "node:worker_threads";
import { LogDb } from "./log-db.js";

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
] as const;
export type LogOp = (typeof LOG_OPS)[number];

const port = parentPort;
if (port) {
  const ops = new Set<string>(LOG_OPS);
  let db: LogDb | undefined;
  let openError: Error | undefined;
  try {
    db = new LogDb((workerData as { dir: string }).dir);
  } catch (err) {
    openError = err as Error;
  }
  port.on("message", (call: LogCall | "close") => {
    if (call === "close") {
      db?.close();
      port.close();
      return;
    }
    try {
      if (!db) throw openError ?? new Error("the request log is not open");
      if (!ops.has(call.op)) throw new Error(`no such call: ${call.op}`);
      const fn = db[call.op] as (...a: unknown[]) => unknown;
      port.postMessage({ id: call.id, ok: true, value: fn.apply(db, call.args) } satisfies LogAnswer);
    } catch (err) {
      const e = err as Error & { code?: string };
      port.postMessage({ id: call.id, ok: false, error: e.message, code: e.code } satisfies LogAnswer);
    }
  });
}
