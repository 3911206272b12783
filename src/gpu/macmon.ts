// Apple Silicon through macmon (no sudo): one `macmon pipe` sample as a JSON line. The GPU shares the machine's
// memory, so its memory is the system's RAM in use; its clock's maximum is the highest of the SoC's GPU frequencies.
// `macmon serve` gives the same sample at /json, and its gauges at /metrics (which name no maximum clock).
import type { ParsedFamily } from "parse-prometheus-text-format";
import type { GpuReading } from "./reading.js";

/** One sample after 200 ms, with the SoC's description (its GPU frequencies). */
export const macmonArgs = ["pipe", "-s", "1", "-i", "200", "--soc-info"];

type Json = Record<string, unknown>;
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export function parseMacmon(text: string, when: number): GpuReading[] {
  const line = text.trim().split("\n").at(-1);
  if (!line) return [];
  const j = JSON.parse(line) as Json;
  const usage = Array.isArray(j.gpu_usage) ? (j.gpu_usage as unknown[]) : [];
  const soc = (j.soc ?? {}) as Json;
  const freqs = Array.isArray(soc.gpu_freqs) ? (soc.gpu_freqs as unknown[]).filter((f) => typeof f === "number") : [];
  const memory = (j.memory ?? {}) as Json;
  return [
    {
      gpu: "0",
      name: typeof soc.chip_name === "string" ? soc.chip_name : undefined,
      at: when,
      utilization: num(j.gpu_active_ratio) ?? num(usage[1]),
      memoryUsedBytes: num(memory.ram_usage),
      memoryTotalBytes: num(memory.ram_total),
      powerWatts: num(j.gpu_power),
      temperatureC: num(((j.temp ?? {}) as Json).gpu_temp_avg),
      smClockMhz: num(j.gpu_freq_mhz) ?? num(usage[0]),
      smClockMaxMhz: freqs.length > 0 ? Math.max(...(freqs as number[])) : undefined,
      throttled: [],
      foreignMemoryBytes: undefined,
    },
  ];
}

export const isMacmon = (families: readonly ParsedFamily[]) => families.some((f) => f.name.startsWith("macmon_"));

/** `macmon serve`'s /metrics: one GPU, the chip's, from its `macmon_*` gauges. */
export function parseMacmonMetrics(families: readonly ParsedFamily[], when: number): GpuReading[] {
  const value = (name: string) => num(Number(families.find((f) => f.name === name)?.metrics[0]?.value));
  const chip = families.find((f) => f.name === "macmon_gpu_freq_mhz")?.metrics[0]?.labels?.chip;
  return [
    {
      gpu: "0",
      name: chip,
      at: when,
      utilization: value("macmon_gpu_active_ratio"),
      memoryUsedBytes: value("macmon_memory_ram_used_bytes"),
      memoryTotalBytes: value("macmon_memory_ram_total_bytes"),
      powerWatts: value("macmon_gpu_power_watts"),
      temperatureC: value("macmon_gpu_temp_celsius"),
      smClockMhz: value("macmon_gpu_freq_mhz"),
      throttled: [],
      foreignMemoryBytes: undefined,
    },
  ];
}
