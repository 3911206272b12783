// The request log's read endpoints: sessions with their rollups, a search of requests, and a streamed export.
import { Readable } from "node:stream";
import type Router from "@koa/router";
import type { RouterMiddleware } from "@koa/router";
import { SidecarError } from "../errors.js";
import type { RequestFilter, SessionFilter } from "../store/log-db.js";
import { type LogRow, ROW_COLUMNS } from "../store/log-row.js";
import type { SidecarContext } from "../wire/context.js";
import { missText } from "./miss-text.js";
import type { RequestLog } from "./request-log.js";
import { parseTime } from "./time-range.js";

const PAGE_MAX = 500;
const EXPORT_PAGE = 500;

/** A query parameter given once, as text (a repeated one is the client's error). */
function param(ctx: SidecarContext, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new SidecarError("bad_request", `give ${name} once`);
  return v === undefined || v === "" ? undefined : v;
}

function time(ctx: SidecarContext, name: string): number | undefined {
  const text = param(ctx, name);
  if (text === undefined) return undefined;
  const t = parseTime(text);
  if (typeof t !== "number") throw new SidecarError("bad_request", `${name}: ${t.error}`);
  return t;
}

function count(ctx: SidecarContext, name: string, fallback: number, max: number): number {
  const text = param(ctx, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max)
    throw new SidecarError("bad_request", `${name} must be a whole number up to ${max}`);
  return n;
}

/** The filters a request search takes, from the query: every one optional. */
export function requestFilter(ctx: SidecarContext): RequestFilter {
  const f: RequestFilter = { since: time(ctx, "since"), until: time(ctx, "until") };
  for (const k of ["session", "cause", "model", "client", "upstream", "outcome"] as const) f[k] = param(ctx, k);
  return f;
}

/** A page's cursor: the last row's end and id, as `before` (or `after`) takes it back. */
const cursorOf = (r: LogRow | undefined) => (r ? `${r.endedAt}:${r.id}` : undefined);

function cursor(ctx: SidecarContext, name: string): { endedAt: number; id: string } | undefined {
  const text = param(ctx, name);
  if (text === undefined) return undefined;
  const at = text.indexOf(":");
  const endedAt = Number(text.slice(0, at));
  if (at < 1 || !Number.isFinite(endedAt))
    throw new SidecarError("bad_request", `${name} must be a page's next cursor`);
  return { endedAt, id: text.slice(at + 1) };
}

/** Rows as lines of JSON or CSV, a page of the log at a time: memory stays flat however much is exported. */
async function exportStream(log: RequestLog, filter: RequestFilter, format: "jsonl" | "csv"): Promise<Readable> {
  async function* pages() {
    let after: { endedAt: number; id: string } | undefined;
    for (;;) {
      const rows = await log.pageAfter(filter, EXPORT_PAGE, after);
      yield* rows;
      const last = rows.at(-1);
      if (!last || rows.length < EXPORT_PAGE) return;
      after = { endedAt: last.endedAt, id: last.id };
    }
  }
  if (format === "jsonl") {
    return Readable.from(
      (async function* () {
        for await (const r of pages()) yield `${JSON.stringify(r)}\n`;
      })(),
    );
  }
  // Loaded on the first CSV export, not at start: most sidecars never export one.
  const { stringify } = await import("csv-stringify");
  const columns = ROW_COLUMNS.map(([key]) => key);
  return Readable.from(pages()).pipe(
    stringify({ header: true, columns, cast: { boolean: (b) => (b ? "true" : "false") } }),
  );
}

export function addLogRoutes(router: Router, log: RequestLog, fresh: RouterMiddleware): void {
  // Every request that has ended is in the log before a read: records first (fresh), then the log's batch.
  const logged: RouterMiddleware = async (_ctx, next) => {
    await log.settled();
    return next();
  };
  router.get("/api/sessions", fresh, logged, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const limit = count(ctx, "limit", 50, PAGE_MAX);
    const offset = count(ctx, "offset", 0, Number.MAX_SAFE_INTEGER);
    const filter: SessionFilter = {
      since: time(ctx, "since"),
      until: time(ctx, "until"),
      client: param(ctx, "client"),
      model: param(ctx, "model"),
    };
    const sessions = await log.sessions(filter, limit, offset);
    ctx.body = { sessions, next: sessions.length === limit ? offset + limit : undefined };
  });
  router.get("/api/requests/export", fresh, logged, async (ctx) => {
    const format = param(ctx, "format") ?? "jsonl";
    if (format !== "jsonl" && format !== "csv") throw new SidecarError("bad_request", "format must be jsonl or csv");
    const filter = requestFilter(ctx);
    ctx.set("Cache-Control", "no-store");
    ctx.type = format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
    ctx.attachment(`llama-sidecar-requests.${format}`);
    ctx.body = await exportStream(log, filter, format);
  });
  const notFound = (what: string) => new SidecarError("not_found", what);
  router.get("/api/requests/:id/content", fresh, logged, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const content = await log.content(ctx.params.id ?? "");
    if (!content) throw notFound("no captured bodies for that request (--capture-content was off, or it is gone)");
    ctx.body = content;
  });
  router.get("/api/requests/:id/miss", fresh, logged, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const id = ctx.params.id ?? "";
    const row = await log.row(id);
    if (!row?.missCause) throw notFound("no cache miss on that request");
    const previous = await log.previousCaptured(id);
    const [now, before] = await Promise.all([log.content(id), previous ? log.content(previous) : undefined]);
    if (!now || !before) throw notFound("the miss's two turns need captured bodies (--capture-content)");
    const text = missText(row, before.request, now.request);
    if (!text) throw notFound(`the miss (${row.missLocation}) names no place in the prompt`);
    ctx.body = { ...text, previous };
  });
  router.get("/api/requests", fresh, logged, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const limit = count(ctx, "limit", 100, PAGE_MAX);
    const requests = await log.requests(requestFilter(ctx), limit, cursor(ctx, "before"));
    ctx.body = { requests, next: requests.length === limit ? cursorOf(requests.at(-1)) : undefined };
  });
}
