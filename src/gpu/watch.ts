// The GPUs of every upstream: this machine's, read with its GPU tools, for upstreams that name no source, and one
// sampler per URL an upstream names (a DCGM exporter or `macmon serve` on its box), each narrowed to its GPUs.
import type { GpuDuring } from "./during.js";
import type { UpstreamGpu } from "./reading.js";
import { GpuSampler } from "./sampler.js";
import { type RunTool, toolSources } from "./sources.js";
import { type FetchText, fetchGpuPage, urlSource } from "./url-source.js";

/** Where an upstream's GPU is read. */
export interface GpuPlace {
  readonly upstream: string;
  /** A DCGM exporter's or macmon's URL; undefined: this machine's GPU tools. */
  readonly source?: string;
  /** The GPUs (indices) its llama-server runs on; undefined: every GPU the source reports. */
  readonly gpus?: readonly string[];
}

interface Watched {
  readonly upstream: string;
  readonly sampler: GpuSampler;
  readonly only?: ReadonlySet<string>;
}

export interface GpuWatchOptions {
  run: RunTool;
  onProblem(message: string): void;
  fetchText?: FetchText;
}

export class GpuWatch {
  private readonly watched: readonly Watched[];
  private readonly samplers: readonly GpuSampler[];

  constructor(places: readonly GpuPlace[], options: GpuWatchOptions) {
    const bySource = new Map<string, GpuSampler>();
    const samplerFor = (source: string | undefined) => {
      const key = source ?? "";
      let sampler = bySource.get(key);
      if (!sampler) {
        const sources = source ? [urlSource(source, options.fetchText ?? fetchGpuPage)] : toolSources(options.run);
        sampler = new GpuSampler(sources, options.onProblem);
        bySource.set(key, sampler);
      }
      return sampler;
    };
    this.watched = places.map((p) => ({
      upstream: p.upstream,
      sampler: samplerFor(p.source),
      only: p.gpus && new Set(p.gpus),
    }));
    this.samplers = [...bySource.values()];
  }

  start(): this {
    for (const s of this.samplers) s.start();
    return this;
  }

  stop(): void {
    for (const s of this.samplers) s.stop();
  }

  /** One reading from every source now, besides the timer's. */
  async sample(): Promise<void> {
    await Promise.all(this.samplers.map((s) => s.sample()));
  }

  /**
   * The last readings, each GPU under the first upstream that runs on it (a GPU two upstreams share is counted once,
   * so sums over upstreams hold); a GPU no upstream runs on is left out.
   */
  readings(): UpstreamGpu[] {
    const out: UpstreamGpu[] = [];
    for (const sampler of this.samplers)
      for (const r of sampler.readings()) {
        const owner = this.watched.find((w) => w.sampler === sampler && (!w.only || w.only.has(r.gpu)));
        if (owner) out.push({ ...r, upstream: owner.upstream });
      }
    return out;
  }

  /** What the GPUs of an upstream did from `from` to `to` (epoch ms); undefined without readings then. */
  during(upstream: string, from: number, to: number): GpuDuring | undefined {
    const w = this.watched.find((x) => x.upstream === upstream);
    return w?.sampler.during(from, to, w.only);
  }

  /** Joules the GPUs of an upstream drew from `from` to `to` (epoch ms); undefined without power readings then. */
  energy(upstream: string, from: number, to: number): number | undefined {
    const w = this.watched.find((x) => x.upstream === upstream);
    return w?.sampler.energy(from, to, w.only);
  }
}
