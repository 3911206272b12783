// The GPU where llama-server runs, as a user's sidecar reads it: a stand-in nvidia-smi on PATH (answering in its
// documented CSV format from a state file the test rewrites) gives /metrics every GPU series equal to its readings,
// a thermal slowdown shows within a second or two; without nvidia-smi there are no GPU series and no complaint.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GPU_METRICS } from "../../src/telemetry/gpu-gauges.js";
import { type CliProcess, startCli } from "../support/cli-process.js";
import { dcgmGpu, startFakeDcgm } from "../support/fake-dcgm.js";
import { type FakeLlama, fixture, startFakeLlama, timingsAt } from "../support/fake-llama.js";
import { GPU_TOOLS, nvidiaGpu } from "../support/gpu-tools.js";
import { until } from "../support/until.js";

const TOOLS = GPU_TOOLS;
const BIN = `${TOOLS}nvidia`;
/** The system's PATH without any folder that holds a GPU tool (the stand-ins' folders are not on it anyway). */
const SYSTEM_PATH = (process.env.PATH ?? "/usr/bin:/bin")
  .split(":")
  .filter((dir) => !["nvidia-smi", "amd-smi", "macmon"].some((tool) => existsSync(join(dir, tool))))
  .join(":");
const MIB = 1024 * 1024;

let fake: FakeLlama;
beforeAll(async () => {
  fake = await startFakeLlama();
});
afterAll(async () => {
  await fake?.close();
});

const gpu = nvidiaGpu;
const apps = [
  { gpu_uuid: "GPU-c4dd1ba4", pid: 4339, process_name: "/app/llama-server", used_memory: 28000 },
  { gpu_uuid: "GPU-c4dd1ba4", pid: 5120, process_name: "python3", used_memory: 2048 },
];

/** The GPU heats up: the driver holds the clock down for temperature (the software and hardware thermal bits). */
function heatUp(state: string): void {
  const hot = gpu({ "temperature.gpu": 87, "clocks.current.sm": 1410, "clocks_throttle_reasons.active": "0x60" });
  writeFileSync(state, JSON.stringify({ gpus: [hot], apps }));
}

async function sidecarWith(
  path: string,
  env: NodeJS.ProcessEnv = {},
  args: string[] = [],
): Promise<{ cli: CliProcess; url: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "llama-sidecar-gpu-"));
  const cli = startCli(["--port", "0", "--upstream", fake.url, "--data-dir", dataDir, ...args], { PATH: path, ...env });
  const out = await cli.waitFor(/Proxy URL : (http:\/\/\S+)/, 60_000);
  return { cli, url: /Proxy URL : (http:\/\/\S+)/.exec(out)?.[1] ?? "" };
}

/** A series' value on /metrics, by name and labels as written there. */
function value(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("GPU telemetry", () => {
  it("exports every reading of a stand-in nvidia-smi, and a thermal slowdown as it starts", async () => {
    const state = join(mkdtempSync(join(tmpdir(), "fake-gpu-")), "state.json");
    writeFileSync(state, JSON.stringify({ gpus: [gpu()], apps }));
    const { cli, url } = await sidecarWith(`${BIN}:${process.env.PATH}`, { FAKE_GPU_STATE: state });
    try {
      const metrics = () => fetch(`${url}/metrics`).then((r) => r.text());
      await until("the GPU series", async () => (await metrics()).includes(`${GPU_METRICS.utilization}{`));
      const text = await metrics();
      const at = 'gpu="0",upstream="default"';
      expect(value(text, GPU_METRICS.utilization, at)).toBe(0.97);
      expect(value(text, GPU_METRICS.memoryUsed, at)).toBe(30712 * MIB);
      expect(value(text, GPU_METRICS.memoryTotal, at)).toBe(49140 * MIB);
      expect(value(text, GPU_METRICS.power, at)).toBe(281.43);
      expect(value(text, GPU_METRICS.powerLimit, at)).toBe(300);
      expect(value(text, GPU_METRICS.temperature, at)).toBe(71);
      expect(value(text, GPU_METRICS.clock, at)).toBeCloseTo(2490 / 2520, 9);
      expect(value(text, GPU_METRICS.foreignMemory, at)).toBe(2048 * MIB);
      expect(value(text, GPU_METRICS.throttled, `${at},reason="hw_thermal"`)).toBe(0);

      heatUp(state);
      await until(
        "the thermal slowdown on /metrics",
        async () => value(await metrics(), GPU_METRICS.throttled, `${at},reason="hw_thermal"`) === 1,
      );
      const hot = await metrics();
      expect(value(hot, GPU_METRICS.throttled, `${at},reason="sw_thermal"`)).toBe(1);
      expect(value(hot, GPU_METRICS.throttled, `${at},reason="sw_power_cap"`)).toBe(0);
      expect(value(hot, GPU_METRICS.clock, at)).toBeCloseTo(1410 / 2520, 9);
      expect(value(hot, GPU_METRICS.temperature, at)).toBe(87);
    } finally {
      await cli.stop();
    }
  });

  /** Where a slow request's GPU facts come from, what changes on the GPU, and the verdict that change must give. */
  interface Scenario {
    what: string;
    start(): Promise<{
      path: string;
      env?: NodeJS.ProcessEnv;
      args?: string[];
      change(): void;
      close?(): Promise<void>;
    }>;
    /** The change, as /metrics shows it once the sidecar has read it. */
    seen(metrics: string): boolean;
    cause: string;
    detail: string;
  }

  const at = 'gpu="0",upstream="default"';
  const nvidiaWith = (after: object) => async () => {
    const state = join(mkdtempSync(join(tmpdir(), "fake-gpu-")), "state.json");
    writeFileSync(state, JSON.stringify({ gpus: [gpu()], apps }));
    return {
      path: `${BIN}:${process.env.PATH}`,
      env: { FAKE_GPU_STATE: state },
      change: () => writeFileSync(state, JSON.stringify(after)),
    };
  };
  const scenarios: Scenario[] = [
    {
      what: "nvidia-smi reports a thermal slowdown",
      start: nvidiaWith({
        gpus: [gpu({ "temperature.gpu": 87, "clocks.current.sm": 1410, "clocks_throttle_reasons.active": "0x60" })],
        apps,
      }),
      seen: (m) => value(m, GPU_METRICS.throttled, `${at},reason="hw_thermal"`) === 1,
      cause: "gpu_throttled",
      detail: "SM clock 1,410 of 2,520 MHz, thermal slowdown at 87 °C (GPU 0)",
    },
    {
      what: "another process takes 6 GiB of the GPU",
      start: nvidiaWith({
        gpus: [gpu()],
        apps: [...apps, { gpu_uuid: "GPU-c4dd1ba4", pid: 6001, process_name: "ComfyUI", used_memory: 6144 }],
      }),
      seen: (m) => value(m, GPU_METRICS.foreignMemory, at) === (2048 + 6144) * MIB,
      cause: "gpu_shared",
      detail: "another process held 8.0 GiB of GPU 0's memory during the request",
    },
    {
      what: "a DCGM exporter (--gpu-source) reports the GPU's memory all but full",
      start: async () => {
        const dcgm = await startFakeDcgm([dcgmGpu({ fbUsed: 30000, fbFree: 18740, fbReserved: 412 })]);
        return {
          path: SYSTEM_PATH,
          args: ["--gpu-source", dcgm.url],
          change: () => {
            dcgm.gpus = [dcgmGpu({ fbUsed: 48640, fbFree: 100, fbReserved: 412 })];
          },
          close: () => dcgm.close(),
        };
      },
      seen: (m) => value(m, GPU_METRICS.memoryUsed, at) === 48640 * MIB,
      cause: "memory_pressure",
      detail: "GPU 0's memory 47.5 GiB of 48.0 GiB in use",
    },
  ];

  for (const scenario of scenarios)
    it(`puts a request made slow while ${scenario.what} down to ${scenario.cause}, naming the readings`, async () => {
      const gpuSide = await scenario.start();
      const { cli, url } = await sidecarWith(gpuSide.path, gpuSide.env, gpuSide.args);
      /** llama-server's answer with its timings set to `tps` over 100 generated tokens. */
      const chat = async (tps: number) => {
        fake.transform = timingsAt(tps);
        const f = fixture("post-v1-chat-completions");
        await (
          await fetch(`${url}${f.request.path}`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-claude-code-session-id": "gpu-session" },
            body: JSON.stringify(f.request.body),
          })
        ).text();
      };
      type Recent = { slowdownCause?: string; slowdownDetail?: string; decodeTps?: number };
      const recent = async () => ((await (await fetch(`${url}/api/stats`)).json()) as { recent: Recent[] }).recent;
      const metrics = () => fetch(`${url}/metrics`).then((r) => r.text());
      try {
        await until("the GPU series", async () => (await metrics()).includes(`${GPU_METRICS.utilization}{`));
        for (const tps of [60, 62, 58, 61]) await chat(tps);
        await until("the usual speed's requests recorded", async () => (await recent()).length >= 4);
        gpuSide.change();
        await until("the sidecar to read the GPU's change", async () => scenario.seen(await metrics()));
        await chat(20);
        let slow: Recent | undefined;
        await until("the slow request's verdict", async () => {
          slow = (await recent()).find((r) => r.slowdownCause !== undefined);
          return slow !== undefined;
        });
        expect(slow?.slowdownCause).toBe(scenario.cause);
        expect(slow?.slowdownDetail).toBe(scenario.detail);
        const after = await metrics();
        expect(after).toContain(
          `llama_sidecar_generation_slowdowns_total{upstream="default",cause="${scenario.cause}"} 1`,
        );
        // Each request's share of the GPU's energy: counted, and summed up in its session's report.
        expect(value(after, GPU_METRICS.energy, 'upstream="default"')).toBeGreaterThan(0);
        const session = (await (await fetch(`${url}/api/sessions/gpu-session`)).json()) as {
          report: { energy?: { wattHours: number }; summary: string };
        };
        expect(session.report.energy?.wattHours).toBeGreaterThan(0);
        expect(session.report.summary).toMatch(/The GPU drew [\d.]+ Wh for it/);
      } finally {
        fake.transform = undefined;
        await cli.stop();
        await gpuSide.close?.();
      }
    });

  for (const [folder, tool, expected] of [
    [
      "amd",
      "amd-smi (MI300X, ROCm 7)",
      {
        utilization: 0.87,
        memoryUsed: 120000 * MIB,
        memoryTotal: 196592 * MIB,
        power: 612,
        powerLimit: 750,
        temperature: 71,
        foreignMemory: 0,
      },
    ],
    [
      "apple",
      "macmon (M3 Pro)",
      { utilization: 0.93, memoryUsed: 30064771072, memoryTotal: 38654705664, power: 14.2, temperature: 61.5 },
    ],
  ] as const) {
    it(`exports the readings of a stand-in ${tool} where it is the GPU tool on PATH`, async () => {
      const { cli, url } = await sidecarWith(`${TOOLS}${folder}:${SYSTEM_PATH}`);
      try {
        const metrics = () => fetch(`${url}/metrics`).then((r) => r.text());
        await until("the GPU series", async () => (await metrics()).includes(`${GPU_METRICS.utilization}{`));
        const text = await metrics();
        for (const [key, want] of Object.entries(expected))
          expect([
            key,
            value(text, GPU_METRICS[key as keyof typeof GPU_METRICS], 'gpu="0",upstream="default"'),
          ]).toEqual([key, want]);
      } finally {
        await cli.stop();
      }
    });
  }

  it("exports a DCGM exporter's readings where --gpu-source names it, and says once that one is unreachable", async () => {
    const dcgm = await startFakeDcgm([dcgmGpu({ reasons: 0x4 })]);
    const { cli, url } = await sidecarWith(SYSTEM_PATH, {}, ["--gpu-source", dcgm.url]);
    try {
      const metrics = () => fetch(`${url}/metrics`).then((r) => r.text());
      await until("the GPU series", async () => (await metrics()).includes(`${GPU_METRICS.utilization}{`));
      const text = await metrics();
      const want = {
        utilization: 0.97,
        memoryUsed: 30712 * MIB,
        memoryTotal: (30712 + 17916 + 512) * MIB,
        power: 281.43,
        powerLimit: 300,
        temperature: 71,
      };
      for (const [key, v] of Object.entries(want))
        expect([key, value(text, GPU_METRICS[key as keyof typeof GPU_METRICS], 'gpu="0",upstream="default"')]).toEqual([
          key,
          v,
        ]);
      expect(value(text, GPU_METRICS.clock, 'gpu="0",upstream="default"')).toBeCloseTo(2490 / 2520, 9);
      expect(value(text, GPU_METRICS.throttled, 'gpu="0",upstream="default",reason="sw_power_cap"')).toBe(1);
      // The exporter does not say which processes hold memory: no series claims none do.
      expect(text).not.toContain(`${GPU_METRICS.foreignMemory}{`);
      await dcgm.close();
      await until("the GPU series gone", async () => !(await metrics()).includes(`${GPU_METRICS.utilization}{`));
      await until("the warning", async () => /reading the GPU failed: .*127\.0\.0\.1/.test(cli.output()));
      expect(cli.output().match(/reading the GPU failed/g)).toHaveLength(1);
    } finally {
      await cli.stop();
      await dcgm.close().catch(() => {});
    }
  });

  it("has no GPU series, and says nothing of it, where no GPU tool is installed", async () => {
    const { cli, url } = await sidecarWith(SYSTEM_PATH);
    try {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toContain(`# HELP ${GPU_METRICS.utilization}`);
      for (const name of Object.values(GPU_METRICS)) expect(text).not.toContain(`${name}{`);
      expect(cli.output()).not.toMatch(/GPU/);
    } finally {
      await cli.stop();
    }
  });
});
