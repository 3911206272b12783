// A stand-in for NVIDIA's DCGM exporter (dcgm-exporter 4.x): /metrics in its text format, rendered as its template
// (internal/pkg/rendermetrics) does, for the fields of deploy/dcgm/counters.csv, from GPUs a test changes at will.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One GPU as the exporter reports it: an L40 under load, in DCGM's units (MiB, W, °C, MHz, %). */
export const dcgmGpu = (over: Partial<DcgmGpu> = {}): DcgmGpu => ({
  gpu: 0,
  uuid: "GPU-c4dd1ba4-59e1-8a43-e021-9ac6d2b7e3f5",
  modelName: "NVIDIA L40",
  util: 97,
  fbUsed: 30712,
  fbFree: 17916,
  fbReserved: 512,
  power: 281.43,
  powerLimit: 300,
  temp: 71,
  smClock: 2490,
  smClockMax: 2520,
  reasons: 0,
  ...over,
});

export interface DcgmGpu {
  gpu: number;
  uuid: string;
  modelName: string;
  util: number;
  fbUsed: number;
  fbFree: number;
  fbReserved: number;
  power: number;
  powerLimit: number;
  temp: number;
  smClock: number;
  smClockMax: number;
  reasons: number;
}

/** DCGM's blank for a 64-bit field the GPU does not report (what an L40 gives for its memory temperature). */
const INT64_BLANK = "9223372036854775794";

const FIELDS: [string, "gauge" | "counter", string, (g: DcgmGpu) => number | string][] = [
  ["DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", (g) => g.smClock],
  ["DCGM_FI_DEV_MAX_SM_CLOCK", "gauge", "Maximum SM clock frequency (in MHz).", (g) => g.smClockMax],
  ["DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", () => INT64_BLANK],
  ["DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", (g) => g.temp],
  ["DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", (g) => g.power.toFixed(3)],
  ["DCGM_FI_DEV_POWER_MGMT_LIMIT", "gauge", "Power management limit (in W).", (g) => g.powerLimit.toFixed(3)],
  ["DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", (g) => g.util],
  ["DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Current clock event reasons (bitmask).", (g) => g.reasons],
  ["DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", (g) => g.fbFree],
  ["DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", (g) => g.fbUsed],
  ["DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", (g) => g.fbReserved],
];

export function renderDcgm(gpus: readonly DcgmGpu[]): string {
  const labels = (g: DcgmGpu) =>
    `gpu="${g.gpu}",UUID="${g.uuid}",pci_bus_id="00000000:0${g.gpu + 1}:00.0",device="nvidia${g.gpu}",modelName="${g.modelName}",hostname="gpu-box",DCGM_FI_DRIVER_VERSION="580.95.05"`;
  return FIELDS.map(
    ([name, type, help, value]) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${gpus.map((g) => `${name}{${labels(g)}} ${value(g)}`).join("\n")}\n`,
  ).join("");
}

export interface FakeDcgm {
  /** Its /metrics URL. */
  url: string;
  gpus: DcgmGpu[];
  close(): Promise<void>;
}

export async function startFakeDcgm(gpus: DcgmGpu[] = [dcgmGpu()]): Promise<FakeDcgm> {
  const fake = { gpus } as FakeDcgm;
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") return res.writeHead(404).end("404 page not found\n");
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(renderDcgm(fake.gpus));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}
