/// <reference lib="dom" />
// Prefill progress against the real llama-server: reported on OpenAI streams and stripped from what the client
// gets, estimated on Anthropic streams, and shown by /api/requests/active, the gauges and the dashboard.
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActiveRequest, PrefillProgress } from "../../src/wire/active-request.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { toolPath } from "../support/tools.js";

let llama: LlamaServer;
let sidecar: TestSidecar;

// Small batches make a prompt of a few thousand tokens take seconds on the tiny model, with a report per batch.
const LLAMA_ARGS = ["-b", "32", "-ub", "32", "--cache-ram", "0"];

beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192, extraArgs: LLAMA_ARGS });
  sidecar = await startTestSidecar(llama.url, ["--scrape-interval", "1"]);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});

/** About five tokens a word with the tiny model's tokenizer: `n` words are a long prompt, distinct per tag. */
const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ");

const chatBody = (n: number, tag: string, extra: object = {}) => ({
  model: "tiny",
  max_tokens: 4,
  stream: true,
  temperature: 0,
  seed: 7,
  cache_prompt: false,
  messages: [{ role: "user", content: words(n, tag) }],
  ...extra,
});

const post = (base: string, path: string, body: object) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const active = async () => (await (await fetch(`${sidecar.url}/api/requests/active`)).json()) as ActiveRequest[];

/** Polls /api/requests/active (and /metrics once a report is in) until `done` settles; returns what it saw. */
async function watch(done: Promise<string>): Promise<{ seen: PrefillProgress[]; gauge?: string; text: string }> {
  let finished = false;
  const text = done.finally(() => {
    finished = true;
  });
  const seen: PrefillProgress[] = [];
  let gauge: string | undefined;
  while (!finished) {
    const [now] = await active();
    if (now?.phase === "prefilling" && now.progress) {
      seen.push(now.progress);
      gauge ??= (await (await fetch(`${sidecar.url}/metrics`)).text())
        .split("\n")
        .find((l) => l.startsWith("llama_sidecar_prefill_progress_ratio{"));
    }
    await new Promise((r) => setTimeout(r, 40));
  }
  return { seen, gauge, text: await text };
}

/**
 * The parts of a stream that differ from run to run (ids, times, timings), masked, and its keep-alive comments
 * dropped: llama-server sends one (":") when a prefill runs long, which on a busy machine one run does and another not.
 */
const masked = (stream: string) =>
  stream
    .replace(/^:[^\n]*\n\n/gm, "")
    .replace(/"created":\d+/g, '"created":0')
    .replace(/"id":"[^"]*"/g, '"id":""')
    .replace(/"timings":\{[^}]*\}/g, '"timings":{}');

/**
 * Each test prefills thousands of tokens in small batches, some twice (through the sidecar and straight): a minute
 * on a quiet 2-core machine can be three on a busy one.
 */
const SLOW_PREFILL = { timeout: 300_000 };

describe("prefill progress", SLOW_PREFILL, () => {
  it("shows an OpenAI stream's prefill advancing before its first token, and strips the reports from its stream", async () => {
    const body = chatBody(1200, "w");
    const { seen, gauge, text } = await watch(post(sidecar.url, "/v1/chat/completions", body).then((r) => r.text()));
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((p) => p.source === "stream" && p.total > 5000 && p.ratio <= 1)).toBe(true);
    const ratios = seen.map((p) => p.ratio);
    expect(ratios).toEqual([...ratios].sort((a, b) => a - b));
    expect(ratios.at(-1)).toBeGreaterThan(ratios[0] ?? 1);
    expect(seen.some((p) => p.etaMs !== undefined && p.etaMs > 0)).toBe(true);
    expect(gauge).toMatch(/^llama_sidecar_prefill_progress_ratio\{upstream="default",model="tiny"\} (0|1|0\.\d+)$/);

    // The same request straight to llama-server, which sends no reports when not asked: the same stream.
    expect(text).not.toContain("prompt_progress");
    const direct = await (await post(llama.url, "/v1/chat/completions", body)).text();
    expect(direct).not.toContain("prompt_progress");
    expect(masked(text)).toBe(masked(direct));
    // Nothing in flight once it ended.
    expect(await active()).toEqual([]);
  });

  it("keeps content that llama-server sends with a report (a prefilled tool call) where it stands without reports", async () => {
    const call = `<tool_call>\n${JSON.stringify({ name: "get_weather", arguments: { city: "Paris" } })}\n</tool_call>`;
    const body = {
      model: "tiny",
      max_tokens: 8,
      stream: true,
      cache_prompt: false,
      tool_choice: "required",
      parallel_tool_calls: false,
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            parameters: {
              type: "object",
              properties: { city: { type: "string", enum: ["Paris"] } },
              required: ["city"],
            },
          },
        },
      ],
      messages: [
        { role: "user", content: "What is the weather in Paris?" },
        { role: "assistant", content: call },
      ],
    };
    const through = await (await post(sidecar.url, "/v1/chat/completions", body)).text();
    const direct = await (await post(llama.url, "/v1/chat/completions", body)).text();
    expect(through).toContain('"name":"get_weather"');
    expect(masked(through)).toBe(masked(direct));
  });

  it("leaves the reports in for a client that asked for them itself", async () => {
    const res = await post(sidecar.url, "/v1/chat/completions", chatBody(200, "own", { return_progress: true }));
    const text = await res.text();
    expect(text).toContain('"prompt_progress":{"total":');
  });

  it("estimates an Anthropic stream's prefill from its exact size and llama-server's measured speed", async () => {
    // The estimate needs a measured prefill speed: the scrape after the first test's prefill has it.
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${sidecar.url}/api/stats`)).json()) as { live: { prefillTps: number | null } }).live
            .prefillTps,
        { timeout: 5000 },
      )
      .toBeGreaterThan(0);
    sidecar.clearRecords();
    const body = {
      model: "tiny",
      max_tokens: 4,
      stream: true,
      messages: [{ role: "user", content: words(1450, "a") }],
    };
    const { seen } = await watch(post(sidecar.url, "/v1/messages", body).then((r) => r.text()));
    const [record] = await sidecar.waitForRecords(1);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((p) => !(p.source === "estimate" && p.ratio < 1))).toEqual([]);
    // Its size is llama-server's own count of the prompt it then processed.
    const prompt = (record?.prefillTokens ?? 0) + (record?.cachedTokens ?? 0);
    expect(seen[0]?.total).toBe(prompt);
  });
});

describe("the dashboard", SLOW_PREFILL, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: toolPath("chromium"), args: ["--no-sandbox", "--disable-gpu"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("shows a running prefill's progress under Running now", async () => {
    const page = await browser.newPage();
    await page.goto(`${sidecar.url}/dashboard`);
    await page.waitForSelector("body[data-ready=true]");
    const done = post(sidecar.url, "/v1/chat/completions", chatBody(1450, "d")).then((r) => r.text());
    // Read without waiting for the row: it comes and goes with the request.
    const row = () =>
      page.evaluate(() =>
        Array.from(document.querySelectorAll('[data-stat="active"] tr:first-child td')).map(
          (td) => td.textContent ?? "",
        ),
      );
    await expect.poll(async () => (await row())[3] ?? "", { timeout: 15_000 }).toMatch(/^\d+% of .+ · .+ left$/);
    expect((await row())[2]).toMatch(/^prefilling for /);
    await page.screenshot({ path: "test-output/dashboard-prefill-progress.png", fullPage: true });
    await done;
    await page.close();
  });
});
