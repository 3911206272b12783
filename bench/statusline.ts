// How fast `llama-sidecar statusline` answers, side by side in one run with the floor every Node command pays (a
// bare `node -e 0`): against a live sidecar with a known session, and with no sidecar at all. Claude Code redraws
// its status line while it waits, so the goal is under 100 ms for the whole command.
// Usage: npm run build && node --import tsx bench/statusline.ts
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const CLI = new URL("../dist/cli.js", import.meta.url).pathname;

async function printedPort(proc: ChildProcess): Promise<number> {
  for await (const line of createInterface({ input: proc.stdout as NodeJS.ReadableStream })) {
    const m = /^(\d+)$/.exec(line.trim()) ?? /Proxy URL\s*:\s*http:\/\/[^:]+:(\d+)/.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error("exited before printing a port");
}

/** Wall time of one command, stdin given, until it exits; and what it printed. */
function timed(args: string[], stdin: string): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
    });
    child.on("error", reject).on("exit", () => resolve({ ms: performance.now() - t0, out: out.trim() }));
    child.stdin.end(stdin);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1] ?? Number.NaN;

async function series(args: string[], stdin: string): Promise<{ times: number[]; out: string }> {
  const times: number[] = [];
  let out = "";
  for (let i = 0; i < RUNS; i++) {
    const r = await timed(args, stdin);
    times.push(r.ms);
    out = r.out;
  }
  return { times, out };
}

async function main(): Promise<void> {
  const upstream = spawn(
    process.execPath,
    ["--import", "tsx", new URL("./fast-upstream.ts", import.meta.url).pathname],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const upstreamPort = await printedPort(upstream);
  const sidecar = spawn(
    process.execPath,
    [
      CLI,
      "--upstream",
      `http://127.0.0.1:${upstreamPort}`,
      "--port",
      "0",
      "--data-dir",
      `/tmp/statusline-bench-${process.pid}`,
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const port = await printedPort(sidecar);
  const session = "bench-session";
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-claude-code-session-id": session },
    body: JSON.stringify({ model: "bench", stream: true, max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.text();
  const input = JSON.stringify({ session_id: session, model: { id: "bench", display_name: "bench" } });
  const floor = await series(["-e", "0"], "");
  const live = await series([CLI, "statusline", "--port", String(port)], input);
  sidecar.kill();
  upstream.kill();
  const down = await series([CLI, "statusline", "--port", String(port)], input);
  const row = (name: string, t: number[]) =>
    `${name.padEnd(22)} p50 ${median(t).toFixed(1).padStart(6)} ms   p95 ${p95(t).toFixed(1).padStart(6)} ms   above the floor ${(median(t) - median(floor.times)).toFixed(1).padStart(6)} ms`;
  console.log(`statusline, ${RUNS} runs each (wall time of the whole command, Node's start included)`);
  console.log(row("node -e 0 (the floor)", floor.times));
  console.log(row("statusline, live", live.times));
  console.log(row("statusline, no sidecar", down.times));
  console.log(`  live line: ${live.out}`);
  console.log(`  down line: ${down.out}`);
  const worst = Math.max(median(live.times), median(down.times));
  const added = worst - median(floor.times);
  if (worst < 100) console.log(`goal (under 100 ms, p50): met (${worst.toFixed(1)} ms)`);
  else {
    // Node's own start is the floor no command can go under: say what the command adds to it.
    console.log(
      `goal (under 100 ms, p50): NOT met here: ${worst.toFixed(1)} ms, of which Node's own start is ${median(floor.times).toFixed(1)} ms and the command adds ${added.toFixed(1)} ms`,
    );
  }
}

await main();
