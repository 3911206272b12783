// The request journal and the ledger it keeps exact: replayed once and never twice, folded and dropped, and
// requests the disk refused kept uncounted until it takes them.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { JOURNAL_NAME } from "../../src/stats/durable-ledger.js";
import type { LedgerEntry } from "../../src/stats/request-ledger.js";
import { openStats } from "../../src/stats/service.js";
import { Journal } from "../../src/store/journal.js";

const silent = pino({ level: "silent" });
const freshDir = () => mkdtempSync(join(tmpdir(), "llama-sidecar-journal-"));

const entry = (prompt: number): LedgerEntry => ({
  route: "/v1/chat/completions",
  modelLabel: "tiny",
  client: "other",
  outcome: "ok",
  operation: "chat",
  prefillTokens: prompt,
  cachedTokens: 1,
  outputTokens: 2,
});

describe("Journal", () => {
  it("numbers entries, replays those after a given number once each, and skips a half-written line", () => {
    const dir = freshDir();
    const j = new Journal(dir, "j", 0);
    expect(j.append({ n: 1 })).toBe(true);
    expect(j.append({ n: 2 })).toBe(true);
    expect(j.seal()).toBe(2);
    expect(j.append({ n: 3 })).toBe(true);
    j.close();
    appendFileSync(join(dir, "j"), '{"s":4,"d":{"n"'); // a write a crash cut short
    const all = Journal.replay(dir, "j", 0);
    expect(all.entries.map((e) => e.d)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(all.unreadable).toBe(1);
    expect(all.lastSeq).toBe(3);
    expect(Journal.replay(dir, "j", 2).entries.map((e) => e.s)).toEqual([3]);
  });

  it("drops sealed files once a store holds their entries, and keeps later ones", () => {
    const dir = freshDir();
    const j = new Journal(dir, "j", 10);
    j.append({});
    const sealed = j.seal();
    j.append({});
    j.dropThrough(sealed);
    expect(readdirSync(dir)).toEqual(["j"]);
    expect(Journal.replay(dir, "j", 0).entries.map((e) => e.s)).toEqual([12]);
  });

  it("reports a refused write and leaves no half line behind", () => {
    const dir = freshDir();
    const j = new Journal(join(dir, "missing-folder"), "j", 0);
    expect(j.append({ n: 1 })).toBe(false);
    expect(j.failing?.message).toMatch(/ENOENT/);
    expect(j.failedWrites).toBe(1);
    expect(j.seq).toBe(0);
  });
});

describe("DurableLedger", () => {
  it("counts a request once its entry is journaled; a crash before the fold loses nothing, and a replay never counts twice", async () => {
    const dir = freshDir();
    const a = await openStats(dir, silent);
    a.requests.add(entry(10));
    a.requests.add(entry(20));
    expect(a.totals()).toMatchObject({ requests: 2, prompt: 30 });
    // No fold, no flush: the process dies here. The journal alone holds the two requests.
    expect(readFileSync(join(dir, "stats.json"), "utf8")).not.toContain("tiny");
    const b = await openStats(dir, silent);
    expect(b.totals()).toMatchObject({ requests: 2, prompt: 30, cached: 2, generated: 4 });
    // The replay was folded into stats.json and its journal dropped: a third start counts nothing twice.
    expect(readdirSync(dir).filter((f) => f.startsWith(JOURNAL_NAME))).toEqual([]);
    b.requests.add(entry(5));
    const c = await openStats(dir, silent);
    expect(c.totals()).toMatchObject({ requests: 3, prompt: 35 });
    const d = await openStats(dir, silent);
    expect(d.totals()).toMatchObject({ requests: 3, prompt: 35 });
  });

  it("skips journal entries the stats file already holds (a crash between the fold and the journal's removal)", async () => {
    const dir = freshDir();
    const a = await openStats(dir, silent);
    a.requests.add(entry(10));
    await a.flush(); // folded: stats.json holds entry 1, journalSeq 1
    // As if the sealed journal had not been removed yet when the process died.
    writeFileSync(
      join(dir, `${JOURNAL_NAME}.1`),
      `${JSON.stringify({ s: 1, d: { requests: { x: 1 }, tokens: {}, background: {} } })}\n`,
    );
    const b = await openStats(dir, silent);
    expect(b.totals().requests).toBe(1);
    expect(b.doc.sidecar.requests.x).toBeUndefined();
  });
});

describe("JsonStore", () => {
  it("keeps writing after the clean-up that follows a write fails", async () => {
    const dir = freshDir();
    const stats = await openStats(dir, silent);
    stats.store.onSnapshot = () => () => {
      throw new Error("EBUSY: the sealed journal could not be removed");
    };
    stats.requests.add(entry(10));
    await stats.store.flush();
    stats.requests.add(entry(20));
    await stats.store.flush();
    expect(stats.store.failing).toBeUndefined();
    expect(stats.store.saved.sidecar).toEqual(stats.doc.sidecar);
    expect(stats.totals().prompt).toBe(30);
  });
});
