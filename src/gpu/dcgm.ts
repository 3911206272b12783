// NVIDIA GPUs through a DCGM exporter's /metrics (for an upstream on another box, or a stack that runs one): its
// `DCGM_FI_DEV_*` gauges, one sample per GPU labelled `gpu`, read into the same readings as nvidia-smi's.
import type { ParsedFamily } from "parse-prometheus-text-format";
import { throttleReasons } from "./nvidia-smi.js";
import type { GpuReading } from "./reading.js";

/** The fields read, by what they give. Clock event reasons carry their pre-DCGM-3.2 name too. */
export const DCGM_FIELDS = {
  utilization: "DCGM_FI_DEV_GPU_UTIL",
  memoryUsed: "DCGM_FI_DEV_FB_USED",
  memoryFree: "DCGM_FI_DEV_FB_FREE",
  memoryReserved: "DCGM_FI_DEV_FB_RESERVED",
  memoryTotal: "DCGM_FI_DEV_FB_TOTAL",
  power: "DCGM_FI_DEV_POWER_USAGE",
  powerLimit: "DCGM_FI_DEV_POWER_MGMT_LIMIT",
  enforcedLimit: "DCGM_FI_DEV_ENFORCED_POWER_LIMIT",
  temperature: "DCGM_FI_DEV_GPU_TEMP",
  smClock: "DCGM_FI_DEV_SM_CLOCK",
  smClockMax: "DCGM_FI_DEV_MAX_SM_CLOCK",
  reasons: "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
  reasonsOld: "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
} as const;

type Field = keyof typeof DCGM_FIELDS;
const BY_NAME = new Map(Object.entries(DCGM_FIELDS).map(([k, v]) => [v as string, k as Field]));
const MIB = 1024 * 1024;

/**
 * DCGM's "blank" values (no reading: an unsupported field) are huge sentinels, 0x7ffffff0 and up for 32-bit
 * fields, 2^63 - 16 and up for 64-bit ones, 1.4e14 and up for floats: none is a GPU's real reading.
 */
const real = (v: number) => Number.isFinite(v) && v >= 0 && v < 0x7ffffff0;

export const isDcgm = (families: readonly ParsedFamily[]) => families.some((f) => f.name.startsWith("DCGM_FI_"));

/** One reading per GPU the exporter reports. */
export function parseDcgm(families: readonly ParsedFamily[], at: number): GpuReading[] {
  const gpus = new Map<string, { name?: string; values: Partial<Record<Field, number>> }>();
  for (const family of families) {
    const field = BY_NAME.get(family.name);
    if (!field) continue;
    for (const sample of family.metrics) {
      const gpu = sample.labels?.gpu;
      const value = Number(sample.value);
      if (gpu === undefined || !real(value)) continue;
      const entry = gpus.get(gpu) ?? { values: {} };
      entry.name ??= sample.labels?.modelName;
      entry.values[field] = value;
      gpus.set(gpu, entry);
    }
  }
  return [...gpus].map(([gpu, { name, values: v }]) => reading(gpu, name, at, v));
}

function reading(gpu: string, name: string | undefined, at: number, v: Partial<Record<Field, number>>): GpuReading {
  const used = v.memoryUsed;
  // FB_TOTAL is not among the exporter's default fields; used + free + reserved is the same total.
  const total =
    v.memoryTotal ??
    (used !== undefined && v.memoryFree !== undefined ? used + v.memoryFree + (v.memoryReserved ?? 0) : undefined);
  const mask = v.reasons ?? v.reasonsOld;
  return {
    gpu,
    name,
    at,
    utilization: v.utilization === undefined ? undefined : v.utilization / 100,
    memoryUsedBytes: used === undefined ? undefined : used * MIB,
    memoryTotalBytes: total === undefined ? undefined : total * MIB,
    powerWatts: v.power,
    powerLimitWatts: v.enforcedLimit ?? v.powerLimit,
    temperatureC: v.temperature,
    smClockMhz: v.smClock,
    smClockMaxMhz: v.smClockMax,
    throttled: mask === undefined ? [] : throttleReasons(`0x${mask.toString(16)}`),
    // The exporter does not say which processes hold memory (outside Kubernetes): nothing is claimed.
    foreignMemoryBytes: undefined,
  };
}
