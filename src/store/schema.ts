// The persisted stats document, versioned: what must survive restarts of the sidecar and of llama-server.
import * as v from "valibot";
import { withUpstream } from "./ledger-keys.js";

/**
 * 2: one ledger of llama-server's counters per upstream (and per model, for upstreams that serve several);
 * 1 had a single `upstream` ledger, migrated to the first upstream's on open.
 */
const STATS_VERSION = 2;

const counts = v.record(v.string(), v.pipe(v.number(), v.minValue(0)));

/** Ledger (a): llama-server's own counters, summed over its incarnations. */
export const upstreamLedgerSchema = v.object({
  /** Process-Start-Time-Unix of the incarnation `last` belongs to; null for builds without the header. */
  incarnation: v.nullable(v.string()),
  /** Raw counters last scraped from the current incarnation. */
  last: counts,
  /** Sum of the final counters of every earlier incarnation. */
  base: counts,
  restartCount: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Epoch ms of recent restarts, newest last (bounded). */
  restarts: v.array(v.number()),
  lastScrapeAt: v.nullable(v.number()),
});

export const tokenCountsSchema = v.object({
  prompt: v.pipe(v.number(), v.minValue(0)),
  cached: v.pipe(v.number(), v.minValue(0)),
  generated: v.pipe(v.number(), v.minValue(0)),
});

/** Ledger (b): what the sidecar itself observed, per client and model. */
export const requestLedgerSchema = v.object({
  /** Requests by RequestKey (ledger-keys.ts: "route|model|client|outcome|upstream"). */
  requests: counts,
  /** Tokens by TokenKey ("model|client|upstream"). */
  tokens: v.record(v.string(), tokenCountsSchema),
  /** Background and locally answered calls, which are not model work, by BackgroundKey ("class|policy|outcome"). */
  background: counts,
});

export const statsSchema = v.object({
  version: v.literal(STATS_VERSION),
  /** When counting started (ISO 8601): "since May 12". */
  since: v.string(),
  /** Ledger (a) per upstream ("gpu0") or per upstream and model (ledgerKey: "router|qwen3-8b"). */
  upstreams: v.record(v.string(), upstreamLedgerSchema),
  sidecar: requestLedgerSchema,
  /**
   * The request journal's entries up to this number are folded into `sidecar`: a replay applies only later ones.
   * (Absent in files written before the journal, which had none.)
   */
  journalSeq: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});

export type StatsDoc = v.InferOutput<typeof statsSchema>;
export type UpstreamLedger = v.InferOutput<typeof upstreamLedgerSchema>;
export type RequestLedger = v.InferOutput<typeof requestLedgerSchema>;
export type TokenCounts = v.InferOutput<typeof tokenCountsSchema>;

export function emptyStats(now: Date): StatsDoc {
  return {
    version: STATS_VERSION,
    since: now.toISOString(),
    upstreams: {},
    sidecar: emptyLedger(),
    journalSeq: 0,
  };
}

export function emptyUpstreamLedger(): UpstreamLedger {
  return { incarnation: null, last: {}, base: {}, restartCount: 0, restarts: [], lastScrapeAt: null };
}

/** The ledger of one upstream (or one model of it), made empty the first time it is asked for. */
export function upstreamLedger(doc: StatsDoc, key: string): UpstreamLedger {
  let ledger = doc.upstreams[key];
  if (!ledger) {
    ledger = emptyUpstreamLedger();
    doc.upstreams[key] = ledger;
  }
  return ledger;
}

/**
 * A stats file from before upstream lists (version 1) held one llama-server's ledger: it becomes the ledger of
 * `upstream` (the one --upstream names, or the config file's first), every count carried over as it was.
 */
export function migrateStats(raw: unknown, upstream: string): unknown {
  if (!isObject(raw) || raw.version !== 1) return raw;
  const { upstream: ledger, ...rest } = raw;
  // Its request counts name no upstream: they were the one llama-server's (bad entries are mended after).
  const sidecar = isObject(raw.sidecar) ? withUpstream(raw.sidecar as RequestLedger, upstream) : raw.sidecar;
  return { ...rest, sidecar, version: STATS_VERSION, upstreams: ledger === undefined ? {} : { [upstream]: ledger } };
}

export function emptyLedger(): RequestLedger {
  return { requests: {}, tokens: {}, background: {} };
}

type Report = (path: string) => void;
type Raw = Record<string, unknown>;

const isObject = (x: unknown): x is Raw => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x >= 0;

/** A map of counts with every bad entry dropped (and reported): a dropped count is one lost, not every one. */
function repairCounts(x: unknown, path: string, report: Report): Record<string, number> {
  if (!isObject(x)) {
    report(path);
    return {};
  }
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(x)) {
    if (isCount(n)) out[k] = n;
    else report(`${path}[${JSON.stringify(k)}]`);
  }
  return out;
}

function repairTokens(x: unknown, path: string, report: Report): Record<string, TokenCounts> {
  if (!isObject(x)) {
    report(path);
    return {};
  }
  const out: Record<string, TokenCounts> = {};
  for (const [k, t] of Object.entries(x)) {
    const at = `${path}[${JSON.stringify(k)}]`;
    const counts = isObject(t) ? t : {};
    if (!isObject(t)) report(at);
    const field = (name: keyof TokenCounts) => {
      if (isCount(counts[name])) return counts[name];
      if (isObject(t)) report(`${at}.${name}`);
      return 0;
    };
    out[k] = { prompt: field("prompt"), cached: field("cached"), generated: field("generated") };
  }
  return out;
}

/** Mends a request ledger field by field. */
export function repairLedger(x: unknown, path: string, report: Report): RequestLedger {
  const l = isObject(x) ? x : {};
  if (!isObject(x)) report(path);
  return {
    requests: repairCounts(l.requests, `${path}.requests`, report),
    tokens: repairTokens(l.tokens, `${path}.tokens`, report),
    background: repairCounts(l.background, `${path}.background`, report),
  };
}

function repairUpstream(x: Raw, at: string, report: Report): Raw {
  const out: Raw = { ...x };
  out.last = repairCounts(x.last, `${at}.last`, report);
  out.base = repairCounts(x.base, `${at}.base`, report);
  if (!(Number.isInteger(x.restartCount) && isCount(x.restartCount))) {
    report(`${at}.restartCount`);
    out.restartCount = 0;
  }
  if (!Array.isArray(x.restarts) || !x.restarts.every(isCount)) {
    report(`${at}.restarts`);
    out.restarts = Array.isArray(x.restarts) ? x.restarts.filter(isCount) : [];
  }
  if (x.lastScrapeAt !== null && !isCount(x.lastScrapeAt)) {
    report(`${at}.lastScrapeAt`);
    out.lastScrapeAt = null;
  }
  if (x.incarnation !== null && typeof x.incarnation !== "string") {
    report(`${at}.incarnation`);
    out.incarnation = null;
  }
  return out;
}

/**
 * Mends a stats document whose counts hold bad values (a negative, a null where a NaN was saved): each bad field is
 * reset and reported, every good total kept. A document without its sections is beyond mending (moved aside).
 */
export function repairStats(raw: unknown, report: Report): unknown {
  if (!isObject(raw) || typeof raw.since !== "string" || !isObject(raw.upstreams) || !isObject(raw.sidecar)) return raw;
  const upstreams: Raw = {};
  for (const [key, ledger] of Object.entries(raw.upstreams)) {
    const at = `upstreams[${JSON.stringify(key)}]`;
    if (isObject(ledger)) upstreams[key] = repairUpstream(ledger, at, report);
    else report(at);
  }
  const out: Raw = {
    ...raw,
    upstreams,
    sidecar: repairLedger(raw.sidecar, "sidecar", report),
  };
  if (raw.journalSeq !== undefined && !(Number.isInteger(raw.journalSeq) && isCount(raw.journalSeq))) {
    report("journalSeq");
    out.journalSeq = 0;
  }
  return out;
}
