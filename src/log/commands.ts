// `llama-sidecar sessions | session <id|last> | export`: the request log read from the data dir, sidecar running or
// not (a read waits out a commit in progress, a few milliseconds at most).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "csv-stringify/sync";
import { safeParse } from "valibot";
import { defaultDataDir, energyPriceSchema } from "../config/options.js";
import { LOG_FILE, LogDb, type RequestFilter } from "../store/log-db.js";
import { ROW_COLUMNS } from "../store/log-row.js";
import { reportMarkdown, reportText, sessionsText } from "./report-text.js";
import type { EnergyPrice } from "./session-gpu.js";
import { sessionReport } from "./session-report.js";
import { parseTime } from "./time-range.js";

const USAGE = `usage:
  llama-sidecar sessions [--since 7d] [--until T] [--client C] [--model M] [--limit 20] [--json]
  llama-sidecar session <id|last> [--json | --markdown] [--energy-price "0.30 EUR"]
  llama-sidecar export [--since 7d] [--until T] [--session ID] [--format jsonl|csv]
each takes --data-dir DIR (default $LLAMA_SIDECAR_DATA_DIR, else ${defaultDataDir(process.env)}); a time is a
duration back from now (30m, 24h, 7d), today, yesterday, a date, an ISO time or epoch milliseconds`;

class UsageError extends Error {}
/** Asked right, but the log has no such thing: said without the usage. */
class NotFound extends Error {}

const OPTIONS = {
  "data-dir": { type: "string" },
  "energy-price": { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  client: { type: "string" },
  model: { type: "string" },
  session: { type: "string" },
  limit: { type: "string" },
  format: { type: "string" },
  json: { type: "boolean" },
  markdown: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function time(v: Values, name: "since" | "until", fallback?: string): number | undefined {
  const text = v[name] ?? fallback;
  if (text === undefined) return undefined;
  const t = parseTime(text);
  if (typeof t !== "number") throw new UsageError(`--${name}: ${t.error}`);
  return t;
}

function openLog(v: Values): LogDb {
  const dir = v["data-dir"] ?? (process.env.LLAMA_SIDECAR_DATA_DIR || defaultDataDir(process.env));
  if (!existsSync(join(dir, LOG_FILE))) {
    throw new NotFound(`no request log in ${dir} yet: the sidecar writes ${LOG_FILE} there as requests finish`);
  }
  return new LogDb(dir, { readonly: true });
}

function sessions(db: LogDb, v: Values, out: (s: string) => void): number {
  const limit = Number(v.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError("--limit must be a whole number above 0");
  const filter = { since: time(v, "since", "7d"), until: time(v, "until"), client: v.client, model: v.model };
  const list = db.sessions(filter, limit);
  out(v.json ? JSON.stringify(list, null, 2) : sessionsText(list));
  return 0;
}

function priceOf(text: string | undefined): EnergyPrice | undefined {
  if (text === undefined || text === "") return undefined;
  const price = safeParse(energyPriceSchema, text);
  if (!price.success) throw new UsageError(`--energy-price: ${price.issues[0].message}`);
  return price.output;
}

function session(db: LogDb, v: Values, which: string | undefined, out: (s: string) => void): number {
  if (!which) throw new UsageError("name the session: llama-sidecar session <id|last>");
  const id = which === "last" ? db.lastSession() : which;
  const energyPrice = priceOf(v["energy-price"] ?? process.env.LLAMA_SIDECAR_ENERGY_PRICE);
  const report = id === undefined ? undefined : sessionReport(id, db.session(id), db.agentEvents(id), { energyPrice });
  if (!report) throw new NotFound(`no session ${JSON.stringify(which)} in the request log`);
  out(v.json ? JSON.stringify(report, null, 2) : v.markdown ? reportMarkdown(report) : reportText(report));
  return 0;
}

function exportRows(db: LogDb, v: Values, out: (s: string) => void): number {
  const format = v.format ?? "jsonl";
  if (format !== "jsonl" && format !== "csv") throw new UsageError("--format must be jsonl or csv");
  const filter: RequestFilter = { since: time(v, "since", "7d"), until: time(v, "until"), session: v.session };
  const columns = ROW_COLUMNS.map(([key]) => key);
  if (format === "csv") out(stringify([], { header: true, columns }).trimEnd());
  let after: { endedAt: number; id: string } | undefined;
  for (;;) {
    const rows = db.pageAfter(filter, 500, after);
    if (rows.length === 0) break;
    const text =
      format === "csv"
        ? stringify(rows, { columns, cast: { boolean: (b) => String(b) } }).trimEnd()
        : rows.map((r) => JSON.stringify(r)).join("\n");
    out(text);
    const last = rows.at(-1);
    if (!last || rows.length < 500) break;
    after = { endedAt: last.endedAt, id: last.id };
  }
  return 0;
}

export async function runLogCommand(name: string, args: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
    if (values.help) {
      out(USAGE);
      return 0;
    }
    const db = openLog(values);
    try {
      if (name === "sessions") return sessions(db, values, out);
      if (name === "session") return session(db, values, positionals[0], out);
      return exportRows(db, values, out);
    } finally {
      db.close();
    }
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`llama-sidecar ${name}: ${(err as Error).message}\n${usage ? `\n${USAGE}\n` : ""}`);
    return usage ? 2 : 1;
  }
}
