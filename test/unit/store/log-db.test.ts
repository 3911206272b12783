// The request log's SQL layer against a real SQLite file (libsql): rows in and out, searches, pages, retention.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterEach, describe, expect, it } from "vitest";
import { LOG_FILE, LOG_SCHEMA_VERSION, LogDb } from "../../../src/store/log-db.js";
import type { LogRow } from "../../../src/store/log-row.js";

const dirs: LogDb[] = [];
afterEach(() => {
  for (const db of dirs.splice(0)) db.close();
});

function open(dir = mkdtempSync(join(tmpdir(), "llama-sidecar-logdb-"))): { db: LogDb; dir: string } {
  const db = new LogDb(dir);
  dirs.push(db);
  return { db, dir };
}

function row(i: number, over: Partial<LogRow> = {}): LogRow {
  return {
    id: `r${String(i).padStart(3, "0")}`,
    startedAt: 1_000_000 + i * 1000,
    endedAt: 1_000_500 + i * 1000,
    session: `s${i % 3}`,
    client: i % 2 ? "claude-code" : "openai-sdk",
    model: "tiny",
    upstream: "default",
    route: "/v1/messages",
    outcome: "ok",
    status: 200,
    stream: true,
    prefill: 100,
    cached: 50,
    generated: 10,
    durationMs: 500,
    judged: true,
    ...over,
  };
}

describe("the request log's SQL layer", () => {
  it("keeps a row as it was given, once: a second insert of its id leaves the first", () => {
    const { db } = open();
    const r = row(1, { missCause: "prefix_changed", missLocation: "messages[2]", cacheLost: 40, nCtx: 8192 });
    expect(db.insert([r, row(2)])).toBe(2);
    expect(db.insert([{ ...r, judged: false, missCause: undefined }])).toBe(0);
    expect(db.session("s1")).toEqual([r]);
    expect(db.count()).toBe(2);
  });

  it("takes a batch larger than one statement's rows, counting only the new ones, every value as given", () => {
    const { db } = open();
    const first = Array.from({ length: 40 }, (_, i) =>
      row(i, { ttftMs: i + 0.5, background: i % 4 ? undefined : "haiku" }),
    );
    expect(db.insert(first)).toBe(40);
    // 70 rows: two full statements and a short one; the first 40 are there already.
    const more = Array.from({ length: 70 }, (_, i) => row(i, { stream: i % 2 === 0 }));
    expect(db.insert(more)).toBe(30);
    expect(db.count()).toBe(70);
    const oldestFirst = db.pageAfter({}, 100);
    expect(oldestFirst).toEqual([...first, ...more.slice(40)]);
  });

  it("searches by each filter, newest first, a page at a time with a cursor", () => {
    const { db } = open();
    db.insert(Array.from({ length: 30 }, (_, i) => row(i, i === 7 ? { slowdownCause: "batch_contention" } : {})));
    const first = db.requests({ session: "s1" }, 4);
    expect(first.map((r) => r.id)).toEqual(["r028", "r025", "r022", "r019"]);
    const last = first.at(-1) as LogRow;
    expect(db.requests({ session: "s1" }, 4, { endedAt: last.endedAt, id: last.id }).map((r) => r.id)).toEqual([
      "r016",
      "r013",
      "r010",
      "r007",
    ]);
    expect(db.requests({ cause: "batch_contention" }, 10).map((r) => r.id)).toEqual(["r007"]);
    expect(db.requests({ client: "openai-sdk", since: 1_020_000, until: 1_025_000 }, 10).map((r) => r.id)).toEqual([
      "r024",
      "r022",
      "r020",
    ]);
    expect(db.requests({ model: "other" }, 10)).toEqual([]);
  });

  it("pages oldest first for an export, every row once", () => {
    const { db } = open();
    db.insert(Array.from({ length: 25 }, (_, i) => row(i)));
    const seen: string[] = [];
    let after: LogRow | undefined;
    for (;;) {
      const page = db.pageAfter({}, 7, after);
      seen.push(...page.map((r) => r.id));
      after = page.at(-1);
      if (page.length < 7) break;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => row(i).id));
  });

  it("sums each session in a range, the latest first", () => {
    const { db } = open();
    db.insert([
      row(1, { session: "a", missCause: "prefix_changed", lostPrefillMs: 120 }),
      row(2, { session: "a", model: "big", outcome: "upstream_error", status: 502 }),
      row(3, { session: "b" }),
      row(4, { session: undefined }),
      row(5, { session: "c", missCause: "context_overflow", outcome: "rejected", status: 400 }),
    ]);
    const list = db.sessions({}, 10);
    expect(list.map((s) => s.id)).toEqual(["c", "b", "a"]);
    // A prompt refused as too long re-processed nothing: an error of its session, not a cache miss.
    expect(list[0]).toMatchObject({ requests: 1, misses: 0, lostPrefillMs: 0, errors: 1 });
    expect(list[2]).toMatchObject({
      requests: 2,
      prefill: 200,
      generated: 20,
      misses: 1,
      lostPrefillMs: 120,
      errors: 1,
      startedAt: row(1).startedAt,
      endedAt: row(2).endedAt,
    });
    expect(new Set(list[2]?.models)).toEqual(new Set(["tiny", "big"]));
    expect(db.sessions({ since: row(3).endedAt }, 10).map((s) => s.id)).toEqual(["c", "b"]);
    expect(db.lastSession()).toBe("c");
  });

  it("deletes what is older than the cutoff, then the oldest until the file fits, a bounded slice per call", () => {
    const { db } = open();
    db.insert(Array.from({ length: 3000 }, (_, i) => row(i, { slowdownDetail: "x".repeat(200) })));
    expect(db.prune(row(100).endedAt, 1e12, 40)).toBe(40);
    expect(db.prune(row(100).endedAt, 1e12)).toBe(60);
    expect(db.prune(row(100).endedAt, 1e12)).toBe(0);
    const before = db.usedBytes();
    let removed = 0;
    for (let n = db.prune(0, Math.floor(before / 2), 100); n > 0; n = db.prune(0, Math.floor(before / 2), 100)) {
      expect(n).toBeLessThanOrEqual(100);
      removed += n;
    }
    expect(removed).toBeGreaterThan(100);
    expect(db.usedBytes()).toBeLessThanOrEqual(before / 2);
    // The newest stay.
    expect(db.requests({}, 1)[0]?.id).toBe(row(2999).id);
  });

  it("migrates a log of the first schema forward, rows kept, and keeps captured bodies beside their rows", () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-sidecar-logdb-"));
    const v1 = new Database(join(dir, LOG_FILE));
    v1.exec(
      "CREATE TABLE requests (id TEXT PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL NOT NULL, session TEXT, conversation TEXT, client TEXT NOT NULL, model TEXT NOT NULL, upstream TEXT, route TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL, stream INTEGER NOT NULL, background TEXT, prefill INTEGER, cached INTEGER, generated INTEGER, n_ctx INTEGER, ttft_ms REAL, duration_ms REAL NOT NULL, queue_ms REAL, prefill_ms REAL, prefill_tps REAL, decode_tps REAL, finish_reason TEXT, miss_cause TEXT, miss_location TEXT, cache_expected INTEGER, cache_lost INTEGER, lost_prefill_ms REAL, slowdown_cause TEXT, slowdown_detail TEXT, usual_tps REAL, overflow_prompt INTEGER, error TEXT, judged INTEGER NOT NULL) WITHOUT ROWID; PRAGMA user_version = 1;",
    );
    v1.prepare(
      "INSERT INTO requests (id, started_at, ended_at, session, client, model, route, outcome, status, stream, duration_ms, judged) VALUES ('old', 1, 2, 's1', 'c', 'm', '/', 'ok', 200, 0, 1, 1)",
    ).run();
    v1.close();
    // A reader (the command line, the sidecar not yet restarted) reads it as it is.
    const reader = new LogDb(dir, { readonly: true });
    expect(reader.session("s1").map((r) => [r.id, r.captured])).toEqual([["old", undefined]]);
    expect(reader.content("old")).toBeUndefined();
    reader.close();
    const db = new LogDb(dir);
    dirs.push(db);
    expect(db.row("old")?.session).toBe("s1");
    db.insert([row(1, { session: "s1" })], [{ id: row(1).id, request: '{"messages":[]}', response: "hi" }]);
    expect(db.content(row(1).id)).toEqual({ id: row(1).id, request: '{"messages":[]}', response: "hi" });
    expect(db.session("s1").map((r) => [r.id, r.captured])).toEqual([
      ["old", undefined],
      [row(1).id, true],
    ]);
    expect(db.previousCaptured(row(1).id)).toBeUndefined(); // the one before has no bodies
  });

  it("refuses a log written by a newer sidecar, saying so", () => {
    const { db, dir } = open();
    db.close();
    dirs.pop();
    const raw = new Database(join(dir, LOG_FILE));
    raw.exec(`PRAGMA user_version = ${LOG_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => new LogDb(dir)).toThrow(/written by a newer llama-sidecar/);
    expect(() => new LogDb(dir, { readonly: true })).toThrow(/written by a newer llama-sidecar/);
  });
});
