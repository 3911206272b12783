// How the request ledger's keys are written and read: label values joined with "|", escaped.
import type { RequestLedger } from "./schema.js";

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
export function ledgerModels(ledger: RequestLedger): string[] {
  return [
    ...Object.keys(ledger.tokens).map((k) => splitKey(k)[0] ?? ""),
    ...Object.keys(ledger.requests).map((k) => splitKey(k)[1] ?? ""),
  ];
}
