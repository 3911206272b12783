// The request log's writes: slices of rows with the event loop's turns between them share one transaction, whose
// commit hands the rows on (their journal may go); a refused commit puts every row of it back, handed on to no one.
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LogWrites } from "../../../src/log/log-writes.js";
import type { LogFile } from "../../../src/store/log-file.js";
import type { LogRow } from "../../../src/store/log-row.js";
import { logRow } from "../../support/records.js";

/** The writes to a fake file, handing written rows' ids to `written`. */
const writesTo = (file: LogFile, written: string[] = []) =>
  new LogWrites(
    file,
    pino({ level: "silent" }),
    (rows) => written.push(...rows.map((r) => r.id)),
    () => {},
    10_000,
  );

const row = (i: number): LogRow => logRow({ id: `r${i}`, startedAt: i, endedAt: i + 1 });

/** A file that keeps what each call got, and refuses commits while told to. */
function fakeFile() {
  const calls = { appended: [] as number[], commits: 0, refuse: 0 };
  const file = {
    append: (rows: readonly LogRow[]) => {
      calls.appended.push(rows.length);
      return rows.length;
    },
    commit: () => {
      if (calls.refuse > 0) {
        calls.refuse--;
        throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      }
      calls.commits++;
    },
  };
  return { calls, file: file as unknown as LogFile };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the request log's writes", () => {
  it("writes a batch in 32-row slices, one transaction for all of them, and hands the rows on at its commit", () => {
    const { calls, file } = fakeFile();
    const written: string[] = [];
    const writes = writesTo(file, written);
    for (let i = 0; i < 100; i++) writes.add(row(i));
    writes.flush();
    expect(calls.appended).toEqual([32, 32, 32, 4]);
    expect(calls.commits).toBe(1);
    expect(written).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
    expect(writes.health().pending).toBe(0);
  });

  it("commits every 512 rows however many wait", () => {
    const { calls, file } = fakeFile();
    const writes = writesTo(file);
    for (let i = 0; i < 1100; i++) writes.add(row(i));
    writes.flush();
    expect(calls.commits).toBe(3);
  });

  it("puts every row of a refused commit back, hands none on, and writes them all once the file takes them", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance"] });
    const { calls, file } = fakeFile();
    calls.refuse = 1;
    const written: string[] = [];
    const writes = writesTo(file, written);
    for (let i = 0; i < 40; i++) writes.add(row(i));
    writes.flush();
    expect(written).toEqual([]);
    expect(writes.health().pending).toBe(40);
    vi.advanceTimersByTime(1000);
    expect(calls.commits).toBe(1);
    expect(written).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
    expect(writes.health()).toMatchObject({ pending: 0, failing: undefined });
  });
});
