// AMD GPUs through amd-smi's JSON: `metric` for utilisation, power, temperature, memory and clocks, `static --limit`
// for the power cap (read once a minute), `process` for other processes' memory. ROCm 6 prints a bare list, ROCm 7
// wraps it in {"gpu_data": [...]}; a value is {"value", "unit"} or "N/A".
import type { GpuReading, ThrottleReason } from "./reading.js";

export const amdMetricArgs = ["metric", "--json"];
export const amdLimitArgs = ["static", "--limit", "--json"];
export const amdProcessArgs = ["process", "--json"];

type Json = Record<string, unknown>;
const MIB = 1024 * 1024;

const gpusOf = (text: string): Json[] => {
  const j = JSON.parse(text) as unknown;
  return (Array.isArray(j) ? j : ((j as Json)?.gpu_data as Json[] | undefined)) ?? [];
};

/** A leaf: {"value": n, "unit": u}, a plain number, or "N/A" (undefined). */
function val(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "object" && v !== null ? (v as Json).value : undefined;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

const at = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((x, k) => (x && typeof x === "object" ? (x as Json)[k] : undefined), o);

/** Each GPU's power cap by its number: `limit.ppt0.socket_power_limit` from ROCm 7.2, `limit.socket_power` before. */
export function parseAmdLimits(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of gpusOf(text)) {
    const cap = val(at(g, "limit", "ppt0", "socket_power_limit")) ?? val(at(g, "limit", "socket_power"));
    if (cap !== undefined) out.set(String(g.gpu), cap);
  }
  return out;
}

/** Memory per GPU held by processes that are not llama-server. */
export function parseAmdForeign(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of gpusOf(text)) {
    let bytes = 0;
    for (const p of (g.process_list as Json[] | undefined) ?? []) {
      const info = p?.process_info;
      if (!info || typeof info !== "object") continue; // "No running processes detected"
      const name = String((info as Json).name ?? "");
      if (/^llama-(server|swap)/.test(name)) continue;
      bytes += val(at(info, "memory_usage", "vram_mem")) ?? val((info as Json).mem_usage) ?? 0;
    }
    out.set(String(g.gpu), bytes);
  }
  return out;
}

export function parseAmdMetrics(
  text: string,
  when: number,
  limits: ReadonlyMap<string, number>,
  foreign: ReadonlyMap<string, number>,
): GpuReading[] {
  return gpusOf(text).map((g) => {
    const gpu = String(g.gpu);
    const util = val(at(g, "usage", "gfx_activity"));
    const used = val(at(g, "mem_usage", "used_vram"));
    const total = val(at(g, "mem_usage", "total_vram"));
    // amd-smi's own throttle flag (not every ASIC reports it): a slowdown of unknown kind.
    const throttled: ThrottleReason[] = at(g, "power", "throttle_status") === "THROTTLED" ? ["hw_slowdown"] : [];
    return {
      gpu,
      at: when,
      utilization: util === undefined ? undefined : util / 100,
      memoryUsedBytes: used === undefined ? undefined : used * MIB,
      memoryTotalBytes: total === undefined ? undefined : total * MIB,
      powerWatts: val(at(g, "power", "socket_power")),
      powerLimitWatts: limits.get(gpu),
      // MI300 has no edge sensor: the hotspot (junction) is there on every card.
      temperatureC: val(at(g, "temperature", "hotspot")) ?? val(at(g, "temperature", "edge")),
      smClockMhz: val(at(g, "clock", "gfx_0", "clk")),
      smClockMaxMhz: val(at(g, "clock", "gfx_0", "max_clk")),
      throttled,
      foreignMemoryBytes: foreign.get(gpu) ?? 0,
    };
  });
}
