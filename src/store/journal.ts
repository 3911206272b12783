// An append-only journal of small JSON entries, each numbered, that survives a crash of the process: every entry
// is handed to the kernel when it is appended (one write, no fsync), and the store it feeds folds it in later.
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export interface JournalEntry {
  /** Sequence number: the entry's identity, so a replay applies it once and never twice. */
  s: number;
  /** The entry itself. */
  d: unknown;
}

export interface Replayed {
  /** Entries numbered after `after`, in order, each once. */
  entries: JournalEntry[];
  /** The highest number found (or `after`). */
  lastSeq: number;
  /** Lines that could not be read (a write cut short by a full disk): skipped. */
  unreadable: number;
}

/**
 * Files: NAME is the one being appended to; NAME.<seq> are sealed ones, whose entries end at <seq>, kept until the
 * store that folded them in is on disk. The sequence number, not the file, decides what a replay applies.
 */
export class Journal {
  private fd: number | undefined;
  /** Bytes of whole entries in the open file: a failed write is cut back to this, so no half line stays. */
  private size = 0;
  /** The number of the last entry on disk. */
  seq: number;
  /** The last append failed (full, read-only or missing disk); cleared by the next one that succeeds. */
  failing: Error | undefined;
  failedWrites = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    lastSeq: number,
  ) {
    this.seq = lastSeq;
  }

  /** Reads every entry numbered after `after`, from sealed files and the open one. */
  static replay(dir: string, name: string, after: number): Replayed {
    const files = readdirSync(dir).filter((f) => f === name || f.startsWith(`${name}.`));
    const bySeq = new Map<number, JournalEntry>();
    let unreadable = 0;
    let lastSeq = after;
    for (const file of files) {
      for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
        if (!line) continue;
        const entry = parseEntry(line);
        if (!entry) {
          unreadable++;
          continue;
        }
        lastSeq = Math.max(lastSeq, entry.s);
        if (entry.s > after) bySeq.set(entry.s, entry);
      }
    }
    const entries = [...bySeq.values()].sort((a, b) => a.s - b.s);
    return { entries, lastSeq, unreadable };
  }

  private open(): number {
    this.fd ??= openSync(join(this.dir, this.name), "a", 0o644);
    this.size = fstatSync(this.fd).size;
    return this.fd;
  }

  /** Appends one entry; true once it is in the kernel's hands, false (and `failing` set) if the disk refused it. */
  append(data: unknown): boolean {
    const line = Buffer.from(`${JSON.stringify({ s: this.seq + 1, d: data })}\n`);
    let fd: number | undefined;
    try {
      fd = this.fd ?? this.open();
      let off = 0;
      while (off < line.length) off += writeSync(fd, line, off);
      this.size += line.length;
      this.seq++;
      this.failing = undefined;
      return true;
    } catch (err) {
      this.failedWrites++;
      this.failing = err as Error;
      // A write cut short would leave half a line for the next entry to run into: cut it back.
      if (fd !== undefined) {
        try {
          ftruncateSync(fd, this.size);
        } catch {
          // the file may be gone with its folder: the next open starts a new one
          this.closeFile();
        }
      }
      return false;
    }
  }

  /**
   * Closes the open file under the name of its last entry, so a store written from now on covers it whole;
   * returns that number. An empty file is left open.
   */
  seal(): number {
    if (this.fd === undefined || this.size === 0) return this.seq;
    this.closeFile();
    try {
      renameSync(join(this.dir, this.name), join(this.dir, `${this.name}.${this.seq}`));
    } catch {
      // Not sealed (its folder is gone or read-only): its entries stay where they are, and numbers still decide.
    }
    return this.seq;
  }

  /**
   * Seals a file left open by an earlier run (after its replay), so the next fold can drop it; true if there was one.
   */
  sealLeftover(): boolean {
    const path = join(this.dir, this.name);
    try {
      // An empty one holds nothing to seal, and its name could be a sealed file's that still matters.
      if (statSync(path).size === 0) rmSync(path, { force: true });
      else renameSync(path, join(this.dir, `${this.name}.${this.seq}`));
      return true;
    } catch {
      return false;
    }
  }

  /** Removes sealed files whose every entry is numbered `seq` or lower: the store on disk holds them. */
  dropThrough(seq: number): void {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const f of files) {
      if (!f.startsWith(`${this.name}.`)) continue;
      const last = Number(f.slice(this.name.length + 1));
      if (!Number.isInteger(last) || last > seq) continue;
      try {
        rmSync(join(this.dir, f), { force: true });
      } catch {
        // Left for the next fold to remove: its entries are at or below the store's number, so never replayed.
      }
    }
  }

  close(): void {
    this.closeFile();
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed with its file system
    }
    this.fd = undefined;
    this.size = 0;
  }
}

function parseEntry(line: string): JournalEntry | undefined {
  try {
    const v = JSON.parse(line) as Partial<JournalEntry>;
    return typeof v.s === "number" && Number.isInteger(v.s) && v.s > 0 && "d" in v ? (v as JournalEntry) : undefined;
  } catch {
    return undefined;
  }
}
