// nvidia-smi's CSV as the sidecar reads it: lines in its documented format (comma and space, no units, placeholders
// for what a GPU does not report, a name with a comma), the clock event reasons' bits, other processes' memory; and
// the sampler without the tool (no readings, no error) or with a failing one (said once).
import { describe, expect, it } from "vitest";
import { foreignMemory, parseGpus, throttleReasons } from "../../../src/gpu/nvidia-smi.js";
import { GpuSampler } from "../../../src/gpu/sampler.js";

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
      name: "NVIDIA L40",
      at: 5,
      utilization: 0.97,
      memoryUsedBytes: 30712 * MIB,
      memoryTotalBytes: 49140 * MIB,
      powerWatts: 281.43,
      powerLimitWatts: 300,
      temperatureC: 71,
      smClockMhz: 2490,
      smClockMaxMhz: 2520,
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
  it("has no readings and stops asking where nvidia-smi is not installed", async () => {
    let calls = 0;
    const problems: string[] = [];
    const sampler = new GpuSampler(
      () => {
        calls++;
        return Promise.reject(Object.assign(new Error("spawn nvidia-smi ENOENT"), { code: "ENOENT" }));
      },
      (p) => problems.push(p),
      1,
    );
    await sampler.sample();
    expect(sampler.readings()).toEqual([]);
    expect(problems).toEqual([]);
    const after = calls;
    await sampler.sample();
    expect(calls).toBeGreaterThan(after); // sample() on demand still asks; the timer no longer does
    sampler.stop();
  });

  it("says once that a present tool fails, and reads again once it works", async () => {
    let fail = true;
    const problems: string[] = [];
    const sampler = new GpuSampler(
      (_file, args) =>
        fail
          ? Promise.reject(new Error("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"))
          : Promise.resolve(
              args[0]?.startsWith("--query-gpu")
                ? "0, GPU-aaaa, 50, 1, 2, 3.00, 4.00, 5, 6, 7, 0x0000000000000020, X\n"
                : "",
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
