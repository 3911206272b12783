// The main thread's end of the request log's worker (store/log-worker.ts): calls as promises, in order.
import { Worker } from "node:worker_threads";
import type { LogAnswer, LogCall, LogOp, LogThreadData } from "../store/log-worker.js";

/**
 * The worker's file beside this one's build: dist/store/log-worker.js, or src/store/log-worker.ts when the sidecar
 * runs from source (tests, `tsx`): then a two-line module registers tsx in the new thread first (a worker's
 * execArgv cannot carry --import on Node 20), and imports the worker through it.
 */
function workerUrl(): URL {
  if (!import.meta.url.endsWith(".ts")) return new URL("../store/log-worker.js", import.meta.url);
  const file = new URL("../store/log-worker.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `const { register } = await import(${JSON.stringify(tsx)}); register(); await import(${JSON.stringify(file)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export class LogThread {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  /** Set when the thread died: every call from then on fails with it. */
  private dead: Error | undefined;
  private closing = false;
  private readonly exited: Promise<void>;

  constructor(data: LogThreadData, onDeath: (err: Error) => void) {
    // A small young generation: the thread's objects are a batch at a time, and the sidecar's RSS is a target.
    this.worker = new Worker(workerUrl(), {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 128 },
    });
    // An idle log must not keep the process alive (shutdown closes it); a call waiting for its answer does.
    this.worker.unref();
    this.worker.on("message", (a: LogAnswer) => {
      const w = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      if (this.waiting.size === 0) this.worker.unref();
      if (a.ok) w?.resolve(a.value);
      else w?.reject(Object.assign(new Error(a.error), { code: a.code }));
    });
    this.exited = new Promise((resolve) => {
      const die = (err: Error) => {
        if (!this.dead) {
          this.dead = err;
          if (!this.closing) onDeath(err);
        }
        for (const w of this.waiting.values()) w.reject(err);
        this.waiting.clear();
        resolve();
      };
      this.worker.on("error", die);
      this.worker.on("exit", (code) => die(new Error(`the request log's thread ended (exit code ${code})`)));
    });
  }

  call<T>(op: LogOp, ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args } satisfies LogCall);
    });
  }

  /** Ends the thread once the calls already made are answered. */
  async close(): Promise<void> {
    this.closing = true;
    if (!this.dead) {
      this.worker.ref(); // until it has ended
      this.worker.postMessage("close");
    }
    await this.exited;
  }
}
