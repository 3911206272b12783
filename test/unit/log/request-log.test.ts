// The request log with its real SQLite file: a burst's records journaled at commit, judged rows in the log after, in
// slices once requests stop ending, the journal dropped once they are, a crash's journal replayed, a log that refuses
// writes waiting it out with nothing lost.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LOG_JOURNAL, type LogSettings, RequestLog } from "../../../src/log/request-log.js";
import { judgedRow, recordedRow } from "../../../src/log/rows.js";
import type { JudgedRecord, RequestRecord } from "../../../src/record/request-record.js";
import { Journal } from "../../../src/store/journal.js";
import { LOG_FILE, LogDb } from "../../../src/store/log-db.js";
import type { LogRow } from "../../../src/store/log-row.js";
import { freshDir, requestRecord, silent } from "../../support/records.js";
import { until } from "../../support/until.js";

const open: RequestLog[] = [];
afterEach(async () => {
  for (const log of open.splice(0)) await log.close();
});

const settings = (dir: string): LogSettings => ({
  dir,
  retentionMs: 30 * 86_400_000,
  maxBytes: 1 << 30,
  capture: { patterns: [], secrets: [], maxBytes: 1 << 16 },
});

async function openLog(dir: string): Promise<RequestLog> {
  const log = await RequestLog.open(settings(dir), silent);
  open.push(log);
  return log;
}

const record = (id: string, over: Partial<RequestRecord> = {}): RequestRecord =>
  Object.freeze({ ...requestRecord(300, 40), id, startedAt: Date.now(), session: "sess", ...over });

const judgedRecord = (r: RequestRecord, over: Partial<JudgedRecord> = {}): JudgedRecord =>
  Object.freeze({ record: r, upstream: "default", nCtx: 8192, ...over });

/** A judged request, as app.ts hands it to the log: its row, and its captured bodies. */
const judge = (log: RequestLog, j: JudgedRecord) => log.judged(judgedRow(j), j.content);

const journalFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith(LOG_JOURNAL));

describe("the request log", () => {
  it("journals a burst's records as one entry at commit, and drops the journal once their rows are in the log", async () => {
    const dir = freshDir();
    const log = await openLog(dir);
    const burst = [record("a"), record("b"), record("c")];
    log.hold();
    for (const r of burst) log.recorded(r);
    expect(journalFiles(dir)).toEqual([]); // nothing written until commit
    log.commit();
    const lines = readFileSync(join(dir, LOG_JOURNAL), "utf8").trim().split("\n");
    expect(lines).toHaveLength(1);
    // The rows as the log first holds them: no verdicts, and never an error's text.
    const entry = JSON.parse(lines[0] as string).d as LogRow[];
    expect(entry.map((r) => [r.id, r.judged])).toEqual([
      ["a", false],
      ["b", false],
      ["c", false],
    ]);

    // Timers made from here on are the test's to run.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    judge(log, judgedRecord(burst[0] as RequestRecord, { cache: { conversation: "s:sess" } }));
    judge(
      log,
      judgedRecord(burst[1] as RequestRecord, {
        cache: {
          conversation: "s:sess",
          expectedTokens: 900,
          lostTokens: 800,
          cause: "history_edited",
          lostPrefillMs: 90,
        },
      }),
    );
    await log.settled();
    expect((await log.session("sess")).map((r) => [r.id, r.missCause, r.judged])).toEqual([
      ["a", undefined, true],
      ["b", "history_edited", true],
    ]);
    // One record of the entry is not in the log yet: the journal stays, however long.
    vi.advanceTimersByTime(60_000);
    vi.useRealTimers();
    expect(journalFiles(dir)).not.toEqual([]);
    judge(log, judgedRecord(burst[2] as RequestRecord));
    await until(
      "the journal dropped",
      () => journalFiles(dir).length === 0 || readFileSync(join(dir, LOG_JOURNAL)).length === 0,
    );
    expect(log.health()).toEqual({ writable: true, failedWrites: 0, pending: 0, lost: 0, error: null });
  });

  it("replays a crash's journal into the log once, as rows without verdicts, next to what was logged already", async () => {
    const dir = freshDir();
    const first = new LogDb(dir);
    first.insert([
      {
        id: "logged",
        startedAt: Date.now() - 10,
        endedAt: Date.now() - 9,
        client: "c",
        model: "m",
        route: "/",
        outcome: "ok",
        status: 200,
        stream: false,
        durationMs: 1,
        judged: true,
        missCause: "history_edited",
      },
    ]);
    first.close();
    const journal = new Journal(dir, LOG_JOURNAL, 0);
    journal.append([recordedRow(record("logged")), recordedRow(record("lost-1"))]);
    journal.append([recordedRow(record("lost-2", { session: undefined }))]);
    journal.close();
    const log = await openLog(dir);
    const rows = await log.requests({}, 10);
    expect(rows.map((r) => [r.id, r.judged, r.missCause]).sort()).toEqual([
      ["logged", true, "history_edited"],
      ["lost-1", false, undefined],
      ["lost-2", false, undefined],
    ]);
    expect(journalFiles(dir)).toEqual([]);
    await log.close();
    open.pop();
    // A second start replays nothing more.
    const again = await openLog(dir);
    expect(await again.requests({}, 10)).toHaveLength(3);
  });

  it("keeps rows the log refuses (a writer holding the file) and writes them once it takes them again", async () => {
    const dir = freshDir();
    const log = await openLog(dir);
    const blocker = new Database(join(dir, LOG_FILE));
    blocker.exec("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE");
    log.recorded(record("x"));
    judge(log, judgedRecord(record("x")));
    await until("the log to refuse the row", () => !log.health().writable, 30_000);
    expect(log.health()).toMatchObject({ writable: false, pending: 1, lost: 0 });
    expect(log.health().error).toMatch(/locked|busy/i);
    expect(journalFiles(dir)).toEqual([LOG_JOURNAL]); // the journal holds it meanwhile
    blocker.exec("ROLLBACK");
    blocker.close();
    await until("the log to take it", () => log.health().writable && log.health().pending === 0, 30_000);
    expect((await log.requests({}, 10)).map((r) => r.id)).toEqual(["x"]);
  });

  it("waits while requests keep ending, and writes once they pause or the oldest row has waited five seconds", async () => {
    const log = await openLog(freshDir());
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      for (let i = 0; i < 55; i++) {
        judge(log, judgedRecord(record(`r${i}`)));
        vi.advanceTimersByTime(90); // the next one ends before the log has had 100 ms of quiet
      }
      expect(log.health().pending).toBe(55);
      vi.advanceTimersByTime(100); // the first has now waited over five seconds: the first slice goes
      expect(log.health().pending).toBe(55 - 32);
      // The next slices follow on the event loop's next turns, not on a timer.
      while (log.health().pending > 0) await new Promise((r) => setImmediate(r));
      judge(log, judgedRecord(record("alone")));
      vi.advanceTimersByTime(99);
      expect(log.health().pending).toBe(1);
      vi.advanceTimersByTime(1);
      expect(log.health().pending).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect(await log.requests({}, 100)).toHaveLength(56);
  });

  it("writes a long queue in slices, the event loop turning between them", async () => {
    const log = await openLog(freshDir());
    for (let i = 0; i < 100; i++) judge(log, judgedRecord(record(`r${i}`)));
    // Every turn of the event loop notes what is still waiting: a slice at a time, never all at once.
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      const look = () => {
        const { pending } = log.health();
        if (seen.at(-1) !== pending) seen.push(pending);
        if (pending === 0) resolve();
        else setImmediate(look);
      };
      look();
    });
    expect(seen).toEqual([100, 68, 36, 4, 0]);
    expect(await log.requests({}, 200)).toHaveLength(100);
  });

  it("refuses to open a log a newer sidecar wrote, and leaves the file as it was", async () => {
    const dir = freshDir();
    new LogDb(dir).close();
    const raw = new Database(join(dir, LOG_FILE));
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    await expect(RequestLog.open(settings(dir), silent)).rejects.toThrow(/cannot open the request log .* newer/);
    expect(existsSync(join(dir, LOG_FILE))).toBe(true);
  });
});
