// What the GPUs did while one request ran, from the readings around it: the worst of each, what the speed verdict
// rests a GPU cause on.
import type { GpuReading, ThrottleReason } from "./reading.js";

export interface GpuDuring {
  /** The GPU the worst reading came from (its index). */
  gpu: string;
  /** The lowest SM clock under load, against its maximum. */
  smClockMhz?: number;
  smClockMaxMhz?: number;
  temperatureC?: number;
  powerWatts?: number;
  powerLimitWatts?: number;
  /** Every reason the clocks were held down for, at any reading. */
  throttled: readonly ThrottleReason[];
  /** The most memory other processes held; undefined where the source does not say (a DCGM exporter). */
  foreignMemoryBytes?: number;
  memoryUsedBytes?: number;
  memoryTotalBytes?: number;
}

/** How many readings before a stretch are kept with it: one sample of every GPU a machine may have, and more. */
const LEAD = 64;

/**
 * The readings from a little before `from` to `to`, found by bisection (the history is in time order): a request's
 * verdict and energy look at seconds of a quarter hour's readings, never at all of them.
 */
function around(
  history: readonly GpuReading[],
  from: number,
  to: number,
  only: ReadonlySet<string> | undefined,
): readonly GpuReading[] {
  const first = (t: number) => {
    let lo = 0;
    let hi = history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((history[mid] as GpuReading).at < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const start = first(from);
  const lead = history[start - 1]?.at;
  // Every reading of the last sample before `from` (one per GPU), whatever their number.
  let begin = start;
  while (begin > 0 && begin > start - LEAD && history[begin - 1]?.at === lead) begin--;
  let end = first(to);
  while (end < history.length && (history[end] as GpuReading).at <= to) end++;
  const near = history.slice(begin, end);
  return only ? near.filter((r) => only.has(r.gpu)) : near;
}

const max = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);

/**
 * The readings from `from` to `to` (and the one just before, which held during the request's start), summed up;
 * undefined when there are none: then nothing is said of the GPU.
 */
export function gpuDuring(
  history: readonly GpuReading[],
  from: number,
  to: number,
  only?: ReadonlySet<string>,
): GpuDuring | undefined {
  const near = around(history, from, to, only);
  const before = near.filter((r) => r.at < from).at(-1)?.at;
  const window = near.filter((r) => r.at <= to && (r.at >= from || r.at === before));
  if (window.length === 0) return undefined;
  const ratio = (r: GpuReading) => (r.smClockMhz !== undefined && r.smClockMaxMhz ? r.smClockMhz / r.smClockMaxMhz : 1);
  const slowest = window.reduce((a, r) => (ratio(r) < ratio(a) ? r : a));
  const fullest = window.reduce((a, r) =>
    (r.memoryUsedBytes ?? 0) / (r.memoryTotalBytes || 1) > (a.memoryUsedBytes ?? 0) / (a.memoryTotalBytes || 1) ? r : a,
  );
  return {
    gpu: slowest.gpu,
    smClockMhz: slowest.smClockMhz,
    smClockMaxMhz: slowest.smClockMaxMhz,
    temperatureC: window.reduce<number | undefined>((a, r) => max(a, r.temperatureC), undefined),
    powerWatts: window.reduce<number | undefined>((a, r) => max(a, r.powerWatts), undefined),
    powerLimitWatts: slowest.powerLimitWatts,
    throttled: [...new Set(window.flatMap((r) => r.throttled))],
    foreignMemoryBytes: window.reduce<number | undefined>((a, r) => max(a, r.foreignMemoryBytes), undefined),
    memoryUsedBytes: fullest.memoryUsedBytes,
    memoryTotalBytes: fullest.memoryTotalBytes,
  };
}

/**
 * Joules every GPU drew from `from` to `to` (epoch ms): each reading's power held until that GPU's next reading (or
 * to `to`), the reading before `from` counted from `from`. Undefined without a power reading in the stretch.
 */
export function energyJoules(
  history: readonly GpuReading[],
  from: number,
  to: number,
  only?: ReadonlySet<string>,
): number | undefined {
  if (to <= from) return undefined;
  const byGpu = new Map<string, GpuReading[]>();
  for (const r of around(history, from, to, only)) {
    const list = byGpu.get(r.gpu);
    if (list) list.push(r);
    else byGpu.set(r.gpu, [r]);
  }
  let joules = 0;
  let read = false;
  for (const readings of byGpu.values()) {
    readings.forEach((r, i) => {
      const start = Math.max(r.at, from);
      const end = Math.min(readings[i + 1]?.at ?? to, to);
      if (end <= start || r.powerWatts === undefined) return;
      joules += ((r.powerWatts ?? 0) * (end - start)) / 1000;
      read = true;
    });
  }
  return read ? joules : undefined;
}
