// Ledger (b): the sidecar's own per-request observations, by route, model, client and outcome.
import type { RequestRecord } from "../record/request-record.js";
import { decodeKey, encodeKey, type RequestKey, type TokenKey } from "../store/ledger-keys.js";
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
    const key = encodeKey("background", {
      backgroundClass: r.background,
      policy: r.backgroundPolicy ?? "",
      outcome: r.outcome,
    });
    ledger.background[key] = (ledger.background[key] ?? 0) + 1;
    return;
  }
  const request: RequestKey = {
    route: r.route,
    model: r.modelLabel,
    client: r.client,
    outcome: r.outcome,
    // The upstream that answered ("" for a request that reached none: refused, or answered by the sidecar).
    upstream: r.upstream ?? "",
  };
  const reqKey = encodeKey("requests", request);
  ledger.requests[reqKey] = (ledger.requests[reqKey] ?? 0) + 1;
  if (!r.operation) return;
  // Its tokens are counted by the request key's model, client and upstream.
  const tokKey = encodeKey("tokens", request);
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

/** Which requests `totals` sums: those of one client, or one model, or both ("" names the requests without one). */
export type TotalsFilter = Partial<Pick<TokenKey, "client" | "model">>;

/** Whether a key (a token key, or a request key, which holds one) is among those `filter` asks for. */
const matches = (key: TokenKey, filter: TotalsFilter | undefined) =>
  (filter?.client === undefined || key.client === filter.client) &&
  (filter?.model === undefined || key.model === filter.model);

/** Sums over the ledger's model work, optionally only that of a client or a model. */
export function totals(ledger: RequestLedger, filter?: TotalsFilter): RequestTotals {
  const out: RequestTotals = { requests: 0, errors: 0, aborts: 0, prompt: 0, cached: 0, generated: 0 };
  for (const [k, n] of Object.entries(ledger.requests)) {
    const key = decodeKey("requests", k);
    if (!isModelWork(key.route) || !matches(key, filter)) continue;
    out.requests += n;
    if (key.outcome === "upstream_error") out.errors += n;
    if (key.outcome === "client_abort") out.aborts += n;
  }
  for (const [k, t] of Object.entries(ledger.tokens)) {
    if (!matches(decodeKey("tokens", k), filter)) continue;
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
