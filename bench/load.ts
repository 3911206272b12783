// What the benches share: streamed requests timed to their first token, load at a level, and the processes' costs.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Agent } from "undici";
import { PREFILL_MS, TOKEN_MS } from "./pacing.js";

/**
 * How the streams' requests arrive. "together": every stream starts at once and, all being the same length, they
 * stay in lock-step, so each client's next request comes in the same millisecond as the others' (the worst case for
 * a single-threaded proxy, which takes them in single file). "spread": the streams' starts are spread evenly over
 * one request's duration, as independent agents' requests arrive.
 */
export type Arrivals = "together" | "spread";
export interface Level {
  streams: number;
  requestsPerStream: number;
  tokens: number;
  arrivals: Arrivals;
}

export interface RunResult {
  ttfts: number[];
  chunks: number;
  seconds: number;
}

export async function spawnPrintingPort(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const m = /^(\d+)$/.exec(line.trim()) ?? /Proxy URL\s*:\s*http:\/\/[^:]+:(\d+)/.exec(line);
    if (m) return { proc, port: Number(m[1]) };
  }
  throw new Error(`${args.join(" ")} exited before printing a port`);
}

const CONTENT = Buffer.from('"content":"');

/** Occurrences of CONTENT in buf, counting one that straddles the previous chunk's tail. */
function countContent(tail: Buffer, buf: Buffer): number {
  let n = 0;
  if (tail.length > 0) {
    const seam = Buffer.concat([tail, buf.subarray(0, CONTENT.length - 1)]);
    if (seam.indexOf(CONTENT) >= 0) n++;
  }
  for (let at = buf.indexOf(CONTENT); at >= 0; at = buf.indexOf(CONTENT, at + CONTENT.length)) n++;
  return n;
}

/**
 * One streamed chat request; returns TTFT (first content chunk) and the number of content chunks.
 * The client shares the machine's CPUs with the proxy it measures, so it keeps its own cost small: undici's raw
 * dispatch callbacks (no stream object per response) and a byte search per chunk.
 */
function oneStream(
  agent: Agent,
  origin: string,
  tokens: number,
  model: string,
): Promise<{ ttft: number; chunks: number }> {
  const body = JSON.stringify({
    model,
    stream: true,
    max_tokens: tokens,
    messages: [{ role: "user", content: "hi" }],
  });
  return new Promise((resolve, reject) => {
    let ttft = -1;
    let chunks = 0;
    let tail: Buffer = Buffer.alloc(0);
    const t0 = performance.now();
    agent.dispatch(
      { origin, path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body },
      {
        onRequestStart: () => {}, // its presence is what tells undici this handler speaks the new callback API
        onResponseStart: (_c, status) => {
          if (status !== 200) reject(new Error(`${origin} answered ${status}`));
        },
        onResponseData: (_c, buf) => {
          const n = countContent(tail, buf);
          if (n > 0 && ttft < 0) ttft = performance.now() - t0;
          chunks += n;
          tail = buf.subarray(Math.max(0, buf.length - (CONTENT.length - 1)));
        },
        onResponseEnd: () => resolve({ ttft, chunks }),
        onResponseError: (_c, err) => reject(err),
      },
    );
  });
}

/** A place to send load, with its own client pool: connections opened in warm-up are the ones timed. */
export interface Target {
  base: string;
  agent: Agent;
}

export function target(base: string, streams: number): Target {
  // Idle between this target's runs while the others are timed: keep the connections that long.
  return { base, agent: new Agent({ connections: streams, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 600_000 }) };
}

/** `model` names the model of each stream's each request (by default "bench"). */
export async function runLoad(
  to: Target,
  level: Level,
  requestsPerStream: number,
  model: (stream: number, request: number) => string = () => "bench",
): Promise<RunResult> {
  const { streams, tokens } = level;
  const ttfts: number[] = [];
  let chunks = 0;
  // One request's nominal length, over which "spread" arrivals start the streams.
  const spacingMs = level.arrivals === "spread" ? (PREFILL_MS + tokens * TOKEN_MS) / streams : 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      if (spacingMs > 0) await new Promise((r) => setTimeout(r, s * spacingMs));
      for (let i = 0; i < requestsPerStream; i++) {
        const r = await oneStream(to.agent, to.base, tokens, model(s, i));
        ttfts.push(r.ttft);
        chunks += r.chunks;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { ttfts, chunks, seconds };
}

export function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** CPU seconds (user+system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  await once(proc, "exit");
}

/**
 * Where the bench's processes run, on a machine of two or more CPUs with `taskset` (BENCH_PIN=0 leaves them to the
 * scheduler): the client and the fake upstream on the first CPU, every proxy timed (sidecars, the bare relay) on
 * the others. Left to the scheduler on this project's 2-vCPU VM, of two sidecars of the same build the one started
 * first spent 10 to 15% more user CPU per chunk in every run (117.2 against 102.9 ms per 1,000 chunks); placed so,
 * 129.4 against 126.8. A comparison of two builds is only fair where neither gets the better CPU.
 */
export const PLACEMENT = placement();

function placement(): { client: string; proxies: string } | undefined {
  const cpus = availableParallelism();
  if (process.env.BENCH_PIN === "0" || cpus < 2) return undefined;
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
  } catch {
    return undefined; // no taskset here: the scheduler places them
  }
  return { client: "0", proxies: cpus === 2 ? "1" : `1-${cpus - 1}` };
}

/** Moves a process, every thread of it, to `cpus` (a taskset list); children started after inherit it. */
export function pin(pid: number | undefined, cpus: string | undefined): void {
  if (pid === undefined || cpus === undefined) return;
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}
