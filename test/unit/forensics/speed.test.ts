// Why generation slowed: a slow request against the model's usual speed, and the change that explains it.
import { describe, expect, it } from "vitest";
import { describeSlowdown, type ServerState, SpeedForensics, type SpeedSample } from "../../../src/forensics/speed.js";
import { energyJoules, type GpuDuring, gpuDuring } from "../../../src/gpu/during.js";
import type { GpuReading } from "../../../src/gpu/reading.js";

const SERVER: ServerState = { restarts: 0, nCtx: 32768, slots: 1, model: "qwen" };

const sample = (tps: number, over: Partial<SpeedSample> = {}): SpeedSample => ({
  model: "qwen",
  tps,
  outputTokens: 200,
  depth: "<4k",
  decoding: "1",
  server: SERVER,
  ...over,
});

/** Forensics that know the model at 60 tok/s, shallow and alone. */
function warmed(): SpeedForensics {
  const f = new SpeedForensics();
  for (const tps of [60, 61, 59, 60]) expect(f.judge(sample(tps))).toBeUndefined();
  return f;
}

describe("SpeedForensics", () => {
  it("says nothing of requests at the usual speed, of short ones, or of a model's first", () => {
    const f = new SpeedForensics();
    expect(f.judge(sample(10))).toBeUndefined(); // the first: nothing to compare with
    expect(f.judge(sample(12))).toBeUndefined();
    expect(warmed().judge(sample(3, { outputTokens: 8 }))).toBeUndefined(); // 8 tokens say little
  });

  it("puts a slow request down to a deeper context when that depth has been this slow before", () => {
    const f = warmed();
    const deep = { depth: "<64k" };
    // The first deep requests: no speed known there yet, the depth is the change.
    expect(f.judge(sample(28, deep))).toMatchObject({
      cause: "deeper_context",
      detail: "context <64k tokens, was <4k; no speed known there yet",
    });
    f.judge(sample(27, deep));
    const d = f.judge(sample(27, deep));
    expect(d?.cause).toBe("deeper_context");
    expect(d?.detail).toMatch(/^context <64k tokens, was <4k; usual there 2\d tok\/s$/);
    expect(d?.usualTps).toBeCloseTo(60, 0);
  });

  it("puts it down to more requests decoding at once", () => {
    const f = warmed();
    expect(f.judge(sample(30, { decoding: "3-4" }))).toMatchObject({
      cause: "more_decoding",
      detail: "3-4 requests decoding at once, was 1; no speed known there yet",
    });
  });

  it("names a restart and the settings it changed", () => {
    const f = warmed();
    const d = f.judge(sample(20, { server: { ...SERVER, restarts: 1, nCtx: 65536, slots: 4 } }));
    expect(d).toMatchObject({
      cause: "server_restarted",
      detail: "llama-server restarted (n_ctx 32768 -> 65536, slots 1 -> 4)",
    });
    const same = warmed().judge(sample(20, { server: { ...SERVER, restarts: 1 } }));
    expect(same?.detail).toBe("llama-server restarted, same settings");
  });

  it("names a fall in draft acceptance", () => {
    const f = new SpeedForensics();
    const drafting = { server: { ...SERVER, specAcceptance: 0.8 } };
    for (const tps of [90, 91, 89]) f.judge(sample(tps, drafting));
    expect(f.judge(sample(40, { server: { ...SERVER, specAcceptance: 0.35 } }))).toMatchObject({
      cause: "spec_acceptance_fell",
      detail: "draft acceptance 35%, was 80%",
    });
  });

  it("says the GPU side when nothing it can see changed, and also when deeper requests are slower than usual there", () => {
    const f = warmed();
    expect(f.judge(sample(25))?.cause).toBe("gpu_side");
    // The deep band is known at 28 tok/s; 10 there is not the depth.
    const g = warmed();
    for (const tps of [28, 28, 28]) g.judge(sample(tps, { depth: "<64k" }));
    expect(g.judge(sample(10, { depth: "<64k" }))?.cause).toBe("gpu_side");
  });

  it("keeps the usual speed through a slowdown, until ten slow requests in a row make the slow speed the usual", () => {
    const f = warmed();
    for (let i = 0; i < 10; i++) expect(f.judge(sample(20))?.cause).toBe("gpu_side");
    expect(f.judge(sample(20))).toBeUndefined();
    expect(f.judge(sample(19))).toBeUndefined();
  });

  it("writes one line without text", () => {
    const line = describeSlowdown({ cause: "gpu_side", detail: "x", tps: 20.4, usualTps: 60.2 }, "qwen");
    expect(line).toBe("generation slowed (gpu_side): 20 tok/s against qwen's usual 60 tok/s; x");
  });
});

describe("SpeedForensics with the GPU's readings", () => {
  const GIB = 1024 ** 3;
  const reading = (over: Partial<GpuDuring> = {}): GpuDuring => ({
    gpu: "0",
    smClockMhz: 2490,
    smClockMaxMhz: 2520,
    temperatureC: 71,
    powerWatts: 280,
    powerLimitWatts: 300,
    throttled: [],
    foreignMemoryBytes: 0,
    memoryUsedBytes: 30 * GIB,
    memoryTotalBytes: 48 * GIB,
    ...over,
  });
  const slowWith = (g: GpuDuring | undefined) => warmed().judge(sample(20, { gpu: () => g }));

  it("names the readings each GPU cause rests on", () => {
    expect(slowWith(reading({ smClockMhz: 1410, temperatureC: 87, throttled: ["hw_thermal"] }))).toMatchObject({
      cause: "gpu_throttled",
      detail: "SM clock 1,410 of 2,520 MHz, thermal slowdown at 87 °C (GPU 0)",
    });
    expect(slowWith(reading({ smClockMhz: 1800, powerWatts: 300, throttled: ["sw_power_cap"] }))).toMatchObject({
      cause: "gpu_throttled",
      detail: "SM clock 1,800 of 2,520 MHz, held to its power limit: 300 of 300 W (GPU 0)",
    });
    expect(slowWith(reading({ foreignMemoryBytes: 2 * GIB }))).toMatchObject({
      cause: "gpu_shared",
      detail: "another process held 2.0 GiB of GPU 0's memory during the request",
    });
    expect(slowWith(reading({ memoryUsedBytes: 47.5 * GIB }))).toMatchObject({
      cause: "memory_pressure",
      detail: "GPU 0's memory 47.5 GiB of 48.0 GiB in use",
    });
  });

  it("keeps gpu_side where the readings explain nothing, saying which, and where there are none", () => {
    expect(slowWith(reading())).toMatchObject({
      cause: "gpu_side",
      detail:
        "same context depth and concurrency, no restart, and no GPU reading explains it (SM clock 2,490 of 2,520 MHz, 71 °C, no throttling, no other process)",
    });
    expect(slowWith(undefined)?.detail).toMatch(/^same context depth and concurrency, no restart: look at the GPU/);
  });

  it("sums up the readings around a request: the one before its start, and the worst of each during it", () => {
    const r = (at: number, over: Partial<GpuReading> = {}): GpuReading => ({ gpu: "0", at, throttled: [], ...over });
    const history = [
      r(0, { smClockMhz: 2500, smClockMaxMhz: 2520 }),
      r(1000, { smClockMhz: 2490, smClockMaxMhz: 2520, temperatureC: 80 }),
      r(2000, { smClockMhz: 1400, smClockMaxMhz: 2520, temperatureC: 88, throttled: ["sw_thermal"] }),
      r(3000, { smClockMhz: 2400, smClockMaxMhz: 2520, foreignMemoryBytes: 5 }),
      r(4000, { smClockMhz: 100, smClockMaxMhz: 2520 }), // after the request
    ];
    expect(gpuDuring(history, 1500, 3500)).toMatchObject({
      smClockMhz: 1400,
      temperatureC: 88,
      throttled: ["sw_thermal"],
      foreignMemoryBytes: 5,
    });
    expect(gpuDuring([], 0, 1)).toBeUndefined();
    expect(gpuDuring(history, 5000, 6000)?.smClockMhz).toBe(100); // only the reading before it: it held then
  });
});

describe("a request's share of the GPU's energy", () => {
  it("holds each GPU's power until its next reading, from the request's start to its end", () => {
    const r = (gpu: string, at: number, powerWatts?: number): GpuReading => ({ gpu, at, powerWatts, throttled: [] });
    const history = [r("0", 0, 100), r("1", 0, 50), r("0", 1000, 300), r("1", 1000), r("0", 2000, 200)];
    // GPU 0: 100 W for 0.5 s, 300 W for 1 s, 200 W for 0.5 s = 450 J; GPU 1: 50 W for its first second = 25 J from 500.
    expect(energyJoules(history, 500, 2500)).toBeCloseTo(450 + 25 + 0, 9);
    expect(energyJoules([], 0, 1000)).toBeUndefined();
    // A quarter hour of two GPUs, one sample a second: a request's window reads only its own seconds.
    const long = Array.from({ length: 900 }, (_, i) => [r("0", i * 1000, 100 + i), r("1", i * 1000, 50)]).flat();
    expect(energyJoules(long, 600_500, 602_500)).toBeCloseTo(0.5 * 700 + 701 + 0.5 * 702 + 2 * 50, 9);
    expect(gpuDuring(long, 600_500, 602_500)?.powerWatts).toBe(702);
    expect(energyJoules(history, 10, 10)).toBeUndefined();
  });
});
