// Request records, ledger entries and data dirs for unit tests of the stats and the store.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { RequestRecord } from "../../src/observe/observation.js";
import type { LedgerEntry } from "../../src/stats/request-ledger.js";

/** A finished chat request that went well, with the TTFT and decode speed given. */
export const requestRecord = (ttftMs: number, decodeTps: number): RequestRecord => ({
  id: "r",
  startedAt: 0,
  route: "/v1/messages",
  operation: "chat",
  client: "claude-code",
  model: "m",
  modelLabel: "m",
  stream: true,
  status: 200,
  outcome: "ok",
  prefillTokens: 100,
  cachedTokens: 900,
  outputTokens: 10,
  ttftMs,
  decodeTps,
  durationMs: 1000,
  derived: false,
});

/** A request's ledger entry with the prompt tokens given. */
export const ledgerEntry = (prompt: number): LedgerEntry => ({
  route: "/v1/chat/completions",
  modelLabel: "tiny",
  client: "other",
  outcome: "ok",
  operation: "chat",
  prefillTokens: prompt,
  cachedTokens: 1,
  outputTokens: 2,
});

export const silent = pino({ level: "silent" });

/** A new, empty data dir. */
export const freshDir = () => mkdtempSync(join(tmpdir(), "llama-sidecar-journal-"));
