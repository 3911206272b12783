// The GPUs' readings on /metrics, each series labelled by GPU and upstream, read from the sampler when scraped.
import { Counter, Gauge, type Registry } from "prom-client";
import { type GpuReading, THROTTLE_REASONS, type UpstreamGpu } from "../gpu/reading.js";
import { METRIC_PREFIX } from "./instruments.js";

export const GPU_METRICS = {
  utilization: `${METRIC_PREFIX}_gpu_utilization_ratio`,
  memoryUsed: `${METRIC_PREFIX}_gpu_memory_used_bytes`,
  memoryTotal: `${METRIC_PREFIX}_gpu_memory_total_bytes`,
  power: `${METRIC_PREFIX}_gpu_power_watts`,
  powerLimit: `${METRIC_PREFIX}_gpu_power_limit_watts`,
  temperature: `${METRIC_PREFIX}_gpu_temperature_celsius`,
  clock: `${METRIC_PREFIX}_gpu_clock_ratio`,
  throttled: `${METRIC_PREFIX}_gpu_throttled`,
  foreignMemory: `${METRIC_PREFIX}_gpu_foreign_memory_bytes`,
  energy: `${METRIC_PREFIX}_energy_joules_total`,
  energyPrice: `${METRIC_PREFIX}_energy_price_per_kwh`,
} as const;

/** The electricity price the user gave (--energy-price), for Grafana to turn joules into money; none: no series. */
export function energyPriceGauge(registry: Registry, price: { perKwh: number; currency: string } | undefined): void {
  const gauge = new Gauge({
    name: GPU_METRICS.energyPrice,
    help: "The electricity price per kWh set with --energy-price, labelled by its currency",
    labelNames: ["currency"],
    registers: [registry],
  });
  if (price) gauge.set({ currency: price.currency }, price.perKwh);
}

/** The energy counter: each request's share of what the GPU drew, by upstream (no series until a GPU is read). */
export function energyCounter(registry: Registry): (upstream: string, joules: number) => void {
  const counter = new Counter({
    name: GPU_METRICS.energy,
    help: "Joules the GPU drew for requests: each request's power over its time, shared among those decoding at once",
    labelNames: ["upstream"],
    registers: [registry],
  });
  return (upstream, joules) => {
    if (joules > 0) counter.inc({ upstream }, joules);
  };
}

type Field = (r: GpuReading) => number | undefined;

const GAUGES: [keyof typeof GPU_METRICS, string, Field][] = [
  ["utilization", "Share of the last sample period a kernel ran on the GPU, 0 to 1", (r) => r.utilization],
  ["memoryUsed", "GPU memory in use, in bytes", (r) => r.memoryUsedBytes],
  ["memoryTotal", "GPU memory in all, in bytes", (r) => r.memoryTotalBytes],
  ["power", "Power the GPU draws, in watts", (r) => r.powerWatts],
  ["powerLimit", "The power limit the GPU is held to, in watts", (r) => r.powerLimitWatts],
  ["temperature", "The GPU's temperature, in degrees Celsius", (r) => r.temperatureC],
  [
    "clock",
    "The GPU's SM clock over its maximum, 0 to 1 (below 1 under load: held down)",
    (r) => (r.smClockMhz !== undefined && r.smClockMaxMhz ? r.smClockMhz / r.smClockMaxMhz : undefined),
  ],
  ["foreignMemory", "GPU memory held by processes other than llama-server, in bytes", (r) => r.foreignMemoryBytes],
];

/** Registers the GPU gauges; `read` gives the readings at each scrape (none: no series at all). */
export function gpuGauges(registry: Registry, read: () => readonly UpstreamGpu[]): void {
  for (const [key, help, field] of GAUGES) {
    new Gauge({
      name: GPU_METRICS[key],
      help,
      labelNames: ["gpu", "upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of read()) {
          const v = field(r);
          if (v !== undefined) this.set({ gpu: r.gpu, upstream: r.upstream }, v);
        }
      },
    });
  }
  new Gauge({
    name: GPU_METRICS.throttled,
    help: "1 while the GPU's clocks are held down for this reason (thermal, power cap, power brake, ...), else 0",
    labelNames: ["gpu", "upstream", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of read())
        for (const reason of THROTTLE_REASONS)
          this.set({ gpu: r.gpu, upstream: r.upstream, reason }, r.throttled.includes(reason) ? 1 : 0);
    },
  });
}
