// The GPU tools' stand-ins (test/fixtures/gpu-tools/<vendor>/<tool>) and the state a test gives nvidia-smi's.
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { RunTool } from "../../src/gpu/sampler.js";

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
