// Finds where SSE events end in a byte stream, so a relay forwards whole events only: when llama-server's stream
// is cut mid-event, the client never holds half an event for the sidecar's error event to run into.

const LF = 0x0a;
const CR = 0x0d;
const isEol = (c: number | undefined) => c === LF || c === CR;

/**
 * The index in `chunk` just past its last blank line (the end of the last complete event), or -1 if it has none.
 * `before` holds up to two bytes that precede the chunk (an unfinished event's end), for a blank line across the
 * seam. A blank line is two line endings in a row, each LF, CR or CRLF (the SSE specification's three).
 */
export function lastEventEnd(chunk: Uint8Array, before: Uint8Array): number {
  const p = before.length;
  const at = (i: number) => (i < p ? before[i] : chunk[i - p]);
  for (let i = p + chunk.length - 1; i >= p; i--) {
    const c = at(i);
    if (!isEol(c)) continue;
    // The line ending that ends at i is CRLF when an LF follows a CR; the character before it decides.
    const prev = c === LF && at(i - 1) === CR ? i - 2 : i - 1;
    if (prev >= 0 && isEol(at(prev))) return i - p + 1;
  }
  return -1;
}

/** The end of the first event in `bytes` from `from` (just past its blank line), or bytes.length. */
export function firstEventEnd(bytes: Buffer, from: number): number {
  let i = from;
  while (i < bytes.length) {
    const c = bytes[i];
    if (!isEol(c)) {
      i++;
      continue;
    }
    // A line ends at i (LF, CR or CRLF); a second line ending right after it is the blank line.
    const next = c === CR && bytes[i + 1] === LF ? i + 2 : i + 1;
    const d = bytes[next];
    if (d === LF) return next + 1;
    if (d === CR) return bytes[next + 1] === LF ? next + 2 : next + 1;
    i = next;
  }
  return bytes.length;
}

/**
 * Holds back an unfinished event's bytes until its end arrives; whole events pass at once. llama-server writes
 * each event in one piece, so in practice nothing is held: the first check (does the chunk end with a blank line?)
 * passes the chunk itself, untouched and uncopied.
 */
export class SseFramer {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** What went out last ended with a CR: an LF that comes next belongs to it (a CRLF cut in two). */
  private afterCr = false;

  /** The bytes to forward now (whole events), or undefined while an event is unfinished. */
  push(chunk: Buffer): Buffer | undefined {
    const n = chunk.length;
    if (this.heldBytes === 0 && n >= 2 && chunk[n - 1] === LF && chunk[n - 2] === LF) {
      this.afterCr = false;
      return chunk;
    }
    if (this.afterCr && this.heldBytes === 0 && chunk[0] === LF) {
      this.afterCr = false;
      const lf = chunk.subarray(0, 1);
      const more = n > 1 ? this.push(chunk.subarray(1)) : undefined;
      return more ? Buffer.concat([lf, more]) : lf;
    }
    const cut = lastEventEnd(chunk, this.heldBytes === 0 ? EMPTY : this.tailBytes());
    if (cut < 0) {
      this.hold(chunk);
      return undefined;
    }
    const ready = this.heldBytes === 0 ? chunk.subarray(0, cut) : Buffer.concat([...this.held, chunk.subarray(0, cut)]);
    this.held = [];
    this.heldBytes = 0;
    this.afterCr = chunk[cut - 1] === CR;
    if (cut < n) this.hold(chunk.subarray(cut));
    return ready;
  }

  /** What is held when the stream ends cleanly: sent as llama-server sent it (a client drops an unfinished event). */
  rest(): Buffer | undefined {
    if (this.heldBytes === 0) return undefined;
    const rest = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    return rest;
  }

  private hold(bytes: Buffer): void {
    this.held.push(bytes);
    this.heldBytes += bytes.length;
  }

  /** The last two held bytes: a blank line may start there and end in the next chunk. */
  private tailBytes(): Uint8Array {
    const last = this.held[this.held.length - 1] as Buffer;
    if (last.length >= 2 || this.held.length === 1) return last.subarray(-2);
    const before = this.held[this.held.length - 2] as Buffer;
    return Buffer.concat([before.subarray(-1), last]);
  }
}

const EMPTY = new Uint8Array(0);
