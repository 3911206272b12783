// Ledger (b): the sidecar's own per-request observations, by route, model, client and outcome.
import type { RequestRecord } from "../record/request-record.js";
import { joinKey, splitKey } from "../store/ledger-keys.js";
import type { RequestLedger, TokenCounts } from "../store/schema.js";
import { classify } from "../wire/routes.js";

export interface RequestTotals {
  requests: number;
  errors: number;
  aborts: number;
  prompt: number;
  cached: number;
  generated: number;
}

/** What the ledger keeps of a request record. */
export type LedgerEntry = Pick<
  RequestRecord,
  | "background"
  | "backgroundPolicy"
  | "outcome"
  | "modelLabel"
  | "route"
  | "client"
  | "operation"
  | "prefillTokens"
  | "cachedTokens"
  | "outputTokens"
  | "upstream"
>;

export function addRecord(ledger: RequestLedger, r: LedgerEntry): void {
  if (r.background) {
    // Background calls are counted apart, never as model work.
    const key = joinKey([r.background, r.backgroundPolicy ?? "", r.outcome]);
    ledger.background[key] = (ledger.background[key] ?? 0) + 1;
    return;
  }
  const model = r.modelLabel;
  // The upstream that answered ("" for a request that reached none: refused, or answered by the sidecar).
  const upstream = r.upstream ?? "";
  const reqKey = joinKey([r.route, model, r.client, r.outcome, upstream]);
  ledger.requests[reqKey] = (ledger.requests[reqKey] ?? 0) + 1;
  if (!r.operation) return;
  const tokKey = joinKey([model, r.client, upstream]);
  const t: TokenCounts = ledger.tokens[tokKey] ?? { prompt: 0, cached: 0, generated: 0 };
  t.prompt += r.prefillTokens ?? 0;
  t.cached += r.cachedTokens ?? 0;
  t.generated += r.outputTokens ?? 0;
  ledger.tokens[tokKey] = t;
}

/**
 * Whether a ledger key's route is model work. Health checks, model lists, count_tokens and the like are in the
 * ledger (and requests_total) by route, but a person asking "how many requests" means model calls.
 */
export function isModelWork(route: string): boolean {
  return classify(route).operation !== undefined;
}

/**
 * Sums over the ledger's model work, optionally only where a key part matches (e.g. a client or a model).
 */
export function totals(ledger: RequestLedger, filter?: { client?: string; model?: string }): RequestTotals {
  const out: RequestTotals = { requests: 0, errors: 0, aborts: 0, prompt: 0, cached: 0, generated: 0 };
  for (const [k, n] of Object.entries(ledger.requests)) {
    const [route = "", model, client, outcome] = splitKey(k);
    if (!isModelWork(route)) continue;
    if ((filter?.client && client !== filter.client) || (filter?.model && model !== filter.model)) continue;
    out.requests += n;
    if (outcome === "upstream_error") out.errors += n;
    if (outcome === "client_abort") out.aborts += n;
  }
  for (const [k, t] of Object.entries(ledger.tokens)) {
    const [model, client] = splitKey(k);
    if ((filter?.client && client !== filter.client) || (filter?.model && model !== filter.model)) continue;
    out.prompt += t.prompt;
    out.cached += t.cached;
    out.generated += t.generated;
  }
  return out;
}

/** Adds every count of `delta` to `ledger`. */
export function mergeLedger(ledger: RequestLedger, delta: RequestLedger): void {
  for (const [k, n] of Object.entries(delta.requests)) ledger.requests[k] = (ledger.requests[k] ?? 0) + n;
  for (const [k, n] of Object.entries(delta.background)) ledger.background[k] = (ledger.background[k] ?? 0) + n;
  for (const [k, t] of Object.entries(delta.tokens)) {
    const into = ledger.tokens[k] ?? { prompt: 0, cached: 0, generated: 0 };
    into.prompt += t.prompt;
    into.cached += t.cached;
    into.generated += t.generated;
    ledger.tokens[k] = into;
  }
}
