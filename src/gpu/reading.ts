// What a GPU reports at one moment, as every source (nvidia-smi, amd-smi, macmon, a DCGM exporter) reads into it.

/** Why the GPU's clocks are held down: the slowdowns (an idle GPU's low clock is not one). */
export const THROTTLE_REASONS = [
  "sw_power_cap",
  "hw_slowdown",
  "sync_boost",
  "sw_thermal",
  "hw_thermal",
  "hw_power_brake",
  "applications_clocks",
  "display_clock",
] as const;
export type ThrottleReason = (typeof THROTTLE_REASONS)[number];

export interface GpuReading {
  /** The GPU's index on its machine, as the label `gpu`. */
  readonly gpu: string;
  readonly name?: string;
  /** When it was read, epoch ms. */
  readonly at: number;
  /** Share of the last sample period a kernel ran, 0 to 1. */
  readonly utilization?: number;
  readonly memoryUsedBytes?: number;
  readonly memoryTotalBytes?: number;
  readonly powerWatts?: number;
  readonly powerLimitWatts?: number;
  readonly temperatureC?: number;
  readonly smClockMhz?: number;
  readonly smClockMaxMhz?: number;
  readonly throttled: readonly ThrottleReason[];
  /** Memory held on this GPU by processes that are not llama-server. */
  readonly foreignMemoryBytes?: number;
}

/** A reading as it is shown: with the upstream whose llama-server runs on that GPU. */
export type UpstreamGpu = GpuReading & { readonly upstream: string };
