// The GPU tools' stand-ins (test/fixtures/gpu-tools/<vendor>/<tool>) and the state a test gives nvidia-smi's.
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { RunTool } from "../../src/gpu/sources.js";

export const GPU_TOOLS = new URL("../fixtures/gpu-tools/", import.meta.url).pathname;

/** One GPU as nvidia-smi's stand-in reports it, by field name: an L40 under load, with what a test changes. */
export const nvidiaGpu = (over: Record<string, unknown> = {}) => ({
  index: 0,
  uuid: "GPU-c4dd1ba4",
  name: "NVIDIA L40",
  "utilization.gpu": 97,
  "memory.used": 30712,
  "memory.total": 49140,
  "power.draw": 281.43,
  "enforced.power.limit": 300,
  "temperature.gpu": 71,
  "clocks.current.sm": 2490,
  "clocks.max.sm": 2520,
  "clocks_throttle_reasons.active": "0x0000000000000000",
  ...over,
});

/** What the sidecar reads from that L40 (nvidia-smi's stand-in or the fake DCGM exporter), in its own units. */
export const l40Reading = {
  name: "NVIDIA L40",
  utilization: 0.97,
  memoryUsedBytes: 30712 * 1024 * 1024,
  powerWatts: 281.43,
  powerLimitWatts: 300,
  temperatureC: 71,
  smClockMhz: 2490,
  smClockMaxMhz: 2520,
} as const;

/** Runs nvidia-smi's stand-in with the state file given; the other tools are not on this machine. */
export const nvidiaStandIn =
  (state: string): RunTool =>
  (file, args) =>
    file !== "nvidia-smi"
      ? Promise.reject(Object.assign(new Error(`spawn ${file} ENOENT`), { code: "ENOENT" }))
      : new Promise<string>((resolve, reject) =>
          execFile(
            join(GPU_TOOLS, "nvidia", file),
            args,
            { env: { ...process.env, FAKE_GPU_STATE: state } },
            (err, out) => (err ? reject(err) : resolve(out)),
          ),
        );
