// Both sides of an agent's time: the real Claude Code CLI (2.1.197, -p, a private HOME) launched through
// `llama-sidecar claude` runs a Bash tool against a scripted Anthropic-speaking upstream behind the sidecar; its own
// OTLP telemetry reaches the sidecar's receiver, and the session's report, /metrics and `llama-sidecar session`
// show the tool's time beside the model's. Also the receiver's own bounds and encodings, over real sockets.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { JsonLogsSerializer, ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionReport } from "../../src/log/session-report.js";
import { AGENT_METRICS } from "../../src/telemetry/agent-counters.js";
import { type CannedAnthropic, startCannedAnthropic } from "../support/canned-anthropic.js";
import { freePort } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { splitTotal } from "../support/time-split.js";
import { until } from "../support/until.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const REAL_CLAUDE = join(ROOT, "node_modules/.bin/claude");
const TSX = import.meta.resolve("tsx");
const KEY = "agent-telemetry-test-key";

let upstream: CannedAnthropic;
let sidecar: TestSidecar;
let port: number;

beforeAll(async () => {
  upstream = await startCannedAnthropic("", { bash: "echo hi" });
  port = await freePort();
  sidecar = await startTestSidecar(upstream.url, ["--port", String(port), "--api-key", KEY]);
});
afterAll(async () => {
  await sidecar?.close();
  await upstream?.close();
});

/** `llama-sidecar <args>` from source, with a private HOME and only the variables given. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, join(ROOT, "src/cli.ts"), ...args],
      {
        cwd: ROOT,
        timeout: 200_000,
        env: {
          PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
          HOME: mkdtempSync(join(tmpdir(), "claude-home-")),
          LLAMA_SIDECAR_PORT: String(port),
          LLAMA_SIDECAR_API_KEY: KEY,
          ...env,
        },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const auth = { "x-api-key": KEY };

async function report(session: string): Promise<SessionReport | undefined> {
  const res = await fetch(`${sidecar.url}/api/sessions/${session}`, { headers: auth });
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { report?: SessionReport }).report;
}

describe("Claude Code's own telemetry, joined with the server's", () => {
  it("shows a -p run's Bash call between its two model turns, and a time split that adds up", {
    timeout: 240_000,
  }, async () => {
    const r = await cli(
      [
        "claude",
        "-p",
        "Run echo hi with the Bash tool, then say what it printed.",
        "--tools",
        "Bash",
        "--allowedTools",
        "Bash",
        "--output-format",
        "json",
      ],
      { LLAMA_SIDECAR_CLAUDE: REAL_CLAUDE },
    );
    expect(r.stderr).toMatch(/Claude Code's own telemetry .* goes to the sidecar/);
    const result = JSON.parse(r.stdout) as { session_id: string; result: string };
    expect(result.result).toBe("The file says hello."); // the script's answer to a tool result
    const session = result.session_id;
    // Claude Code exports its events within a second and flushes at exit; the log writes them soon after.
    let rep: SessionReport | undefined;
    await until("the session's Bash call in its report", async () => {
      rep = await report(session);
      return (rep?.agent?.tools.some((t) => t.tool === "Bash") ?? false) && (rep?.agent?.calls ?? 0) >= 2;
    });
    if (!rep?.agent) throw new Error("no agent side");
    const main = rep.turns.filter((t) => !t.background && t.route === "/v1/messages");
    expect(main.length).toBeGreaterThanOrEqual(2);
    const bash = rep.agent.tools.find((t) => t.tool === "Bash");
    expect(bash).toMatchObject({ calls: 1, failures: 0 });
    expect(bash?.ms).toBeGreaterThan(0);
    // The tool ran between the model's turns: its time sits in the gap before the answer's turn.
    expect(Object.keys(rep.time.toolMs)).toEqual(["Bash"]);
    expect(splitTotal(rep.time)).toBeCloseTo(rep.wallMs, 3);
    // Claude Code's own view of each call sits beside the sidecar's: it waited at least as long as the sidecar took.
    const viewed = main.filter((t) => t.agent);
    expect(viewed.length).toBeGreaterThanOrEqual(2);
    for (const t of viewed) expect(t.agent?.durationMs).toBeGreaterThanOrEqual(t.durationMs - 50);
    expect(rep.summary).toMatch(/in tools \(Bash \d+%\)/);

    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(new RegExp(`${AGENT_METRICS.toolCalls}\\{tool="Bash",outcome="success"\\} 1`));
    expect(metrics).toMatch(new RegExp(`${AGENT_METRICS.toolSeconds}\\{tool="Bash"\\} [0-9.]+`));
    for (const phase of ["queue", "prefill", "generation", "tool", "person"])
      expect(metrics).toMatch(new RegExp(`${AGENT_METRICS.sessionTime}\\{phase="${phase}"\\} [0-9.e-]+`));

    // One trace per turn: Claude Code's spans relayed to the sidecar's span export, and the sidecar's request span
    // a child of Claude Code's LLM request span (the traceparent it sends).
    await until("Claude Code's spans relayed", () =>
      sidecar.spans().some((s) => s.name === "claude_code.tool" && s.attributes["session.id"] === session),
    );
    const spans = sidecar.spans();
    const theirs = spans.filter((s) => s.attributes["session.id"] === session);
    expect(theirs.map((s) => s.name)).toEqual(
      expect.arrayContaining(["claude_code.interaction", "claude_code.llm_request", "claude_code.tool"]),
    );
    const llm = theirs.filter((s) => s.name === "claude_code.llm_request");
    const ours = spans.filter((s) => llm.some((l) => l.spanContext().spanId === s.parentSpanContext?.spanId));
    expect(ours.length).toBeGreaterThanOrEqual(2);
    for (const span of ours) {
      expect(span.instrumentationScope.name).toBe("test");
      expect(llm.map((l) => l.spanContext().traceId)).toContain(span.spanContext().traceId);
    }
    console.log(
      `the trace tree as the in-memory exporter saw it:\n${treeText(spans.filter((s) => llm.some((l) => l.spanContext().traceId === s.spanContext().traceId)))}`,
    );

    // And in a terminal, as a person asks for it afterwards.
    const text = await cli(["session", "last", "--data-dir", sidecar.config.dataDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`session ${session}`);
    expect(text.stdout).toMatch(/tool Bash +\d/);
    expect(text.stdout).toMatch(/tools: Bash ×1/);
  });
});

/** Spans as an indented tree, for the closing note and a failing test's output. */
function treeText(spans: ReadableSpan[]): string {
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const s of spans.filter(
      (x) =>
        x.parentSpanContext?.spanId === parent ||
        (!parent && !spans.some((p) => p.spanContext().spanId === x.parentSpanContext?.spanId)),
    )) {
      if (lines.length > 60) return;
      const ms = s.duration[0] * 1000 + s.duration[1] / 1e6;
      lines.push(`${"  ".repeat(depth)}${s.name} (${s.resource.attributes["service.name"]}, ${ms.toFixed(1)} ms)`);
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join("\n");
}

/** Log records as Claude Code's SDK makes them, for a session. */
function records(session: string, n: number) {
  const exporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(exporter)] }).getLogger("t");
  for (let i = 0; i < n; i++)
    logger.emit({
      body: "claude_code.tool_result",
      attributes: {
        "event.name": "tool_result",
        "event.sequence": i,
        "event.timestamp": new Date(Date.now() - 1000 + i).toISOString(),
        "session.id": session,
        tool_name: "Read",
        success: "true",
        duration_ms: "5",
      },
    });
  return exporter.getFinishedLogRecords();
}

const post = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
  fetch(`${sidecar.url}${path}`, {
    method: "POST",
    body: typeof body === "string" ? body : Buffer.from(body),
    headers: { ...auth, ...headers },
  });

describe("the OTLP receiver", () => {
  it("takes http/protobuf, http/json and gzip, and answers in the request's encoding", async () => {
    const proto = ProtobufLogsSerializer.serializeRequest(records("recv-proto", 2)) as Uint8Array;
    const a = await post("/otlp/v1/logs", proto, { "content-type": "application/x-protobuf" });
    expect(a.status).toBe(200);
    expect(a.headers.get("content-type")).toBe("application/x-protobuf");
    const json = JsonLogsSerializer.serializeRequest(records("recv-json", 1)) as Uint8Array;
    const b = await post("/otlp/v1/logs", gzipSync(json), {
      "content-type": "application/json",
      "content-encoding": "gzip",
    });
    expect(b.status).toBe(200);
    expect(await b.json()).toEqual({});
    // A record without a session is refused on its own, and said so; metrics and traces are taken too.
    const none = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: "x" } }] }] }] });
    const c = await post("/otlp/v1/logs", none, { "content-type": "application/json" });
    expect(await c.json()).toEqual({
      partialSuccess: { rejectedLogRecords: 1, errorMessage: "1 without a session.id" },
    });
    for (const signal of ["metrics", "traces"]) {
      const res = await post(`/otlp/v1/${signal}`, "{}", { "content-type": "application/json" });
      expect(res.status).toBe(200);
    }
  });

  it("refuses a wrong key, a wrong type, a broken body, an oversized one and a flood, in OTLP's Status shape", async () => {
    const body = JsonLogsSerializer.serializeRequest(records("recv-limits", 1)) as Uint8Array;
    const wrong = await fetch(`${sidecar.url}/otlp/v1/logs`, {
      method: "POST",
      body: Buffer.from(body),
      headers: { "content-type": "application/json", "x-api-key": "not-the-key-at-all" },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: 16 });
    const type = await post("/otlp/v1/logs", body, { "content-type": "text/plain" });
    expect(type.status).toBe(415);
    expect((await type.json()) as object).toMatchObject({ code: 3, message: expect.stringMatching(/http\/protobuf/) });
    const broken = await post("/otlp/v1/logs", new Uint8Array([0xff, 0xff, 0xff]), {
      "content-type": "application/x-protobuf",
    });
    expect(broken.status).toBe(400);
    const big = await post("/otlp/v1/logs", Buffer.alloc(9 << 20, 0x20), { "content-type": "application/json" });
    expect(big.status).toBe(413);
    const bomb = await post("/otlp/v1/logs", gzipSync(Buffer.alloc(64 << 20, 0x20)), {
      "content-type": "application/json",
      "content-encoding": "gzip",
    });
    expect(bomb.status).toBe(413);
    // Ten seconds' worth at once is the most the receiver takes: past it, 429 with a time to come back.
    const flood = JsonLogsSerializer.serializeRequest(records("recv-flood", 10_001)) as Uint8Array;
    const res = await post("/otlp/v1/logs", flood, { "content-type": "application/json" });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await res.json()).toMatchObject({ code: 8 });
  });
});
