// Reads GPUs once a second, off the request path, from one source: the first GPU tool this machine has, or a URL
// (gpu/sources.ts). A tool that is not there is no error: no readings, no series.
import { energyJoules, type GpuDuring, gpuDuring } from "./during.js";
import type { GpuReading } from "./reading.js";
import type { GpuSource } from "./sources.js";

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
    /** The sources still to try, the one in use first. */
    private readonly sources: GpuSource[],
    private readonly onProblem: (message: string) => void,
    private readonly everyMs = 1000,
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

  /** Joules the GPUs (those of `only`, if given) drew from `from` to `to` (epoch ms); undefined without power then. */
  energy(from: number, to: number, only?: ReadonlySet<string>): number | undefined {
    return energyJoules(this.history, from, to, only);
  }

  /** What the GPUs (those of `only`, if given) did from `from` to `to` (epoch ms); undefined without readings then. */
  during(from: number, to: number, only?: ReadonlySet<string>): GpuDuring | undefined {
    return gpuDuring(this.history, from, to, only);
  }

  /** One reading of every GPU; a slow tool is never run twice at once. */
  async sample(): Promise<void> {
    const source = this.sources[0];
    if (!source) return this.stop();
    if (this.busy) return;
    this.busy = true;
    try {
      const at = Date.now();
      this.latest = Object.freeze((await source.read(at)).map((r) => Object.freeze(r)));
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
        if (this.failed !== e.message) this.onProblem(`reading the GPU failed: ${e.message} (${source.name})`);
        this.failed = e.message;
      }
    } finally {
      this.busy = false;
    }
  }
}
