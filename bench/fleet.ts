// Many upstreams behind one sidecar, side by side in one run: 8 fake llama-servers serving 40 models between them
// (a --config file), against the same sidecar build with one upstream, and a bare relay as the floor. Prints the
// added TTFT at 16 streams (fleet minus single upstream), /metrics render time, size and series count for both,
// and peak RSS at 256 streams. Usage: npm run build && node --import tsx bench/fleet.ts  (BENCH_QUICK=1: short)

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { type Level, pct, peakRssMb, type RunResult, runLoad, spawnPrintingPort, stop, target } from "./load.js";

const QUICK = process.env.BENCH_QUICK === "1";
const UPSTREAMS = 8;
const MODELS_EACH = 5;
const ROUNDS = QUICK ? 2 : 6;
const RENDERS = QUICK ? 5 : 25;

/** The fake servers: one process, a port each. */
async function fakeServers(n: number): Promise<{ ports: number[]; close(): Promise<void> }> {
  const proc = spawn(process.execPath, ["--import", "tsx", "bench/fast-upstream.ts", String(n)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ports: number[] = [];
  for await (const line of createInterface({ input: proc.stdout as NodeJS.ReadableStream })) {
    ports.push(Number(line.trim()));
    if (ports.length === n) break;
  }
  return { ports, close: () => stop(proc) };
}

const model = (i: number) => `model-${i}`;

/** 8 upstreams, 5 models each, listed by name. */
function fleetConfig(ports: number[]): string {
  const path = join(mkdtempSync(join(tmpdir(), "bench-fleet-")), "sidecar.yaml");
  const lines = ["upstreams:"];
  ports.forEach((port, u) => {
    const models = Array.from({ length: MODELS_EACH }, (_, k) => model(u * MODELS_EACH + k));
    lines.push(`  - { name: gpu${u}, url: "http://127.0.0.1:${port}", models: [${models.join(", ")}] }`);
  });
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

function sidecar(args: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), "bench-fleet-data-"));
  const flags = ["--port", "0", "--log-level", "warn", "--data-dir", dataDir, "--scrape-interval", "5"];
  return spawnPrintingPort(["--max-semi-space-size=4", "dist/cli.js", ...flags, ...args]);
}

/** Median render time (ms), size (bytes) and series count of a sidecar's /metrics. */
async function metricsCost(base: string): Promise<{ ms: number; bytes: number; series: number }> {
  const times: number[] = [];
  let text = "";
  for (let i = 0; i < RENDERS; i++) {
    const t0 = performance.now();
    text = await (await fetch(`${base}/metrics`)).text();
    times.push(performance.now() - t0);
  }
  const series = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
  return { ms: pct(times, 50), bytes: Buffer.byteLength(text), series };
}

const all = (rs: RunResult[]) => rs.flatMap((r) => r.ttfts);

async function atLevel(level: Level, single: string, fleet: string, bare: string) {
  const targets = {
    single: target(single, level.streams),
    fleet: target(fleet, level.streams),
    bare: target(bare, level.streams),
  };
  // Each stream's requests go round the 40 models, so every upstream and model takes traffic.
  const spread = (s: number, i: number) => model((s * 7 + i) % (UPSTREAMS * MODELS_EACH));
  const runs = { single: [] as RunResult[], fleet: [] as RunResult[], bare: [] as RunResult[] };
  const turn = async (name: keyof typeof runs, n: number) =>
    runs[name].push(await runLoad(targets[name], level, n, name === "fleet" ? spread : undefined));
  for (const name of ["single", "fleet", "bare"] as const) await turn(name, 2);
  for (const name of Object.keys(runs) as (keyof typeof runs)[]) runs[name].length = 0;
  const order = ["single", "fleet", "bare"] as const;
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < order.length; i++)
      await turn(order[(round + i) % order.length] ?? "bare", level.requestsPerStream);
  await Promise.all(Object.values(targets).map((t) => t.agent.close()));
  return {
    single: pct(all(runs.single), 50),
    fleet: pct(all(runs.fleet), 50),
    bare: pct(all(runs.bare), 50),
  };
}

async function main(): Promise<void> {
  const fakes = await fakeServers(UPSTREAMS);
  const [first = 0] = fakes.ports;
  const one = await sidecar(["--upstream", `http://127.0.0.1:${first}`]);
  const many = await sidecar(["--config", fleetConfig(fakes.ports)]);
  const bare = await spawnPrintingPort(["--import", "tsx", "bench/bare-relay.ts", `http://127.0.0.1:${first}`]);
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  try {
    for (const arrivals of ["together", "spread"] as const) {
      const level: Level = { streams: 16, requestsPerStream: QUICK ? 2 : 4, tokens: 50, arrivals };
      const r = await atLevel(level, url(one.port), url(many.port), url(bare.port));
      lines.push(
        `| 16 | ${arrivals} | ${r.single.toFixed(2)} ms | ${r.fleet.toFixed(2)} ms | ${(r.fleet - r.single).toFixed(2)} ms | ${r.bare.toFixed(2)} ms |`,
      );
      process.stderr.write(`[bench] 16 streams, ${arrivals}: done\n`);
    }
    const [m1, m8] = [await metricsCost(url(one.port)), await metricsCost(url(many.port))];
    const level256: Level = { streams: 256, requestsPerStream: QUICK ? 1 : 2, tokens: 50, arrivals: "together" };
    await runLoad(target(url(many.port), 256), level256, level256.requestsPerStream, (s, i) => model((s + i) % 40));
    const rss = peakRssMb(many.proc.pid ?? 0);
    console.log(
      [
        `${UPSTREAMS} upstreams, ${UPSTREAMS * MODELS_EACH} models (fleet) against 1 upstream (single), same build, ${ROUNDS} interleaved rounds`,
        "",
        "| streams | arrivals | TTFT p50 single | TTFT p50 fleet | fleet adds | bare relay |",
        "|---:|:---|---:|---:|---:|---:|",
        ...lines,
        "",
        "| /metrics | render p50 | bytes | series |",
        "|:---|---:|---:|---:|",
        `| single | ${m1.ms.toFixed(2)} ms | ${m1.bytes} | ${m1.series} |`,
        `| fleet | ${m8.ms.toFixed(2)} ms | ${m8.bytes} | ${m8.series} |`,
        "",
        `targets: fleet adds <= 0.3 ms TTFT p50 @16 over a single upstream; fleet peak RSS after 256 streams: ${rss.toFixed(0)} MB (<= 150 MB)`,
      ].join("\n"),
    );
  } finally {
    await Promise.all([stop(one.proc), stop(many.proc), stop(bare.proc)]);
    await fakes.close();
  }
}

await main();
