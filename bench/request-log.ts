// The request log at 100,000 requests: a session's turns and report, the list of a day's sessions, and the bytes
// a request takes, read through the sidecar's RequestLog as the endpoints do. Target: a session's turns in under 50 ms.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { RequestLog } from "../src/log/request-log.js";
import { sessionReport } from "../src/log/session-report.js";
import { LOG_FILE, LogDb } from "../src/store/log-db.js";
import type { LogRow } from "../src/store/log-row.js";

const NO_CAPTURE = { patterns: [], secrets: [], maxBytes: 0 };
const ROWS = Number(process.env.BENCH_LOG_ROWS ?? 100_000);
const TURNS_PER_SESSION = 200;
const RUNS = 50;
const TARGET_MS = 50;
const MISS_CAUSES = ["history_edited", "other_conversation", "system_changed"];

/** A Claude Code-like row: sessions of 200 turns over the last 30 days, one turn in 20 a miss. */
function row(i: number, now: number): LogRow {
  const session = Math.floor(i / TURNS_PER_SESSION);
  const startedAt = now - (ROWS - i) * 25_000;
  const miss = i % 20 === 7;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    startedAt,
    endedAt: startedAt + 4000,
    session: `5d1e${String(session).padStart(4, "0")}-7c2a-4b3f-9e10-2f6c8a1b0d3e`,
    conversation: `s:${session}`,
    client: "claude-code",
    model: i % 10 === 0 ? "claude-haiku-4-5" : "qwen3-coder-30b",
    upstream: "default",
    route: "/v1/messages",
    outcome: i % 97 === 0 ? "upstream_error" : "ok",
    status: i % 97 === 0 ? 502 : 200,
    stream: true,
    background: i % 10 === 0 ? "haiku" : undefined,
    prefill: miss ? 18_000 : 400,
    cached: miss ? 0 : 17_600 + (i % TURNS_PER_SESSION) * 50,
    generated: 350,
    nCtx: 65_536,
    ttftMs: miss ? 9000 : 300,
    durationMs: 4000,
    queueMs: 2,
    prefillTps: 2000,
    decodeTps: 95,
    finishReason: "tool_use",
    missCause: miss ? MISS_CAUSES[i % 3] : undefined,
    missLocation: miss ? "messages[41].content[2]" : undefined,
    cacheExpected: miss ? 17_600 : undefined,
    cacheLost: miss ? 17_600 : undefined,
    lostPrefillMs: miss ? 8800 : undefined,
    judged: true,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "llama-sidecar-bench-log-"));
  const now = Date.now();
  const fill = new LogDb(dir);
  const t0 = performance.now();
  for (let i = 0; i < ROWS; i += 1000)
    fill.insert(Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => row(i + k, now)));
  const fillMs = performance.now() - t0;
  const bytes = fill.usedBytes();
  fill.close();
  const log = await RequestLog.open(
    { dir, retentionMs: 60 * 86_400_000, maxBytes: 2 ** 40, capture: NO_CAPTURE },
    pino({ level: "silent" }),
  );
  const sessions = Math.ceil(ROWS / TURNS_PER_SESSION);
  const ids = Array.from(
    { length: RUNS },
    (_, k) => row(((k * 7919) % sessions) * TURNS_PER_SESSION, now).session as string,
  );
  const turns: number[] = [];
  const reports: number[] = [];
  for (const id of ids) {
    const read = await timed(() => log.session(id));
    if (read.value.length !== TURNS_PER_SESSION) throw new Error(`session ${id}: ${read.value.length} turns`);
    turns.push(read.ms);
    reports.push(read.ms + (await timed(() => sessionReport(id, read.value))).ms);
  }
  const lists: number[] = [];
  for (let k = 0; k < 10; k++) lists.push((await timed(() => log.sessions({ since: now - 86_400_000 }, 50, 0))).ms);
  const search: number[] = [];
  for (let k = 0; k < 10; k++) search.push((await timed(() => log.requests({ cause: "other_conversation" }, 100))).ms);
  await log.close();
  const file = statSync(join(dir, LOG_FILE)).size;
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `request log: ${ROWS.toLocaleString("en")} requests in ${sessions} sessions of ${TURNS_PER_SESSION} turns, filled in ${(fillMs / 1000).toFixed(1)} s`,
  );
  console.log("| what (through the log's thread) | median | worst |");
  console.log("|---|---:|---:|");
  const line = (what: string, xs: number[]) =>
    console.log(`| ${what} | ${median(xs).toFixed(2)} ms | ${Math.max(...xs).toFixed(2)} ms |`);
  line(`a session's ${TURNS_PER_SESSION} turns (${RUNS} sessions)`, turns);
  line("the same, with its report", reports);
  line("a day's sessions, rolled up (50)", lists);
  line("search by miss cause (100 newest)", search);
  console.log(`bytes per request: ${(bytes / ROWS).toFixed(0)} in use, ${(file / ROWS).toFixed(0)} on disk`);
  const ok = median(reports) < TARGET_MS;
  console.log(
    `target: a session's turns and report under ${TARGET_MS} ms from ${ROWS.toLocaleString("en")} requests: ${ok ? "met" : "MISSED"} (${median(reports).toFixed(2)} ms)`,
  );
}

await main();
