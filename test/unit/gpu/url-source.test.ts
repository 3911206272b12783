// A GPU read over HTTP: a DCGM exporter's /metrics (as its template renders it, blanks and all), `macmon serve`'s
// /metrics and /json; and the watch that gives each upstream its GPUs, from this machine's tools or a URL.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { fetchGpuPage, parseGpuPage } from "../../../src/gpu/url-source.js";
import { GpuWatch } from "../../../src/gpu/watch.js";
import { dcgmGpu, renderDcgm } from "../../support/fake-dcgm.js";
import { l40Reading } from "../../support/gpu-tools.js";

const MIB = 1024 * 1024;
const AT = 1_700_000_000_000;

describe("a DCGM exporter's page", () => {
  it("reads every GPU's fields, in the sidecar's units, leaving DCGM's blanks out", () => {
    const page = renderDcgm([
      dcgmGpu(),
      dcgmGpu({ gpu: 1, uuid: "GPU-2", temp: 87, smClock: 1410, reasons: 0x60, fbUsed: 47000, fbFree: 100 }),
    ]);
    expect(page).toContain("DCGM_FI_DEV_MEMORY_TEMP{");
    expect(parseGpuPage(page, AT)).toEqual([
      {
        gpu: "0",
        at: AT,
        ...l40Reading,
        memoryTotalBytes: (30712 + 17916 + 512) * MIB,
        throttled: [],
        foreignMemoryBytes: undefined,
      },
      expect.objectContaining({
        gpu: "1",
        temperatureC: 87,
        smClockMhz: 1410,
        throttled: ["sw_thermal", "hw_thermal"],
      }),
    ]);
  });

  it("takes the clock reasons under their pre-3.2 name, and a field the GPU does not report as unknown", () => {
    const page = [
      "# HELP DCGM_FI_DEV_CLOCK_THROTTLE_REASONS Current clock throttle reasons.",
      "# TYPE DCGM_FI_DEV_CLOCK_THROTTLE_REASONS gauge",
      'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-1",device="nvidia0",modelName="Tesla T4"} 4',
      "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).",
      "# TYPE DCGM_FI_DEV_POWER_USAGE gauge",
      'DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-1",device="nvidia0",modelName="Tesla T4"} 140737488355328.000',
      "",
    ].join("\n");
    expect(parseGpuPage(page, AT)).toMatchObject([{ gpu: "0", throttled: ["sw_power_cap"], powerWatts: undefined }]);
  });
});

describe("macmon serve's pages", () => {
  it("reads its Prometheus gauges (the chip's one GPU, no maximum clock given)", () => {
    const gauge = (name: string, value: number) =>
      `# HELP macmon_${name} .\n# TYPE macmon_${name} gauge\nmacmon_${name}{chip="Apple M3 Pro"} ${value}\n\n`;
    const page = [
      gauge("cpu_temp_celsius", 47.3),
      gauge("gpu_temp_celsius", 52.5),
      gauge("memory_ram_total_bytes", 38654705664),
      gauge("memory_ram_used_bytes", 30064771072),
      gauge("gpu_freq_mhz", 1380),
      gauge("gpu_active_ratio", 0.93),
      gauge("gpu_power_watts", 14.2),
    ].join("");
    expect(parseGpuPage(page, AT)).toEqual([
      {
        gpu: "0",
        name: "Apple M3 Pro",
        at: AT,
        utilization: 0.93,
        memoryUsedBytes: 30064771072,
        memoryTotalBytes: 38654705664,
        powerWatts: 14.2,
        temperatureC: 52.5,
        smClockMhz: 1380,
        throttled: [],
        foreignMemoryBytes: undefined,
      },
    ]);
  });

  it("reads /json as its pipe's sample, with the chip's top GPU frequency", () => {
    const json = JSON.stringify({
      temp: { gpu_temp_avg: 50 },
      memory: { ram_total: 100, ram_usage: 60 },
      gpu_freq_mhz: 700,
      gpu_active_ratio: 0.5,
      gpu_power: 9,
      soc: { chip_name: "Apple M2 Max", gpu_freqs: [444, 612, 1398] },
    });
    expect(parseGpuPage(json, AT)).toMatchObject([{ name: "Apple M2 Max", smClockMhz: 700, smClockMaxMhz: 1398 }]);
  });

  it("refuses a page that is neither", () => {
    expect(() => parseGpuPage("# TYPE up gauge\nup 1\n", AT)).toThrow(/neither a DCGM exporter's/);
  });
});

describe("each upstream's GPUs", () => {
  /** nvidia-smi answering for two GPUs, 0 cool and 1 throttled; amd-smi and macmon absent. */
  const twoGpus = (file: string, args: readonly string[]) =>
    file !== "nvidia-smi"
      ? Promise.reject(Object.assign(new Error("ENOENT"), { code: "ENOENT" }))
      : Promise.resolve(
          args[0]?.startsWith("--query-gpu")
            ? "0, GPU-a, 90, 100, 200, 100.00, 300.00, 60, 2500, 2520, 0x0, L40\n1, GPU-b, 90, 100, 200, 200.00, 300.00, 88, 1400, 2520, 0x40, L40\n"
            : "",
        );

  it("labels each GPU with the upstream that runs on it, and judges a request by its upstream's GPUs only", async () => {
    const asked: string[] = [];
    const watch = new GpuWatch(
      [
        { upstream: "gpu0", gpus: ["0"] },
        { upstream: "gpu1", gpus: ["1"] },
      ],
      {
        run: (file, args) => {
          asked.push(file);
          return twoGpus(file, args);
        },
        onProblem: () => {},
      },
    );
    await watch.sample();
    expect(asked).toEqual(["nvidia-smi", "nvidia-smi"]); // one machine, read once for both (GPUs, processes)
    expect(watch.readings().map((r) => [r.gpu, r.upstream])).toEqual([
      ["0", "gpu0"],
      ["1", "gpu1"],
    ]);
    const now = Date.now();
    expect(watch.during("gpu0", now, now + 10)).toMatchObject({ gpu: "0", throttled: [] });
    expect(watch.during("gpu1", now, now + 10)).toMatchObject({ gpu: "1", throttled: ["hw_thermal"] });
    expect(watch.energy("gpu1", now, now + 1000)).toBeCloseTo(200, 6);
    expect(watch.during("elsewhere", now, now + 10)).toBeUndefined();
  });

  it("reads an upstream that names a URL from it, and shows a GPU two upstreams share once", async () => {
    const asked: string[] = [];
    const watch = new GpuWatch(
      [
        { upstream: "main", source: "http://gpu-box:9400/metrics" },
        { upstream: "small", source: "http://gpu-box:9400/metrics" },
      ],
      {
        run: () => Promise.reject(new Error("no tool should run")),
        onProblem: () => {},
        fetchText: async (url) => {
          asked.push(url);
          return renderDcgm([dcgmGpu()]);
        },
      },
    );
    await watch.sample();
    expect(asked).toEqual(["http://gpu-box:9400/metrics"]);
    expect(watch.readings()).toMatchObject([{ gpu: "0", upstream: "main", powerWatts: 281.43 }]);
  });
});

describe("reading a GPU page over HTTP", () => {
  async function serving(answer: (path: string) => { status: number; body: string | Buffer }) {
    const server = createServer((req, res) => {
      const { status, body } = answer(req.url ?? "");
      res.writeHead(status).end(body);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
  }

  it("gives a page's text, its path and query asked as given; refuses another status and a page too big to be one", async () => {
    const page = renderDcgm([dcgmGpu()]);
    const s = await serving((path) =>
      path === "/metrics?gpu=0"
        ? { status: 200, body: page }
        : path === "/huge"
          ? { status: 200, body: Buffer.alloc(5 * MIB, 0x20) }
          : { status: 404, body: "no" },
    );
    try {
      expect(await fetchGpuPage(`${s.base}/metrics?gpu=0`)).toBe(page);
      await expect(fetchGpuPage(`${s.base}/json`)).rejects.toThrow(`${s.base}/json answered 404`);
      await expect(fetchGpuPage(`${s.base}/huge`)).rejects.toThrow("gave more than 4 MiB");
    } finally {
      s.close();
    }
  });
});
