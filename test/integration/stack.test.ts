// End to end: a real Prometheus (Debian's) scraping a real sidecar in front of the real llama-server, with the
// shipped rules. Every Grafana panel query must return data, every metric a dashboard or rule names must exist
// on /metrics, and stopping llama-server must fire LlamaServerDown in that Prometheus.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTinyModel } from "../../scripts/make-tiny-model.js";
import { metricNames, panelQueries, paths, resolveVariables, ruleExpressions } from "../support/deploy-files.js";
import { nvidiaGpu, nvidiaStandIn } from "../support/gpu-tools.js";
import { freePort, type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { toolPath } from "../support/tools.js";

let llama: LlamaServer;
let sidecar: TestSidecar;
let prometheus: ChildProcess;
let promUrl: string;
let traffic = true;
let trafficLoop: Promise<void>;

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: [] } };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

const CLAUDE = { "content-type": "application/json", "user-agent": "claude-cli/2.1.101 (external, cli)" };

async function message(body: object): Promise<number> {
  const res = await fetch(`${sidecar.url}/v1/messages`, {
    method: "POST",
    headers: CLAUDE,
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

/** A Claude Code-like workload: turns with a shared prefix (cache hits), a title call, a Haiku call, a burst. */
async function workload(): Promise<void> {
  const system = [
    { type: "text", text: "x-anthropic-billing-header: cch=1;" },
    { type: "text", text: "You are a test agent. ".repeat(20) },
  ];
  for (let i = 0; i < 3; i++) {
    await message({
      model: "tiny",
      max_tokens: 12,
      stream: true,
      system,
      messages: [{ role: "user", content: "same question" }],
    });
  }
  await message({
    model: "claude-haiku-4-5",
    max_tokens: 64,
    system: "Please write a 5-10 word title for the following conversation:",
    messages: [{ role: "user", content: "hi" }],
  });
  await message({ model: "claude-haiku-4-5", max_tokens: 8, messages: [{ role: "user", content: "summarize" }] });
  // More than the queue holds (--queue-max 1): some 429s, so the rejection series exist.
  const burst = await Promise.all(
    Array.from({ length: 6 }, () =>
      message({ model: "tiny", max_tokens: 24, stream: true, messages: [{ role: "user", content: "burst" }] }),
    ),
  );
  expect(burst).toContain(429);
  // Claude Code's own telemetry, as its OTLP/JSON exporter sends it: a Bash call that worked and one that failed.
  const tool = (seq: number, success: string) => ({
    body: { stringValue: "claude_code.tool_result" },
    attributes: Object.entries({
      "event.name": "tool_result",
      "event.sequence": String(seq),
      "event.timestamp": new Date().toISOString(),
      "session.id": "stack-session",
      tool_name: "Bash",
      success,
      duration_ms: "1200",
    }).map(([key, stringValue]) => ({ key, value: { stringValue } })),
  });
  const otlp = await fetch(`${sidecar.url}/otlp/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [tool(1, "true"), tool(2, "false")] }] }] }),
  });
  expect(otlp.status).toBe(200);
}

beforeAll(async () => {
  // Drafting for itself (speculative decoding), so the draft acceptance panel has llama-server's counters to read.
  llama = await startLlamaServer({ extraArgs: ["-md", ensureTinyModel(), "--spec-type", "draft-simple"] });
  // The GPU row's panels read a GPU: nvidia-smi's stand-in, with a second GPU held down for heat.
  const gpuState = join(mkdtempSync(join(tmpdir(), "fake-gpu-")), "state.json");
  writeFileSync(
    gpuState,
    JSON.stringify({
      gpus: [nvidiaGpu(), nvidiaGpu({ index: 1, uuid: "GPU-1", "clocks_throttle_reasons.active": "0x60" })],
      apps: [{ gpu_uuid: "GPU-1", pid: 9, process_name: "python3", used_memory: 2048 }],
    }),
  );
  const price = ["--energy-price", "0.30 EUR"];
  sidecar = await startTestSidecar(llama.url, ["--queue-max", "1", "--scrape-interval", "1", ...price], {
    runTool: nvidiaStandIn(gpuState),
  });
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "llama-sidecar-prom-"));
  const target = new URL(sidecar.url).host;
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      `rule_files: ["${join(paths.root, "deploy/prometheus/rules/*.yml")}"]`,
      "scrape_configs:",
      "  - job_name: llama-sidecar",
      `    static_configs: [{ targets: ["${target}"] }]`,
    ].join("\n"),
  );
  prometheus = spawn(
    toolPath("prometheus"),
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: "ignore" },
  );
  await until("Prometheus to be ready", async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000);
  await workload();
  // Keep a trickle going so rates over the last 30 s are never empty while the queries run.
  trafficLoop = (async () => {
    while (traffic) {
      await message({
        model: "tiny",
        max_tokens: 8,
        stream: true,
        messages: [{ role: "user", content: "same question" }],
      });
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  await until(
    "several scrapes",
    async () => Number((await query('count_over_time(up{job="llama-sidecar"}[1m])'))[0]?.value[1] ?? 0) >= 8,
    30_000,
  );
}, 240_000);

afterAll(async () => {
  traffic = false;
  await trafficLoop;
  prometheus?.kill();
  await sidecar?.close();
  await llama?.stop();
});

describe("Grafana panels against a real Prometheus", () => {
  it("gets data for every query of every panel", async () => {
    const empty: string[] = [];
    for (const q of panelQueries()) {
      const result = await query(resolveVariables(q.expr));
      if (result.length === 0) empty.push(`${q.panel}: ${q.expr}`);
    }
    expect(empty).toEqual([]);
  });

  it("finds every metric that a dashboard or rule names on the sidecar's /metrics", async () => {
    const text = await sidecar.metrics();
    const missing = metricNames([...panelQueries().map((q) => q.expr), ...ruleExpressions()]).filter(
      (name) => !new RegExp(`^${name}(\\{| )`, "m").test(text),
    );
    expect(missing).toEqual([]);
  });

  it("evaluates the recording rules on live data", async () => {
    expect((await query("llama_sidecar:generation_tps:mean5m")).length).toBeGreaterThan(0);
    const reuse = await query("llama_sidecar:cache_reuse:ratio15m");
    expect(Number(reuse[0]?.value[1])).toBeGreaterThan(0);
  });
});

describe("alerts in that Prometheus", () => {
  it("fires LlamaServerDown when llama-server stops", async () => {
    traffic = false;
    await trafficLoop;
    await llama.stop("SIGKILL");
    await until(
      "LlamaServerDown to fire",
      async () => {
        const res = await fetch(`${promUrl}/api/v1/alerts`);
        const body = (await res.json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
        return body.data.alerts.some((a) => a.labels.alertname === "LlamaServerDown" && a.state === "firing");
      },
      120_000,
    );
  }, 150_000);
});
