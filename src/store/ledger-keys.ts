// The request ledger's keys: typed fields, laid out by one field order, escaped and joined with "|".

/**
 * Every field a ledger key can hold, in the one order every key lays out its own fields: shared fields (model,
 * client, outcome, upstream) come in the same order in every map. It is the order keys have always had on disk
 * (stats.json, the journal) and that /metrics labels follow, so every data dir reads back as written; another order
 * (route last, say) would take a format migration. A field added later goes last: a key written before it existed
 * lacks only trailing parts, which read as "" (and `withUpstream` fills in).
 */
const FIELD_ORDER = ["route", "model", "client", "backgroundClass", "policy", "outcome", "upstream"] as const;
type Field = (typeof FIELD_ORDER)[number];

/** The fields of each map's keys; their layout is FIELD_ORDER's, whatever the order here. */
const FIELDS = {
  requests: ["route", "model", "client", "outcome", "upstream"],
  tokens: ["model", "client", "upstream"],
  background: ["backgroundClass", "policy", "outcome"],
} as const satisfies Record<string, readonly Field[]>;

/** The maps of a request ledger (schema.ts) that are keyed by label values. */
export type LedgerMap = keyof typeof FIELDS;
type KeyOf<M extends LedgerMap> = { [F in (typeof FIELDS)[M][number]]: string };

/** A request's key; `upstream` is the one that answered ("" for a request that reached none). */
export type RequestKey = KeyOf<"requests">;
/** A token count's key: a request key's model, client and upstream. */
export type TokenKey = KeyOf<"tokens">;
/** A background call's key: its class, the policy that handled it, and its outcome. */
export type BackgroundKey = KeyOf<"background">;
export interface LedgerKeys {
  requests: RequestKey;
  tokens: TokenKey;
  background: BackgroundKey;
}

const layoutOf = (m: LedgerMap): readonly Field[] =>
  FIELD_ORDER.filter((f) => (FIELDS[m] as readonly Field[]).includes(f));
const LAYOUT: Record<LedgerMap, readonly Field[]> = {
  requests: layoutOf("requests"),
  tokens: layoutOf("tokens"),
  background: layoutOf("background"),
};

/** The key a `map` entry is counted under. */
export function encodeKey<M extends LedgerMap>(map: M, key: LedgerKeys[M]): string {
  const fields = key as Partial<Record<Field, string>>;
  return joinKey(LAYOUT[map].map((f) => fields[f] ?? ""));
}

/** The fields of a `map` key; those a key written before they existed lacks read as "". */
export function decodeKey<M extends LedgerMap>(map: M, key: string): LedgerKeys[M] {
  const parts = splitKey(key);
  return Object.fromEntries(LAYOUT[map].map((f, i) => [f, parts[i] ?? ""])) as LedgerKeys[M];
}

const escapePart = (p: string) => p.replaceAll("%", "%25").replaceAll("|", "%7C");

/**
 * Keys join label values with "|". A value is escaped ("%" and "|" as in a URL), since a model name comes from the
 * client and may hold a "|" itself; keys written before escaping read back the same. Ledger keys go through
 * `encodeKey`; this is for keys of other stores (an upstream ledger's "router|model").
 */
export function joinKey(parts: string[]): string {
  return parts.map(escapePart).join("|");
}

/** The values of a key, in order: for readers that take every part (the field order is `decodeKey`'s business). */
export function splitKey(key: string): string[] {
  return key.split("|").map((p) => (p.includes("%") ? p.replaceAll("%7C", "|").replaceAll("%25", "%") : p));
}

/** The keyed maps of a request ledger (schema.ts), as far as keys go. */
interface KeyedLedger {
  requests: Record<string, unknown>;
  tokens: Record<string, unknown>;
}

/** The models the ledger has counted so far, for any route: they keep their labels across restarts. */
export function ledgerModels(ledger: KeyedLedger): string[] {
  return [
    ...Object.keys(ledger.tokens).map((k) => decodeKey("tokens", k).model),
    ...Object.keys(ledger.requests).map((k) => decodeKey("requests", k).model),
  ];
}

/**
 * `key` with the fields it lacks (written before its map had them: they are the last) set from `fill`. What it has
 * is kept as written, so two old keys that read back alike (one from before escaping) never merge into one entry.
 */
function completeKey<M extends LedgerMap>(map: M, key: string, fill: Partial<LedgerKeys[M]>): string {
  const missing = LAYOUT[map].slice(splitKey(key).length);
  const values = fill as Partial<Record<Field, string>>;
  return missing.length === 0 ? key : [key, ...missing.map((f) => escapePart(values[f] ?? ""))].join("|");
}

/**
 * A request ledger written before keys named the upstream (stats format 1, and its journal), with `upstream` as
 * the upstream of every key: the one llama-server it had. Keys that name theirs are kept as they are.
 */
export function withUpstream<L extends KeyedLedger>(ledger: L, upstream: string): L {
  const upgrade = <T>(map: Record<string, T>, name: "requests" | "tokens") =>
    Object.fromEntries(Object.entries(map).map(([k, v]) => [completeKey(name, k, { upstream }), v]));
  return { ...ledger, requests: upgrade(ledger.requests, "requests"), tokens: upgrade(ledger.tokens, "tokens") };
}
