// Measures what the sidecar adds, side by side in one run: the same load straight to a fast fake upstream
// and through the sidecar, at 1, 16 and 256 concurrent streams arriving together or spread out. Prints a table of
// ratios and deltas. Usage: npm run bench   (env BENCH_QUICK=1 for a short smoke run, BENCH_LEVELS=16 for 16 only,
// BENCH_BASELINE=/path/to/an/earlier/checkout/dist/cli.js to time an earlier build beside this one, turn by turn,
// BENCH_PROFILE=dir to write a V8 CPU profile of each sidecar, this build and the earlier one, per level, into dir,
// BENCH_PIN=0 to leave the processes to the scheduler instead of the client on one CPU and the proxies on the rest)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cpuSeconds,
  type Level,
  PLACEMENT,
  pct,
  peakRssMb,
  pin,
  type RunResult,
  runLoad,
  spawnPrintingPort,
  stop,
  type Target,
  target,
} from "./load.js";
import { PREFILL_MS, TOKEN_MS } from "./pacing.js";

const QUICK = process.env.BENCH_QUICK === "1";
const BASELINE = process.env.BENCH_BASELINE;
const ONLY = process.env.BENCH_LEVELS?.split(",").map(Number);
const PROFILE = process.env.BENCH_PROFILE;
const LEVELS = (
  [
    { streams: 1, requestsPerStream: QUICK ? 5 : 10, tokens: 50, arrivals: "together" },
    { streams: 16, requestsPerStream: QUICK ? 2 : 4, tokens: 50, arrivals: "together" },
    { streams: 16, requestsPerStream: QUICK ? 2 : 4, tokens: 50, arrivals: "spread" },
    { streams: 256, requestsPerStream: QUICK ? 1 : 2, tokens: 50, arrivals: "together" },
    { streams: 256, requestsPerStream: QUICK ? 1 : 2, tokens: 50, arrivals: "spread" },
  ] satisfies Level[]
).filter((l) => !ONLY || ONLY.includes(l.streams));
// Direct, sidecar and bare relay take turns round by round, so a noisy spell on this shared machine lands on all three.
// A multiple of 3, so each takes each place in the order equally often.
const ROUNDS = QUICK ? 1 : 6;
const WARMUP_REQUESTS = QUICK ? 1 : 3;

interface Row {
  streams: number;
  arrivals: Level["arrivals"];
  addedP50: number;
  addedP99: number;
  bareP50: number;
  bareP99: number;
  bareCpuPer1k: number;
  ownP50: number;
  ownP99: number;
  direct: number;
  via: number;
  cpuPer1k: number;
  rss: number;
  /** The earlier build (BENCH_BASELINE), timed in the same turns: NaN when not run. */
  baselineP50: number;
  baselineP99: number;
  baselineRatio: number;
  baselineRss: number;
  baselineCpuPer1k: number;
}

/** p50 and p99 (ms) of the sidecar's own time per request, from its llama_sidecar_proxy_overhead_seconds histogram. */
async function ownOverhead(base: string): Promise<{ p50: number; p99: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const buckets = [...text.matchAll(/^llama_sidecar_proxy_overhead_seconds_bucket\{[^}]*le="([^"]+)"\} (\S+)$/gm)].map(
    (m) => ({
      le: m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]),
      count: Number(m[2]),
    }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  const quantile = (q: number) => {
    const rank = q * total;
    let prev = { le: 0, count: 0 };
    for (const b of buckets) {
      if (b.count >= rank) {
        const hi = Number.isFinite(b.le) ? b.le : prev.le;
        return (prev.le + (hi - prev.le) * ((rank - prev.count) / Math.max(1, b.count - prev.count))) * 1000;
      }
      prev = b;
    }
    return Number.NaN;
  };
  return { p50: quantile(0.5), p99: quantile(0.99) };
}

/**
 * A sidecar as `npm start`, the installed bin and the Docker image launch it, with a fresh data dir of its own (an
 * earlier build cannot read a newer one's files). With BENCH_PROFILE, V8 profiles it under `name`.
 */
async function spawnSidecar(cli: string, upstreamPort: number, name: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `llama-sidecar-bench-${name}-`));
  const profile = PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const started = await spawnPrintingPort([
    ...profile,
    "--max-semi-space-size=4",
    cli,
    "--port",
    "0",
    "--upstream",
    `http://127.0.0.1:${upstreamPort}`,
    "--log-level",
    "warn",
    "--data-dir",
    dataDir,
  ]);
  pin(started.proc.pid, PLACEMENT?.proxies);
  return started;
}

async function measureLevel(upstreamPort: number, level: Level): Promise<Row> {
  // A fresh sidecar per level, so its peak RSS belongs to this level alone.
  const tag = `${level.streams}-${level.arrivals}`;
  const sidecar = await spawnSidecar("dist/cli.js", upstreamPort, `this-${tag}`);
  const earlier = BASELINE ? await spawnSidecar(BASELINE, upstreamPort, `earlier-${tag}`) : undefined;
  const upstream = target(`http://127.0.0.1:${upstreamPort}`, level.streams);
  const bare = await spawnPrintingPort(["--import", "tsx", "bench/bare-relay.ts", upstream.base]);
  pin(bare.proc.pid, PLACEMENT?.proxies);
  const direct: RunResult[] = [];
  const via: RunResult[] = [];
  const relayed: RunResult[] = [];
  const baselined: RunResult[] = [];
  const proxy = target(`http://127.0.0.1:${sidecar.port}`, level.streams);
  const relay = target(`http://127.0.0.1:${bare.port}`, level.streams);
  const baseline = earlier && target(`http://127.0.0.1:${earlier.port}`, level.streams);
  const targets = [proxy, relay, upstream, ...(baseline ? [baseline] : [])];
  // Warm-up at full concurrency and full length: every keep-alive connection opened, and the hot paths compiled
  // by V8's optimizing tiers, before timing starts. Timed requests should show steady-state cost, not the JIT's.
  for (const t of targets) await runLoad(t, level, WARMUP_REQUESTS);
  // The three take each place in the order equally often: a target timed right after another ran measurably
  // better or worse than in its own first place (by 0.1 to 0.5 ms p50 in probes), whichever target it was.
  const cpuUsed = new Map<Target, number>();
  const turn = (t: Target, into: RunResult[], pid?: number) => async () => {
    const c0 = pid === undefined ? 0 : cpuSeconds(pid);
    into.push(await runLoad(t, level, level.requestsPerStream));
    if (pid !== undefined) cpuUsed.set(t, (cpuUsed.get(t) ?? 0) + cpuSeconds(pid) - c0);
  };
  const turns = [turn(upstream, direct), turn(proxy, via, sidecar.proc.pid), turn(relay, relayed, bare.proc.pid)];
  if (baseline) turns.push(turn(baseline, baselined, earlier?.proc.pid));
  // Each target takes each place in the order equally often.
  const rounds = Math.ceil(ROUNDS / turns.length) * turns.length;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < turns.length; i++) await turns[(round + i) % turns.length]?.();
  }
  const own = await ownOverhead(proxy.base);
  await Promise.all(targets.map((t) => t.agent.close()));
  const rss = peakRssMb(sidecar.proc.pid ?? 0);
  const baselineRss = earlier ? peakRssMb(earlier.proc.pid ?? 0) : Number.NaN;
  await stop(sidecar.proc);
  await stop(bare.proc);
  if (earlier) await stop(earlier.proc);
  const all = (rs: RunResult[]) => rs.flatMap((r) => r.ttfts);
  const rate = (rs: RunResult[]) => rs.reduce((a, r) => a + r.chunks, 0) / rs.reduce((a, r) => a + r.seconds, 0);
  const viaChunks = via.reduce((a, r) => a + r.chunks, 0);
  return {
    streams: level.streams,
    arrivals: level.arrivals,
    addedP50: pct(all(via), 50) - pct(all(direct), 50),
    addedP99: pct(all(via), 99) - pct(all(direct), 99),
    bareP50: pct(all(relayed), 50) - pct(all(direct), 50),
    bareP99: pct(all(relayed), 99) - pct(all(direct), 99),
    direct: rate(direct),
    via: rate(via),
    cpuPer1k: ((cpuUsed.get(proxy) ?? 0) * 1000 * 1000) / viaChunks,
    ownP50: own.p50,
    ownP99: own.p99,
    bareCpuPer1k: ((cpuUsed.get(relay) ?? 0) * 1000 * 1000) / relayed.reduce((a, r) => a + r.chunks, 0),
    rss,
    baselineP50: baseline ? pct(all(baselined), 50) - pct(all(direct), 50) : Number.NaN,
    baselineP99: baseline ? pct(all(baselined), 99) - pct(all(direct), 99) : Number.NaN,
    baselineRatio: baseline ? rate(baselined) / rate(direct) : Number.NaN,
    baselineRss,
    baselineCpuPer1k: baseline
      ? ((cpuUsed.get(baseline) ?? 0) * 1000 * 1000) / baselined.reduce((a, r) => a + r.chunks, 0)
      : Number.NaN,
  };
}

function table(rows: Row[]): string {
  const header =
    "| streams | arrivals | added TTFT p50 / p99 | of which sidecar's own p50 / p99 | bare relay adds p50 / p99 | chunks/s direct | chunks/s via sidecar | ratio | CPU per 1k chunks: sidecar / bare relay | sidecar peak RSS |";
  const sep = "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|";
  const lines = rows.map(
    (r) =>
      `| ${r.streams} | ${r.arrivals} | ${r.addedP50.toFixed(2)} / ${r.addedP99.toFixed(2)} ms | ${r.ownP50.toFixed(3)} / ${r.ownP99.toFixed(3)} ms | ${r.bareP50.toFixed(2)} / ${r.bareP99.toFixed(2)} ms | ${r.direct.toFixed(0)} | ${r.via.toFixed(0)} | ${((100 * r.via) / r.direct).toFixed(1)}% | ${r.cpuPer1k.toFixed(1)} / ${r.bareCpuPer1k.toFixed(1)} ms | ${r.rss.toFixed(0)} MB |`,
  );
  if (!BASELINE) return [header, sep, ...lines].join("\n");
  const baseHeader =
    "| streams | arrivals | this build adds p50 / p99 | earlier build adds p50 / p99 | ratio this / earlier | CPU per 1k chunks this / earlier | peak RSS this / earlier |";
  const baseLines = rows.map(
    (r) =>
      `| ${r.streams} | ${r.arrivals} | ${r.addedP50.toFixed(2)} / ${r.addedP99.toFixed(2)} ms | ${r.baselineP50.toFixed(2)} / ${r.baselineP99.toFixed(2)} ms | ${((100 * r.via) / r.direct).toFixed(1)}% / ${(100 * r.baselineRatio).toFixed(1)}% | ${r.cpuPer1k.toFixed(1)} / ${r.baselineCpuPer1k.toFixed(1)} ms | ${r.rss.toFixed(0)} / ${r.baselineRss.toFixed(0)} MB |`,
  );
  return [
    header,
    sep,
    ...lines,
    "",
    `earlier build: ${BASELINE}`,
    "",
    baseHeader,
    "|---:|:---|---:|---:|---:|---:|---:|",
    ...baseLines,
  ].join("\n");
}

async function main(): Promise<void> {
  // The client (this process) and the fake upstream it starts share one CPU; the proxies get the others.
  pin(process.pid, PLACEMENT?.client);
  const upstream = await spawnPrintingPort(["--import", "tsx", "bench/fast-upstream.ts"]);
  const rows: Row[] = [];
  try {
    for (const level of LEVELS) {
      rows.push(await measureLevel(upstream.port, level));
      process.stderr.write(`[bench] ${level.streams} stream(s), ${level.arrivals}: done\n`);
    }
  } finally {
    await stop(upstream.proc);
  }
  const targets = BASELINE ? 4 : 3;
  const rounds = Math.ceil(ROUNDS / targets) * targets;
  const placed = PLACEMENT
    ? `client and upstream on CPU ${PLACEMENT.client}, proxies on CPU ${PLACEMENT.proxies}`
    : "processes placed by the scheduler";
  const pacing = `upstream: ${PREFILL_MS} ms prefill, a token every ${TOKEN_MS} ms per stream; ${rounds} interleaved rounds per level; ${placed}`;
  console.log(`${pacing}\n\n${table(rows)}`);
  const at16 = rows
    .filter((r) => r.streams === 16)
    .map((r) => `${r.arrivals} ${(r.addedP50 - r.bareP50).toFixed(2)} ms`);
  const rss256 = Math.max(...rows.filter((r) => r.streams === 256).map((r) => r.rss));
  const worstRatio = Math.min(...rows.map((r) => r.via / r.direct));
  // The headline: what the sidecar adds beyond the floor any relay on this machine pays (the bare relay).
  console.log(
    `\ntargets: sidecar minus bare relay, TTFT p50 @16 (spread <= 0.3 ms, together <= 1.0 ms): ${at16.join(", ") || "not run"}; ` +
      `throughput >= 95% of direct: worst ${(100 * worstRatio).toFixed(1)}%; RSS <= 150 MB @256: ${Number.isFinite(rss256) ? `${rss256.toFixed(0)} MB` : "not run"}`,
  );
}

await main();
