// How the request ledger's keys are written and read: label values joined with "|", escaped.

/** The keyed maps of a request ledger (schema.ts), as far as keys go. */
interface KeyedLedger {
  requests: Record<string, unknown>;
  tokens: Record<string, unknown>;
}

/**
 * Ledger keys join label values with "|". A value is escaped ("%" and "|" as in a URL), since a model name comes
 * from the client and may hold a "|" itself; keys written before escaping read back the same.
 */
export function joinKey(parts: string[]): string {
  return parts.map((p) => p.replaceAll("%", "%25").replaceAll("|", "%7C")).join("|");
}

export function splitKey(key: string): string[] {
  return key.split("|").map((p) => (p.includes("%") ? p.replaceAll("%7C", "|").replaceAll("%25", "%") : p));
}

/** The models the ledger has counted so far, for any route: they keep their labels across restarts. */
export function ledgerModels(ledger: KeyedLedger): string[] {
  return [
    ...Object.keys(ledger.tokens).map((k) => splitKey(k)[0] ?? ""),
    ...Object.keys(ledger.requests).map((k) => splitKey(k)[1] ?? ""),
  ];
}

/** Parts of a request key (route, model, client, outcome, upstream) and of a token key (model, client, upstream). */
const REQUEST_PARTS = 5;
const TOKEN_PARTS = 3;

/**
 * A request ledger written before keys named the upstream (stats format 1, and its journal), with `upstream` as
 * the upstream of every key: the one llama-server it had. Keys that name theirs are kept as they are.
 */
export function withUpstream<L extends KeyedLedger>(ledger: L, upstream: string): L {
  const upgrade = <T>(map: Record<string, T>, parts: number) =>
    Object.fromEntries(
      Object.entries(map).map(([k, v]) => {
        const split = splitKey(k);
        return [split.length < parts ? joinKey([...split, upstream]) : k, v];
      }),
    );
  return {
    ...ledger,
    requests: upgrade(ledger.requests, REQUEST_PARTS),
    tokens: upgrade(ledger.tokens, TOKEN_PARTS),
  };
}
