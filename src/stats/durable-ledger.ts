// The per-request ledger, exact across crashes: a finished request counts once its entry is in the journal,
// and the journal is folded into the stats file on that file's own schedule.
import type { Logger } from "pino";
import { Journal } from "../store/journal.js";
import type { JsonStore } from "../store/json-store.js";
import { withUpstream } from "../store/ledger-keys.js";
import { emptyLedger, type RequestLedger, repairLedger, type StatsDoc } from "../store/schema.js";
import { addRecord, type LedgerEntry, mergeLedger } from "./request-ledger.js";

export const JOURNAL_NAME = "requests.journal";
/** How often requests that the disk refused are offered to it again, traffic or not. */
const RETRY_MS = 2000;

/**
 * What is exported is what is on disk: the ledger in the stats file plus the journal. A request whose entry the
 * disk refused (full, read-only) waits in `unsaved`, counted nowhere yet, and is written (then counted) as soon as
 * the disk takes it: never lost, never counted twice.
 */
export class DurableLedger {
  private unsaved: RequestLedger | undefined;
  /** Requests finished but not yet on disk. */
  unsavedCount = 0;
  /** Requests counted while held (a burst of finished requests), saved together by commit(). */
  private held: { delta: RequestLedger; count: number } | undefined;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly store: JsonStore<StatsDoc>,
    readonly journal: Journal,
    private readonly logger: Logger,
  ) {
    store.onSnapshot = () => {
      const seq = journal.seal();
      store.data.journalSeq = seq;
      return () => journal.dropThrough(seq);
    };
  }

  /** Replays the journal's entries that the stats file does not hold yet, once each, and folds them in. */
  /** `legacyUpstream`: the upstream that entries written before keys named one belong to. */
  static async open(
    store: JsonStore<StatsDoc>,
    dir: string,
    logger: Logger,
    legacyUpstream: string,
  ): Promise<DurableLedger> {
    const folded = store.data.journalSeq;
    const { entries, lastSeq, unreadable } = Journal.replay(dir, JOURNAL_NAME, folded);
    const ledger = new DurableLedger(store, new Journal(dir, JOURNAL_NAME, lastSeq), logger);
    for (const entry of entries) {
      mergeLedger(
        store.data.sidecar,
        withUpstream(
          repairLedger(entry.d, `journal[${entry.s}]`, () => {}),
          legacyUpstream,
        ),
      );
    }
    if (unreadable > 0) logger.warn({ unreadable }, `${JOURNAL_NAME}: skipped ${unreadable} unreadable line(s)`);
    if (entries.length > 0) {
      logger.info({ entries: entries.length }, `replayed ${entries.length} request(s) from ${JOURNAL_NAME}`);
    }
    // Folds any replay, and finds out at once whether the data dir takes writes (the banner says if not).
    ledger.journal.sealLeftover();
    await store.flush();
    return ledger;
  }

  get ledger(): RequestLedger {
    return this.store.data.sidecar;
  }

  /** Counts one finished request, once its entry is on disk (held ones: once commit() wrote them). */
  add(entry: LedgerEntry): void {
    if (this.held) {
      addRecord(this.held.delta, entry);
      this.held.count++;
      return;
    }
    const delta = emptyLedger();
    addRecord(delta, entry);
    this.save(delta, 1);
  }

  /** Holds what add() counts until commit(): a burst of finished requests is one journal entry, one write. */
  hold(): void {
    this.held ??= { delta: emptyLedger(), count: 0 };
  }

  /** Saves what was held, as one entry. */
  commit(): void {
    const held = this.held;
    this.held = undefined;
    if (held && held.count > 0) this.save(held.delta, held.count);
  }

  private save(delta: RequestLedger, requests: number): void {
    if (this.unsaved || !this.write(delta)) {
      this.unsaved ??= emptyLedger();
      mergeLedger(this.unsaved, delta);
      this.unsavedCount += requests;
      this.scheduleRetry();
    }
  }

  /** Offers the requests the disk refused to it again; true when none are left waiting. */
  saveUnsaved(): boolean {
    if (!this.unsaved) return true;
    if (!this.write(this.unsaved)) return false;
    this.logger.info({ requests: this.unsavedCount }, "the data dir takes writes again: unsaved requests saved");
    this.unsaved = undefined;
    this.unsavedCount = 0;
    return true;
  }

  private write(delta: RequestLedger): boolean {
    const wasFailing = this.journal.failing;
    if (!this.journal.append(delta)) {
      if (!wasFailing) {
        this.logger.error(
          { err: this.journal.failing?.message },
          `cannot write ${JOURNAL_NAME}: finished requests wait in memory, uncounted, until the disk takes them`,
        );
      }
      return false;
    }
    mergeLedger(this.store.data.sidecar, delta);
    this.store.markDirty(1000);
    return true;
  }

  private scheduleRetry(): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.saveUnsaved()) this.scheduleRetry();
    }, RETRY_MS);
    this.retry.unref();
  }

  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.journal.close();
  }
}
