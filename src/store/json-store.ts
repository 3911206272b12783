// A lowdb document on disk: validated on open, corrupt files moved aside, writes coalesced and serialised.
import { Low } from "lowdb";
import type { Logger } from "pino";
import type { z } from "zod";
import { CorruptFileError, DurableJsonFile, NewerFormatError, quarantine } from "./durable-file.js";

export class JsonStore<T> {
  private timer: NodeJS.Timeout | undefined;
  private due = Number.POSITIVE_INFINITY;
  private writing: Promise<void> = Promise.resolve();
  private failed: Error | undefined;

  private constructor(
    private readonly db: Low<T>,
    private readonly logger: Logger,
  ) {}

  /**
   * Opens (or creates) the document. A corrupt or invalid file is moved aside and replaced by `fresh()`
   * with a warning; a file that may not be read or written, or that a newer version wrote (its `version` above
   * `fresh().version`), throws FileAccessError and is left alone.
   */
  static async open<T extends { version: number }>(
    path: string,
    schema: z.ZodType<T>,
    fresh: () => T,
    logger: Logger,
  ): Promise<JsonStore<T>> {
    const adapter = new DurableJsonFile<T>(path);
    await adapter.checkAccess();
    const db = new Low<T>(adapter, fresh());
    let loaded = false;
    let corrupt = false;
    try {
      const raw = await adapter.read();
      if (raw !== null) {
        const found = (raw as { version?: unknown }).version;
        const reads = fresh().version;
        if (typeof found === "number" && found > reads) throw new NewerFormatError(path, found, reads);
        const parsed = schema.safeParse(raw);
        if (parsed.success) db.data = parsed.data;
        loaded = parsed.success;
        corrupt = !parsed.success;
      }
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err;
      corrupt = true;
    }
    if (corrupt) {
      const aside = await quarantine(path);
      logger.warn({ path, movedTo: aside }, `${path} was unreadable or invalid: moved aside, starting from empty`);
    }
    const store = new JsonStore(db, logger);
    if (!loaded) await store.flush();
    return store;
  }

  get data(): T {
    return this.db.data;
  }

  /** Asks for a write within `withinMs`; many calls coalesce into one write. */
  markDirty(withinMs: number): void {
    const at = Date.now() + withinMs;
    if (at >= this.due) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => void this.flush(), withinMs);
    this.timer.unref();
  }

  /** Resolves once everything changed so far is on disk: writes now if a write is pending, else awaits any in progress. */
  settle(): Promise<void> {
    if (this.due !== Number.POSITIVE_INFINITY) return this.flush();
    return this.writing.then(
      () => {},
      () => {},
    );
  }

  /** Writes now (after any write in progress); resolves when the data is on disk. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Number.POSITIVE_INFINITY;
    this.writing = this.writing.then(
      () => this.db.write(),
      () => this.db.write(),
    );
    return this.writing.catch((err: Error) => {
      if (this.failed?.message !== err.message) this.logger.error({ err }, "cannot write stats");
      this.failed = err;
    });
  }
}
