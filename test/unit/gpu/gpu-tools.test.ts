// nvidia-smi's CSV as the sidecar reads it: lines in its documented format (comma and space, no units, placeholders
// for what a GPU does not report, a name with a comma), the clock event reasons' bits, other processes' memory; and
// amd-smi's and macmon's JSON; the sampler without any tool (no readings, no error) or with a failing one (said once).
import { describe, expect, it } from "vitest";
import { parseAmdForeign, parseAmdLimits, parseAmdMetrics } from "../../../src/gpu/amd-smi.js";
import { parseMacmon } from "../../../src/gpu/macmon.js";
import { foreignMemory, parseGpus, throttleReasons } from "../../../src/gpu/nvidia-smi.js";
import { GpuSampler } from "../../../src/gpu/sampler.js";
import { toolSources } from "../../../src/gpu/sources.js";
import { l40Reading } from "../../support/gpu-tools.js";

const MIB = 1024 * 1024;

describe("nvidia-smi's CSV", () => {
  it("reads each GPU's line, a placeholder as no reading, a name with a comma whole", () => {
    const csv = [
      "0, GPU-aaaa, 97, 30712, 49140, 281.43, 300.00, 71, 2490, 2520, 0x0000000000000000, NVIDIA L40",
      "1, GPU-bbbb, [N/A], 1, 81559, [Not Supported], 700.00, 44, 345, 1980, 0x0000000000000001, NVIDIA A100, Rev 2",
      "",
    ].join("\n");
    const [a, b] = parseGpus(csv, 5);
    expect(a).toEqual({
      gpu: "0",
      uuid: "GPU-aaaa",
      at: 5,
      ...l40Reading,
      memoryTotalBytes: 49140 * MIB,
      throttled: [],
    });
    expect(b).toMatchObject({ gpu: "1", name: "NVIDIA A100, Rev 2", utilization: undefined, powerWatts: undefined });
    expect(b?.throttled).toEqual([]); // an idle GPU's low clock is no slowdown
  });

  it("names the reasons of the clock event mask (NVML's bits)", () => {
    expect(throttleReasons("0x0000000000000064")).toEqual(["sw_power_cap", "sw_thermal", "hw_thermal"]);
    expect(throttleReasons("0x00000000000000C8")).toEqual(["hw_slowdown", "hw_thermal", "hw_power_brake"]);
    expect(throttleReasons("[N/A]")).toEqual([]);
  });

  it("counts memory held by processes other than llama-server, per GPU", () => {
    const apps = [
      "GPU-aaaa, 4339, /app/llama-server, 30206",
      "GPU-aaaa, 5120, python3, 2048",
      "GPU-bbbb, 77, /usr/bin/ComfyUI, [N/A]",
    ].join("\n");
    expect(foreignMemory(apps)).toEqual(new Map([["GPU-aaaa", 2048 * MIB]]));
  });
});

describe("the GPU sampler", () => {
  it("tries nvidia-smi, amd-smi and macmon in turn, and stops asking where none is installed", async () => {
    const asked: string[] = [];
    const problems: string[] = [];
    const sampler = new GpuSampler(
      toolSources((file) => {
        asked.push(file);
        return Promise.reject(Object.assign(new Error(`spawn ${file} ENOENT`), { code: "ENOENT" }));
      }),
      (p) => problems.push(p),
    );
    for (let i = 0; i < 5; i++) await sampler.sample();
    expect([...new Set(asked)]).toEqual(["nvidia-smi", "amd-smi", "macmon"]);
    const after = asked.length;
    await sampler.sample();
    expect(asked.length).toBe(after); // none left: nothing more is run
    expect(sampler.readings()).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("says once that a present tool fails, and reads again once it works", async () => {
    let fail = true;
    const problems: string[] = [];
    const sampler = new GpuSampler(
      toolSources((_file, args) =>
        fail
          ? Promise.reject(new Error("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"))
          : Promise.resolve(
              args[0]?.startsWith("--query-gpu")
                ? "0, GPU-aaaa, 50, 1, 2, 3.00, 4.00, 5, 6, 7, 0x0000000000000020, X\n"
                : "",
            ),
      ),
      (p) => problems.push(p),
    );
    await sampler.sample();
    await sampler.sample();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/reading the GPU failed: NVIDIA-SMI has failed/);
    fail = false;
    await sampler.sample();
    expect(sampler.readings()).toMatchObject([
      { gpu: "0", utilization: 0.5, throttled: ["sw_thermal"], foreignMemoryBytes: 0 },
    ]);
  });
});

describe("amd-smi's JSON", () => {
  // ROCm 7.0.2 on an MI300X (the {"gpu_data": [...]} wrapper; no edge sensor), and ROCm 6's bare list.
  const metric7 = JSON.stringify({
    gpu_data: [
      {
        gpu: 0,
        usage: { gfx_activity: { value: 87, unit: "%" }, umc_activity: { value: 40, unit: "%" }, mm_activity: "N/A" },
        power: { socket_power: { value: 158, unit: "W" }, throttle_status: "UNTHROTTLED" },
        temperature: { edge: "N/A", hotspot: { value: 45, unit: "C" }, mem: { value: 38, unit: "C" } },
        mem_usage: { total_vram: { value: 196592, unit: "MB" }, used_vram: { value: 120000, unit: "MB" } },
        clock: { gfx_0: { clk: { value: 1900, unit: "MHz" }, max_clk: { value: 2100, unit: "MHz" } } },
      },
    ],
  });
  const metric6 = JSON.stringify([
    { gpu: 1, usage: "N/A", power: { socket_power: { value: 9, unit: "W" }, throttle_status: "THROTTLED" } },
  ]);

  it("reads either shape, N/A as no reading, the power cap of either ROCm, and other processes' memory", () => {
    const limits = parseAmdLimits(
      JSON.stringify({ gpu_data: [{ gpu: 0, limit: { ppt0: { socket_power_limit: { value: 750, unit: "W" } } } }] }),
    );
    const old = parseAmdLimits(JSON.stringify([{ gpu: 1, limit: { socket_power: { value: 203, unit: "W" } } }]));
    const foreign = parseAmdForeign(
      JSON.stringify([
        {
          gpu: 0,
          process_list: [
            { process_info: { name: "llama-server", pid: 1, memory_usage: { vram_mem: { value: 9e9, unit: "B" } } } },
            { process_info: { name: "python3", pid: 2, memory_usage: { vram_mem: { value: 4e9, unit: "B" } } } },
          ],
        },
        { gpu: 1, process_list: [{ process_info: "No running processes detected" }] },
      ]),
    );
    expect(parseAmdMetrics(metric7, 7, limits, foreign)).toEqual([
      {
        gpu: "0",
        at: 7,
        utilization: 0.87,
        memoryUsedBytes: 120000 * MIB,
        memoryTotalBytes: 196592 * MIB,
        powerWatts: 158,
        powerLimitWatts: 750,
        temperatureC: 45,
        smClockMhz: 1900,
        smClockMaxMhz: 2100,
        throttled: [],
        foreignMemoryBytes: 4e9,
      },
    ]);
    expect(parseAmdMetrics(metric6, 7, old, foreign)).toMatchObject([
      { gpu: "1", utilization: undefined, powerWatts: 9, powerLimitWatts: 203, throttled: ["hw_slowdown"] },
    ]);
  });
});

describe("macmon's JSON line", () => {
  it("reads the GPU's activity, power, heat, frequency against the SoC's highest, and the shared memory", () => {
    const line = JSON.stringify({
      timestamp: "2026-12-07T10:00:00+00:00",
      temp: { cpu_temp_avg: 43.7, gpu_temp_avg: 61.5 },
      memory: { ram_total: 25769803776, ram_usage: 20985479168, swap_total: 0, swap_usage: 0 },
      gpu_freq_mhz: 1278,
      gpu_scaled_ratio: 0.88,
      gpu_active_ratio: 0.93,
      gpu_power: 14.2,
      sys_power: 31.0,
      gpu_usage: [1278, 0.88],
      soc: {
        chip_name: "Apple M3 Pro",
        gpu_cores: 18,
        gpu_freqs: [338, 618, 796, 924, 952, 1056, 1062, 1182, 1182, 1312, 1242, 1380],
      },
    });
    expect(parseMacmon(`${line}\n`, 3)).toEqual([
      {
        gpu: "0",
        name: "Apple M3 Pro",
        at: 3,
        utilization: 0.93,
        memoryUsedBytes: 20985479168,
        memoryTotalBytes: 25769803776,
        powerWatts: 14.2,
        temperatureC: 61.5,
        smClockMhz: 1278,
        smClockMaxMhz: 1380,
        throttled: [],
        foreignMemoryBytes: undefined,
      },
    ]);
  });
});
