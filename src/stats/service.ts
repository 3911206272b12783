// The sidecar's persisted statistics: both ledgers, the history and the recent requests (their views: views.ts).
import { join } from "node:path";
import type { Logger } from "pino";
import { summaryLine } from "../dashboard/public/format.js";
import {
  hasVerdict,
  type JudgedRecord,
  type RecordRow,
  type RequestRecord,
  recordRow,
} from "../record/request-record.js";
import { lifetimeCounters } from "../scrape/lifetime.js";
import { JsonStore } from "../store/json-store.js";
import {
  emptyStats,
  emptyUpstreamLedger,
  migrateStats,
  repairStats,
  type StatsDoc,
  statsSchema,
  type UpstreamLedger,
} from "../store/schema.js";
import type { StoreHealth } from "../telemetry/state-gauges.js";
import { DurableLedger } from "./durable-ledger.js";
import { emptyHistory, type HistoryDoc, historySchema, recordHistory, repairHistory } from "./history.js";
import { type RequestTotals, totals } from "./request-ledger.js";

const RECENT = 100;
/** The charts' history may lose at most this much on a crash (the request ledger loses nothing: it is journaled). */
const HISTORY_AT_RISK_MS = 60_000;

export class Stats {
  /** The last requests, newest last: each as recorded, then with its verdicts once judged. */
  readonly recent: RecordRow[] = [];

  constructor(
    readonly store: JsonStore<StatsDoc>,
    readonly history: JsonStore<HistoryDoc>,
    readonly requests: DurableLedger,
  ) {}

  get doc(): StatsDoc {
    return this.store.data;
  }

  /** Listens to recorded requests: counts one in the journaled ledger and the history, and lists it. */
  readonly recorded = (r: RequestRecord): void => {
    this.requests.add(r);
    recordHistory(this.history.data, r);
    this.recent.push(r);
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
    this.history.markDirty(HISTORY_AT_RISK_MS);
  };

  /** Listens to judged requests: the listed one shows its verdicts (it may have left the list by then). */
  readonly judged = (j: JudgedRecord): void => {
    if (!hasVerdict(j)) return; // nothing new to show
    const at = this.recent.findLastIndex((r) => r.id === j.record.id);
    if (at >= 0) this.recent[at] = recordRow(j.record, j);
  };

  /** Writes everything now (at shutdown): requests the disk refused get one more try. */
  async flush(): Promise<void> {
    this.requests.saveUnsaved();
    await Promise.all([this.store.flush(), this.history.flush()]);
  }

  /** The last write, at shutdown: says what could not be saved, if anything. */
  async close(logger: Logger): Promise<void> {
    await this.flush();
    this.requests.close();
    const h = this.health();
    if (!h.writable) {
      logger.error(
        { unsavedRequests: h.unsavedRequests, err: h.error },
        `the data dir refused the last writes: ${h.unsavedRequests} finished request(s) and the latest totals are not saved`,
      );
    }
  }

  /** Whether the data dir takes writes; false while any store or the journal is refused, or requests wait unsaved. */
  health(): StoreHealth & { unsavedRequests: number; error: string | null } {
    const failing = this.store.failing ?? this.requests.journal.failing ?? this.history.failing;
    const unsaved = this.requests.unsavedCount;
    return {
      writable: !failing && unsaved === 0,
      failedWrites: this.store.failedWrites + this.requests.journal.failedWrites + this.history.failedWrites,
      unsavedRequests: unsaved,
      error: failing ? failing.message : null,
    };
  }

  /** An upstream's lifetime totals as they are on disk: the only ones /metrics may export. */
  savedLifetime(key: string): Record<string, number> {
    return lifetimeCounters(this.savedUpstream(key));
  }

  /** An upstream's ledger as it is on disk. */
  savedUpstream(key: string): UpstreamLedger {
    return this.store.saved.upstreams[key] ?? emptyUpstreamLedger();
  }

  /**
   * The lifetime totals on disk, before they are exported: a counter Prometheus has seen must never come back
   * lower after a crash (it would read as a reset, and every increase() would jump by the whole lifetime).
   */
  persistTotals(): Promise<void> {
    return this.store.settle();
  }

  /** One upstream's lifetime totals (its ledger key), or, without a key, every upstream's summed. */
  lifetime(key?: string): Record<string, number> {
    if (key !== undefined) return lifetimeCounters(this.doc.upstreams[key] ?? emptyUpstreamLedger());
    const sum: Record<string, number> = {};
    for (const ledger of Object.values(this.doc.upstreams))
      for (const [k, v] of Object.entries(lifetimeCounters(ledger))) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  totals(filter?: { client?: string; model?: string }): RequestTotals {
    return totals(this.doc.sidecar, filter);
  }

  /** "244.2K prompt tokens · 19.6K generated · 69 requests since May 12" */
  summary(): string {
    const life = this.lifetime();
    const own = this.totals();
    // llama-server's counters include work that bypassed the sidecar; between scrapes they may lag the sidecar's own.
    const prompt = Math.max(
      (life.prompt_tokens_total ?? 0) + (life.prompt_tokens_cached_total ?? 0),
      own.prompt + own.cached,
    );
    const generated = Math.max(life.tokens_predicted_total ?? 0, own.generated);
    return summaryLine(prompt, generated, own.requests, this.doc.since);
  }
}

/**
 * Opens the data dir. `legacyUpstream` names the upstream that a stats file from before upstream lists (one
 * llama-server) is migrated to: the one --upstream names, or the config file's first.
 */
export async function openStats(dataDir: string, logger: Logger, legacyUpstream = "default"): Promise<Stats> {
  const store = await JsonStore.open({
    path: join(dataDir, "stats.json"),
    schema: statsSchema,
    fresh: () => emptyStats(new Date()),
    logger,
    repair: repairStats,
    migrate: (raw) => migrateStats(raw, legacyUpstream),
  });
  const requests = await DurableLedger.open(store, dataDir, logger, legacyUpstream);
  const history = await JsonStore.open({
    path: join(dataDir, "history.json"),
    schema: historySchema,
    fresh: emptyHistory,
    logger,
    repair: repairHistory,
  });
  return new Stats(store, history, requests);
}
