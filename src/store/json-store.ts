// A lowdb document on disk: validated (and repaired) on open, writes coalesced and serialised, the last state
// written kept apart from the live one, and a disk that refuses writes reported and retried.
import { Low } from "lowdb";
import type { Logger } from "pino";
import * as v from "valibot";
import { CorruptFileError, DurableJsonFile, NewerFormatError, quarantine } from "./durable-file.js";

/** How often a store whose last write failed tries again, traffic or not. */
const RETRY_MS = 2000;

/**
 * Mends what it can of a document that failed its schema, field by field, telling `report` each path it reset;
 * returns the mended document (which must then pass the schema), or the input unchanged when its shape is beyond
 * mending (then the file is moved aside whole).
 */
export type Repair = (raw: unknown, report: (path: string) => void) => unknown;

export interface StoreOptions<T> {
  path: string;
  schema: v.GenericSchema<unknown, T>;
  fresh: () => T;
  logger: Logger;
  repair?: Repair;
  /** Brings a document an older version wrote up to this one's format (its `version` below `fresh().version`). */
  migrate?: (raw: unknown) => unknown;
}

export class JsonStore<T> {
  private timer: NodeJS.Timeout | undefined;
  private due = Number.POSITIVE_INFINITY;
  private writing: Promise<void> = Promise.resolve();
  private savedText: string;
  private savedData: T | undefined;
  /** The last write failed: the error, until a write succeeds. */
  failing: Error | undefined;
  failedWrites = 0;
  /**
   * Called as a write's snapshot is taken, in the same turn; what it returns is called once that snapshot is on
   * disk (a journal seals its entries there, and drops them once the store holds them).
   */
  onSnapshot: (() => (() => void) | undefined) | undefined;

  private constructor(
    private readonly db: Low<T>,
    private readonly adapter: DurableJsonFile<T>,
    private readonly logger: Logger,
    readonly path: string,
  ) {
    this.savedText = JSON.stringify(db.data);
  }

  /**
   * Opens (or creates) the document. A file with bad fields is repaired field by field (each reported); a corrupt
   * file, or one whose shape cannot be mended, is moved aside and replaced by `fresh()` with a warning; a file that
   * may not be read or written, or that a newer version wrote (its `version` above `fresh().version`), throws
   * FileAccessError and is left alone.
   */
  static async open<T extends { version: number }>(opts: StoreOptions<T>): Promise<JsonStore<T>> {
    const { path, logger } = opts;
    const adapter = new DurableJsonFile<T>(path);
    await adapter.checkAccess();
    const db = new Low<T>(adapter, opts.fresh());
    let outcome: Loaded<T> = { kind: "absent" };
    try {
      outcome = load(await adapter.read(), opts);
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err;
      outcome = { kind: "corrupt" };
    }
    if (outcome.kind === "corrupt") {
      const aside = await quarantine(path);
      logger.warn({ path, movedTo: aside }, `${path} was unreadable or invalid: moved aside, starting from empty`);
    }
    if (outcome.kind === "repaired") {
      logger.warn({ path, reset: outcome.reset }, `${path} held invalid values: reset ${outcome.reset.join(", ")}`);
    }
    if (outcome.kind !== "absent" && outcome.kind !== "corrupt" && outcome.from !== undefined) {
      logger.info({ path, from: outcome.from }, `${path}: migrated from format ${outcome.from}, every total kept`);
    }
    if (outcome.kind === "loaded" || outcome.kind === "repaired") db.data = outcome.data;
    const store = new JsonStore(db, adapter, logger, path);
    if (outcome.kind !== "loaded" || outcome.from !== undefined) await store.flush();
    return store;
  }

  get data(): T {
    return this.db.data;
  }

  /** The document as last written to disk (or read from it): what may be exported as a lifetime total. */
  get saved(): T {
    this.savedData ??= JSON.parse(this.savedText) as T;
    return this.savedData;
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
    return this.writing;
  }

  /**
   * Writes now (after any write in progress); resolves when it is on disk or has failed (then `failing` says why,
   * and a retry is scheduled). The snapshot is taken now, in this turn: what changes while it is written goes
   * into the next write, never half into this one.
   */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Number.POSITIVE_INFINITY;
    const written = this.onSnapshot?.();
    const text = JSON.stringify(this.db.data);
    this.writing = this.writing.then(() =>
      this.adapter.writeText(text).then(
        () => this.wrote(text, written),
        (err: Error) => this.failed(err),
      ),
    );
    return this.writing;
  }

  private wrote(text: string, then: (() => void) | undefined): void {
    this.savedText = text;
    this.savedData = undefined;
    if (this.failing) this.logger.info({ path: this.path }, `${this.path} is written again`);
    this.failing = undefined;
    try {
      then?.();
    } catch (err) {
      // Tidying up after a write (a journal file that could not be removed) must not stop the writes after it.
      this.logger.warn({ path: this.path, err: (err as Error).message }, "after writing: cleanup failed");
    }
  }

  private failed(err: Error): void {
    this.failedWrites++;
    if (this.failing?.message !== err.message) {
      this.logger.error(
        { path: this.path, err: err.message },
        `cannot write ${this.path}: lifetime totals stay at what is on disk, retrying every ${RETRY_MS / 1000} s`,
      );
    }
    this.failing = err;
    this.markDirty(RETRY_MS);
  }
}

type Loaded<T> =
  | { kind: "absent" }
  | { kind: "corrupt" }
  | { kind: "loaded"; data: T; from?: number }
  | { kind: "repaired"; data: T; reset: string[]; from?: number };

function load<T extends { version: number }>(raw: T | null, opts: StoreOptions<T>): Loaded<T> {
  if (raw === null) return { kind: "absent" };
  const found = (raw as { version?: unknown }).version;
  const reads = opts.fresh().version;
  if (typeof found === "number" && found > reads) throw new NewerFormatError(opts.path, found, reads);
  const from = typeof found === "number" && found < reads && opts.migrate ? found : undefined;
  const current = from === undefined ? raw : opts.migrate?.(raw);
  const parsed = v.safeParse(opts.schema, current);
  if (parsed.success) return { kind: "loaded", data: parsed.output, from };
  if (!opts.repair) return { kind: "corrupt" };
  const reset: string[] = [];
  const mended = v.safeParse(
    opts.schema,
    opts.repair(current, (p) => reset.push(p)),
  );
  return mended.success && reset.length > 0
    ? { kind: "repaired", data: mended.output, reset, from }
    : { kind: "corrupt" };
}
