// Request records' ids: UUIDv7 (RFC 9562), made from a pool of random bytes rather than a system call each.
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

/** Ids one fill of the pool makes: one `getrandom` call for this many records. */
const IDS_PER_FILL = 256;
const BYTES = 16;

/**
 * uuid's own `v7()` asks the system for 16 random bytes every time (`crypto.getRandomValues`), about 20 µs when
 * the call is cold, which it is once a request: the burst that ends 256 streams paid that 256 times before any of
 * their responses could end. Here the bytes come from a pool filled once per IDS_PER_FILL ids (as node's own
 * `randomUUID()` does), and the clock and counter are kept as uuid keeps them, so ids made in one millisecond
 * still sort in the order they were made (RFC 9562 §6.2, method 1: a counter seeded from the random bits).
 */
export class RecordIds {
  private readonly pool = new Uint8Array(IDS_PER_FILL * BYTES);
  private next = this.pool.length;
  private msecs = Number.NEGATIVE_INFINITY;
  private seq = 0;

  constructor(private readonly now: () => number = Date.now) {}

  make(): string {
    if (this.next === this.pool.length) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    const random = this.pool.subarray(this.next, this.next + BYTES);
    this.next += BYTES;
    const now = this.now();
    if (now > this.msecs) {
      this.msecs = now;
      // Seeded with 31 random bits, so at least 2^31 more ids fit in this millisecond before the counter wraps.
      this.seq =
        ((random[6] ?? 0) & 0x7f) * 2 ** 24 + ((random[7] ?? 0) << 16) + ((random[8] ?? 0) << 8) + (random[9] ?? 0);
    } else {
      // A clock that stood still (or went back): the counter orders the ids; its wrap borrows the next millisecond.
      this.seq = (this.seq + 1) | 0;
      if (this.seq === 0) this.msecs++;
    }
    return v7({ msecs: this.msecs, seq: this.seq, random });
  }
}
