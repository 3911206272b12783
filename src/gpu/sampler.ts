// Reads the GPUs where llama-server runs, once a second, off the request path, with the first GPU tool this machine
// has (gpu/sources.ts). A tool that is not there is no error: no readings, no series.
import { energyJoules, type GpuDuring, gpuDuring } from "./during.js";
import type { GpuReading } from "./reading.js";
import { type GpuSource, gpuSources, type RunTool } from "./sources.js";

export type { RunTool } from "./sources.js";

/** Readings kept for the verdicts of requests that ran up to this long. */
const HISTORY_MS = 15 * 60_000;

export class GpuSampler {
  private latest: readonly GpuReading[] = [];
  /** Every GPU's readings of the last quarter hour, oldest first. */
  private history: GpuReading[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Why the source gave nothing, once: said in the log, not at every sample. */
  private failed: string | undefined;

  constructor(
    private readonly run: RunTool,
    private readonly onProblem: (message: string) => void,
    private readonly everyMs = 1000,
    /** The tools still to try, the one in use first. */
    private readonly sources: GpuSource[] = gpuSources(),
  ) {}

  start(): this {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.everyMs).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The last readings, one per GPU (none without a source). */
  readings(): readonly GpuReading[] {
    return this.latest;
  }

  /** Joules the GPUs drew from `from` to `to` (epoch ms), or undefined without power readings then. */
  energy(from: number, to: number): number | undefined {
    return energyJoules(this.history, from, to);
  }

  /** What the GPUs did from `from` to `to` (epoch ms), or undefined without readings then. */
  during(from: number, to: number): GpuDuring | undefined {
    return gpuDuring(this.history, from, to);
  }

  /** One reading of every GPU; a slow tool is never run twice at once. */
  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const source = this.sources[0];
      if (!source) return this.stop();
      const at = Date.now();
      this.latest = Object.freeze((await source.read(this.run, at)).map((r) => Object.freeze(r)));
      this.failed = undefined;
      this.history.push(...this.latest);
      const keepFrom = at - HISTORY_MS;
      if ((this.history[0]?.at ?? at) < keepFrom) this.history = this.history.filter((r) => r.at >= keepFrom);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.latest = [];
      // Not on this machine: the next tool is tried at the next sample; none at all, and the sampler stops.
      if (e.code === "ENOENT") this.sources.shift();
      else {
        if (this.failed !== e.message) this.onProblem(`reading the GPU failed: ${e.message}`);
        this.failed = e.message;
      }
    } finally {
      this.busy = false;
    }
  }
}
