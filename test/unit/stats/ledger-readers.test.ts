// What the stats read from ledger keys: totals per client, model and upstream, the views' breakdowns and the
// background calls, alike from keys written now, from stats files and journals of today's layout and of format 1.
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JOURNAL_NAME } from "../../../src/stats/durable-ledger.js";
import { addRecord, type LedgerEntry, totals } from "../../../src/stats/request-ledger.js";
import { openStats, type Stats } from "../../../src/stats/service.js";
import { statsView, type UpstreamPart } from "../../../src/stats/views.js";
import { decodeKey } from "../../../src/store/ledger-keys.js";
import { emptyLedger, type RequestLedger } from "../../../src/store/schema.js";
import { freshDir, silent } from "../../support/records.js";

const FIXTURE_V1 = new URL("../../fixtures/data-dir-v1/", import.meta.url).pathname;

const request = (over: Partial<LedgerEntry>): LedgerEntry => ({
  route: "/v1/messages",
  modelLabel: "m",
  client: "claude-code",
  outcome: "ok",
  operation: "chat",
  upstream: "gpu0",
  prefillTokens: 10,
  cachedTokens: 1,
  outputTokens: 2,
  ...over,
});

/** Generated tokens per upstream, as the ledger's token keys name them. */
function generatedByUpstream(ledger: RequestLedger): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(ledger.tokens)) {
    const { upstream } = decodeKey("tokens", k);
    out[upstream] = (out[upstream] ?? 0) + t.generated;
  }
  return out;
}

const part: UpstreamPart = {
  name: "gpu0",
  url: "http://127.0.0.1:9",
  status: { state: "online", since: 0 },
  scrape: { ok: true, slots: [], rates: {} },
  queue: { depth: 0, active: 0, limit: 1, capacity: 1 },
  ledgerKey: "gpu0",
  models: [],
};
const view = (stats: Stats) =>
  statsView(stats, [part], { cache: { recentMisses: [], conversationCount: 0 }, speed: { recent: [] } });

describe("ledger readers", () => {
  it("sums by client, model and upstream whatever characters the names hold, empty ones included", () => {
    const ledger = emptyLedger();
    addRecord(ledger, request({ modelLabel: "a|b", client: "cline" }));
    addRecord(ledger, request({ modelLabel: "a|b", client: "other", outcome: "upstream_error", upstream: "gpu|1" }));
    addRecord(ledger, request({ modelLabel: "", client: "cline", outcome: "client_abort", upstream: undefined }));
    addRecord(ledger, request({ route: "/health", operation: undefined }));
    addRecord(ledger, request({ background: "title", backgroundPolicy: "local", outcome: "local" }));
    expect(totals(ledger)).toEqual({ requests: 3, errors: 1, aborts: 1, prompt: 30, cached: 3, generated: 6 });
    expect(totals(ledger, { client: "cline" })).toMatchObject({ requests: 2, aborts: 1, prompt: 20 });
    expect(totals(ledger, { model: "a|b" })).toMatchObject({ requests: 2, errors: 1, prompt: 20 });
    expect(totals(ledger, { model: "" })).toMatchObject({ requests: 1, aborts: 1, prompt: 10 });
    expect(totals(ledger, { model: "a|b", client: "other" })).toMatchObject({ requests: 1, prompt: 10 });
    // A key with no client (none are written now; a file may hold one) is its own, not everyone's.
    ledger.requests["/v1/messages|m||ok|gpu0"] = 5;
    expect(totals(ledger, { client: "" })).toMatchObject({ requests: 5, prompt: 0 });
    expect(generatedByUpstream(ledger)).toEqual({ gpu0: 2, "gpu|1": 2, "": 2 });
  });

  it("reads a stats file and a journal of today's layout back to the same totals and views", async () => {
    const dir = freshDir();
    const stats = {
      version: 2,
      since: "2026-05-12T00:00:00.000Z",
      upstreams: {},
      sidecar: {
        requests: {
          "/v1/messages|m%7Cx|claude-code|ok|gpu0": 4,
          "/v1/chat/completions|tiny|curl|upstream_error|gpu1": 1,
          "/v1/models|tiny|curl|ok|": 9,
        },
        tokens: {
          "m%7Cx|claude-code|gpu0": { prompt: 40, cached: 4, generated: 8 },
          "tiny|curl|gpu1": { prompt: 5, cached: 0, generated: 1 },
        },
        background: { "quota|local|local": 2, "title|forward|ok": 1 },
      },
      journalSeq: 3,
    };
    writeFileSync(join(dir, "stats.json"), JSON.stringify(stats));
    // Entry 3 is folded already; entry 4 is one a crash left behind.
    const journal = [
      { s: 3, d: { requests: { "/v1/messages|m%7Cx|claude-code|ok|gpu0": 100 }, tokens: {}, background: {} } },
      {
        s: 4,
        d: {
          requests: { "/v1/messages|m%7Cx|claude-code|client_abort|gpu0": 1 },
          tokens: { "m%7Cx|claude-code|gpu0": { prompt: 6, cached: 0, generated: 2 } },
          background: { "title|forward|ok": 1 },
        },
      },
    ];
    writeFileSync(join(dir, JOURNAL_NAME), `${journal.map((e) => JSON.stringify(e)).join("\n")}\n`);
    const s = await openStats(dir, silent);
    expect(s.totals()).toEqual({ requests: 6, errors: 1, aborts: 1, prompt: 51, cached: 4, generated: 11 });
    expect(generatedByUpstream(s.doc.sidecar)).toEqual({ gpu0: 10, gpu1: 1 });
    const { sidecar, background } = view(s);
    expect(sidecar.byModel).toEqual({
      "m|x": { requests: 5, errors: 0, aborts: 1, prompt: 46, cached: 4, generated: 10 },
      tiny: { requests: 1, errors: 1, aborts: 0, prompt: 5, cached: 0, generated: 1 },
    });
    expect(Object.keys(sidecar.byClient).sort()).toEqual(["claude-code", "curl"]);
    expect(sidecar.byClient.curl).toMatchObject({ requests: 1, prompt: 5 });
    expect(background).toEqual({
      total: 4,
      local: 2,
      byClass: { quota: { local: 2, forwarded: 0 }, title: { local: 0, forwarded: 2 } },
    });
  });

  it("reads a format-1 data dir and its journal (keys without an upstream) as the legacy upstream's", async () => {
    const dir = freshDir();
    cpSync(FIXTURE_V1, dir, { recursive: true });
    const s = await openStats(dir, silent, "gpu0");
    expect(s.totals()).toMatchObject({ requests: 7, prompt: 73 + 20 + 11, cached: 27 + 9, generated: 42 });
    expect(s.totals({ client: "other", model: "tiny" }).requests).toBe(7);
    expect(generatedByUpstream(s.doc.sidecar)).toEqual({ gpu0: 42 });
    expect(view(s).background).toEqual({ total: 1, local: 1, byClass: { quota: { local: 1, forwarded: 0 } } });
  });
});
