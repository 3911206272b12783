// Request records, exchange facts, ledger entries and data dirs for unit tests of the record, the stats and the store.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { Observation } from "../../src/observe/observation.js";
import type { BuildOptions } from "../../src/record/build.js";
import type { ExchangeFacts } from "../../src/record/exchange-facts.js";
import type { RequestRecord } from "../../src/record/request-record.js";
import type { LedgerEntry } from "../../src/stats/request-ledger.js";
import type { LogRow } from "../../src/store/log-row.js";
import { labelText } from "../../src/wire/labels.js";
import { classify } from "../../src/wire/routes.js";

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

/** How unit tests build records: error kinds only, model names made label-safe as they are. */
export const BUILD: BuildOptions = { keepText: false, labelModel: labelText, labelText };

/** A finished exchange's facts around an observation, with what a test sets. */
export function exchangeFacts(obs: Observation, over: Partial<ExchangeFacts> & { path?: string } = {}): ExchangeFacts {
  const { path = "/v1/chat/completions", ...rest } = over;
  return {
    route: classify(path),
    client: "other",
    method: "POST",
    headers: {},
    startedAt: 0,
    receivedAt: obs.receivedAt,
    obs,
    tags: {},
    status: 200,
    ...rest,
  };
}

/** A request log row of a finished Claude Code turn, with what a test sets. */
export const logRow = (over: Partial<LogRow> = {}): LogRow => ({
  id: "r",
  startedAt: 1,
  endedAt: 2,
  session: "s",
  client: "claude-code",
  model: "m",
  route: "/v1/messages",
  outcome: "ok",
  status: 200,
  stream: true,
  durationMs: 1,
  judged: true,
  ...over,
});
