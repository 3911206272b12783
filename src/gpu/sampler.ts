// Reads the GPUs where llama-server runs, once a second, off the request path: nvidia-smi when it is there. A source
// that is not there is no error: no readings, no series.

import { energyJoules, type GpuDuring, gpuDuring } from "./during.js";
import { appQueryArgs, foreignMemory, gpuQueryArgs, parseGpus } from "./nvidia-smi.js";
import type { GpuReading } from "./reading.js";

/** Runs a program with arguments and gives its standard output (rejects when it cannot run or fails). */
export type RunTool = (file: string, args: readonly string[]) => Promise<string>;

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
      const at = Date.now();
      const [gpus, apps] = await Promise.all([
        this.run("nvidia-smi", gpuQueryArgs),
        this.run("nvidia-smi", appQueryArgs).catch(() => ""),
      ]);
      const foreign = foreignMemory(apps);
      this.latest = Object.freeze(
        parseGpus(gpus, at).map(({ uuid, ...r }) =>
          Object.freeze({ ...r, foreignMemoryBytes: foreign.get(uuid) ?? 0 }),
        ),
      );
      this.failed = undefined;
      this.history.push(...this.latest);
      const keepFrom = at - HISTORY_MS;
      if ((this.history[0]?.at ?? at) < keepFrom) this.history = this.history.filter((r) => r.at >= keepFrom);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.latest = [];
      // No nvidia-smi on this machine: nothing to read, ever; stop asking.
      if (e.code === "ENOENT") return this.stop();
      if (this.failed !== e.message) this.onProblem(`reading the GPU failed: ${e.message}`);
      this.failed = e.message;
    } finally {
      this.busy = false;
    }
  }
}
