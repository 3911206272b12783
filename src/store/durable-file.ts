// A lowdb adapter that survives power loss: write a temp file, fsync it, rename over the old one, fsync the folder.
import { constants } from "node:fs";
import { access, mkdir, open, readFile, readlink, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Adapter } from "lowdb";

/** The file exists but is not valid JSON (truncated by a crash, edited by hand, ...). */
export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`${path} is not valid JSON`, { cause });
    this.name = "CorruptFileError";
  }
}

/** The file or its folder may not be read or written: never overwritten, reported to the user. */
export class FileAccessError extends Error {
  /** What the user can do about it. */
  readonly hint: string = "Fix the permissions or choose another --data-dir.";
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot read and write ${path}: ${(cause as Error).message}`, { cause });
    this.name = "FileAccessError";
  }
}

/** The file was written by a newer llama-sidecar: its totals are kept, untouched, for that version. */
export class NewerFormatError extends FileAccessError {
  override readonly hint = "Run that newer llama-sidecar, or choose another --data-dir.";
  constructor(path: string, found: number, reads: number) {
    super(path, new Error(`written by a newer llama-sidecar (format ${found}; this one reads format ${reads})`));
    this.name = "NewerFormatError";
  }
}

const ACCESS_CODES = new Set(["EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR"]);

export class DurableJsonFile<T> implements Adapter<T> {
  private seq = 0;

  constructor(readonly path: string) {}

  /** Fails with FileAccessError unless the folder can be created and both it and the file are writable. */
  async checkAccess(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await access(dirname(this.path), constants.R_OK | constants.W_OK);
      await access(this.path, constants.R_OK | constants.W_OK).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        // A link to nothing reads as "no file", and the first write would replace the link: say so instead.
        const link = await readlink(this.path).catch(() => undefined);
        if (link !== undefined) throw new Error(`it is a symbolic link to ${link}, which does not exist`);
      });
    } catch (err) {
      throw new FileAccessError(this.path, err);
    }
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (code === "ENOENT") return null;
      if (ACCESS_CODES.has(code)) throw new FileAccessError(this.path, err);
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new CorruptFileError(this.path, err);
    }
  }

  write(data: T): Promise<void> {
    return this.writeText(JSON.stringify(data));
  }

  /** Writes text already serialised (a snapshot taken earlier, which later changes must not reach). */
  async writeText(text: string): Promise<void> {
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${++this.seq}.tmp`);
    try {
      const file = await open(tmp, "w", 0o644);
      try {
        await file.writeFile(text);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, this.path);
      await syncFolder(dirname(this.path));
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (ACCESS_CODES.has(code)) throw new FileAccessError(this.path, err);
      throw err;
    }
  }
}

/** Makes the rename itself durable. */
async function syncFolder(folder: string): Promise<void> {
  const dir = await open(folder, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Moves a corrupt file aside as NAME.corrupt-<timestamp>, so nothing is lost and the sidecar can start fresh. */
export async function quarantine(path: string, now = new Date()): Promise<string> {
  const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, "-")}`;
  await rename(path, aside);
  return aside;
}
