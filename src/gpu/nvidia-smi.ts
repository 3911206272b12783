// NVIDIA GPUs through nvidia-smi's CSV query (present wherever the driver is, and in containers given the `utility`
// capability): each GPU's readings, and the compute processes on each, to see memory held by something else.
import type { GpuReading, ThrottleReason } from "./reading.js";

/**
 * The fields asked for, in order. `clocks_throttle_reasons.active` rather than `clocks_event_reasons.active`: drivers
 * from 535 take both (and print the new name), older ones only the old, and one unknown field fails the whole query.
 * `name` last: a GPU's name may hold a comma.
 */
export const GPU_FIELDS = [
  "index",
  "uuid",
  "utilization.gpu",
  "memory.used",
  "memory.total",
  "power.draw",
  "enforced.power.limit",
  "temperature.gpu",
  "clocks.current.sm",
  "clocks.max.sm",
  "clocks_throttle_reasons.active",
  "name",
] as const;

export const APP_FIELDS = ["gpu_uuid", "pid", "process_name", "used_memory"] as const;

export const gpuQueryArgs = [`--query-gpu=${GPU_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];
export const appQueryArgs = [`--query-compute-apps=${APP_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];

/** NVML's clock event reason bits (nvmlClocksEventReason*); 0x1 is an idle GPU, not a slowdown. */
const REASON_BITS: [number, ThrottleReason][] = [
  [0x2, "applications_clocks"],
  [0x4, "sw_power_cap"],
  [0x8, "hw_slowdown"],
  [0x10, "sync_boost"],
  [0x20, "sw_thermal"],
  [0x40, "hw_thermal"],
  [0x80, "hw_power_brake"],
  [0x100, "display_clock"],
];

const MIB = 1024 * 1024;

/** A number, or undefined for the placeholders nvidia-smi prints ([N/A], [Not Supported], N/A, ...). */
function num(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+(\.\d+)?$/.test(text.trim())) return undefined;
  return Number(text);
}

export function throttleReasons(mask: string | undefined): ThrottleReason[] {
  const bits = mask && /^0x[0-9a-f]+$/i.test(mask.trim()) ? Number.parseInt(mask.trim(), 16) : 0;
  return REASON_BITS.filter(([bit]) => (bits & bit) !== 0).map(([, reason]) => reason);
}

/** One reading per GPU line, with its uuid (what the compute processes name it by). */
export function parseGpus(csv: string, at: number): (GpuReading & { uuid: string })[] {
  const out: (GpuReading & { uuid: string })[] = [];
  for (const line of csv.split("\n")) {
    const cells = line.split(", ");
    if (cells.length < GPU_FIELDS.length) continue;
    const [index, uuid, util, used, total, power, limit, temp, sm, smMax, mask] = cells;
    const name = cells
      .slice(GPU_FIELDS.length - 1)
      .join(", ")
      .trim();
    const mb = (t: string | undefined) => (num(t) === undefined ? undefined : (num(t) as number) * MIB);
    const u = num(util);
    out.push({
      gpu: (index ?? "").trim(),
      uuid: (uuid ?? "").trim(),
      name,
      at,
      utilization: u === undefined ? undefined : u / 100,
      memoryUsedBytes: mb(used),
      memoryTotalBytes: mb(total),
      powerWatts: num(power),
      powerLimitWatts: num(limit),
      temperatureC: num(temp),
      smClockMhz: num(sm),
      smClockMaxMhz: num(smMax),
      throttled: throttleReasons(mask),
    });
  }
  return out;
}

/** Memory per GPU uuid held by compute processes that are not llama-server (by the program's file name). */
export function foreignMemory(csv: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of csv.split("\n")) {
    const [uuid, , processName, used] = line.split(", ");
    const mb = num(used);
    if (!uuid || !processName || mb === undefined) continue;
    const program = processName.trim().split("/").at(-1) ?? "";
    const ours = /^llama-server|^llama-swap/.test(program);
    out.set(uuid.trim(), (out.get(uuid.trim()) ?? 0) + (ours ? 0 : mb * MIB));
  }
  return out;
}
