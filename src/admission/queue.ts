// Admission control in front of llama-server: no more requests in flight than it has slots,
// FIFO within a priority (interactive before background), bounded in length and in wait.
import type { Cancellation } from "../cancellation.js";
import { SidecarError } from "../errors.js";

export type Priority = "interactive" | "background";

/** The queue's numbers, as gauges and /api/stats show them. */
export interface QueueNumbers {
  depth: number;
  active: number;
  limit: number;
  capacity: number;
}

export interface Ticket {
  /** Milliseconds spent waiting for admission. */
  waitedMs: number;
  release(): void;
}

interface Waiter {
  priority: Priority;
  enqueuedAt: number;
  admit(): void;
  fail(err: Error): void;
}

export interface QueueOptions {
  /** How many may be in flight; read on each admission, so it follows llama-server's slot count. */
  limit: () => number;
  maxQueued: number;
  maxWaitMs: number;
  now?: () => number;
}

export class AdmissionQueue {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  private readonly now: () => number;

  constructor(private readonly opts: QueueOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  get depth(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.inFlight;
  }

  /** Waits for a free slot; rejects with `overloaded` when full or waited too long, or when the client left. */
  acquire(priority: Priority, cancel: Cancellation): Promise<Ticket> {
    const enqueuedAt = this.now();
    if (this.inFlight < this.opts.limit() && this.waiting.length === 0) return Promise.resolve(this.ticket(enqueuedAt));
    if (this.waiting.length >= this.opts.maxQueued) {
      return Promise.reject(
        new SidecarError("overloaded", `queue full: ${this.waiting.length} requests already waiting for llama-server`, {
          reason: "queue_full",
        }),
      );
    }
    return new Promise<Ticket>((resolve, reject) => {
      const timer = setTimeout(() => {
        stopWatching();
        this.remove(waiter);
        reject(
          new SidecarError(
            "overloaded",
            `waited ${Math.round(this.opts.maxWaitMs / 1000)} s for a free llama-server slot`,
            { reason: "wait" },
          ),
        );
      }, this.opts.maxWaitMs);
      const waiter: Waiter = {
        priority,
        enqueuedAt,
        admit: () => {
          clearTimeout(timer);
          stopWatching();
          resolve(this.ticket(enqueuedAt));
        },
        fail: reject,
      };
      this.insert(waiter);
      const stopWatching = cancel.onAbort(() => {
        clearTimeout(timer);
        this.remove(waiter);
        reject(new SidecarError("client_closed", "client disconnected while queued"));
      });
    });
  }

  private insert(w: Waiter): void {
    // Interactive requests go ahead of every waiting background one; FIFO otherwise.
    const at = w.priority === "interactive" ? this.waiting.findIndex((x) => x.priority === "background") : -1;
    if (at < 0) this.waiting.push(w);
    else this.waiting.splice(at, 0, w);
  }

  private remove(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  private ticket(enqueuedAt: number): Ticket {
    this.inFlight++;
    let released = false;
    return {
      waitedMs: this.now() - enqueuedAt,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.pump();
      },
    };
  }

  private pump(): void {
    while (this.inFlight < this.opts.limit() && this.waiting.length > 0) this.waiting.shift()?.admit();
  }
}
