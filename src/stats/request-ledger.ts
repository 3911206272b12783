// Ledger (b): the sidecar's own per-request observations, by route, model, client and outcome.
import type { RequestRecord } from "../observe/observation.js";
import type { RequestLedger, TokenCounts } from "../store/schema.js";

/** Distinct models kept by name in the persisted ledger; the rest count under "other". */
const MAX_MODELS = 50;

export interface RequestTotals {
  requests: number;
  errors: number;
  aborts: number;
  prompt: number;
  cached: number;
  generated: number;
}

export function splitKey(key: string): string[] {
  return key.split("|");
}

function boundedModel(ledger: RequestLedger, model: string): string {
  const known = new Set(Object.keys(ledger.tokens).map((k) => splitKey(k)[0]));
  return known.has(model) || known.size < MAX_MODELS ? model : "other";
}

export function addRecord(ledger: RequestLedger, r: RequestRecord): void {
  if (r.background) {
    // Background calls are counted apart, never as model work.
    const key = [r.background, r.backgroundPolicy ?? "", r.outcome].join("|");
    ledger.background[key] = (ledger.background[key] ?? 0) + 1;
    return;
  }
  const model = boundedModel(ledger, r.model);
  const reqKey = [r.route, model, r.client, r.outcome].join("|");
  ledger.requests[reqKey] = (ledger.requests[reqKey] ?? 0) + 1;
  if (!r.operation) return;
  const tokKey = [model, r.client].join("|");
  const t: TokenCounts = ledger.tokens[tokKey] ?? { prompt: 0, cached: 0, generated: 0 };
  t.prompt += r.prefillTokens ?? 0;
  t.cached += r.cachedTokens ?? 0;
  t.generated += r.outputTokens ?? 0;
  ledger.tokens[tokKey] = t;
}

/** Sums over the ledger, optionally only where a key part matches (e.g. a client or a model). */
export function totals(ledger: RequestLedger, filter?: { client?: string; model?: string }): RequestTotals {
  const out: RequestTotals = { requests: 0, errors: 0, aborts: 0, prompt: 0, cached: 0, generated: 0 };
  for (const [k, n] of Object.entries(ledger.requests)) {
    const [, model, client, outcome] = splitKey(k);
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
