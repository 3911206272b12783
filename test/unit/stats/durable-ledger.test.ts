// The request journal and the ledger it keeps exact: replayed once and never twice, folded and dropped, and
// requests the disk refused kept uncounted until it takes them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JOURNAL_NAME } from "../../../src/stats/durable-ledger.js";
import { openStats } from "../../../src/stats/service.js";
import { ledgerEntry as entry, freshDir, silent } from "../../support/records.js";

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

  it("saves a held burst as one journal entry, counted only once it is written, and kept across a crash", async () => {
    const dir = freshDir();
    const a = await openStats(dir, silent);
    a.requests.hold();
    for (const prompt of [1, 2, 3]) a.requests.add(entry(prompt));
    expect(a.totals().requests).toBe(0); // held: not on disk, so not counted yet
    a.requests.commit();
    expect(a.totals()).toMatchObject({ requests: 3, prompt: 6 });
    const lines = readFileSync(join(dir, JOURNAL_NAME), "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    a.requests.commit(); // nothing held: nothing written
    expect(readFileSync(join(dir, JOURNAL_NAME), "utf8").split("\n").filter(Boolean)).toHaveLength(1);
    const b = await openStats(dir, silent); // the process died before any fold
    expect(b.totals()).toMatchObject({ requests: 3, prompt: 6 });
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
