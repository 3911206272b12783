// The request journal and the ledger it keeps exact: replayed once and never twice, folded and dropped, and
// requests the disk refused kept uncounted until it takes them.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LedgerEntry } from "../../../src/stats/request-ledger.js";
import { openStats } from "../../../src/stats/service.js";

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
