/// <reference lib="dom" />
// The dashboard in real headless Chromium (Debian's), driven by playwright-core, in front of the real llama-server.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { humanCount, humanDuration } from "../../src/dashboard/public/format.js";
import { sessionReport } from "../../src/log/session-report.js";
import type { AgentEvent } from "../../src/store/agent-events.js";
import type { LogRow } from "../../src/store/log-row.js";
import { nvidiaGpu, nvidiaStandIn } from "../support/gpu-tools.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { toolPath } from "../support/tools.js";

const SHOTS = new URL("../../test-output/", import.meta.url).pathname;

let llama: LlamaServer;
let sidecar: TestSidecar;
let browser: Browser;
const consoleErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  llama = await startLlamaServer();
  sidecar = await startTestSidecar(llama.url); // a fresh data dir
  browser = await chromium.launch({
    executablePath: toolPath("chromium"),
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await sidecar?.close();
  await llama?.stop();
});

async function open(viewport = { width: 1280, height: 1000 }, colorScheme: "light" | "dark" = "light"): Promise<Page> {
  const page = await browser.newPage({ viewport, colorScheme });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(`${sidecar.url}/dashboard`);
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

const text = (page: Page, stat: string) => page.locator(`[data-stat="${stat}"]`).textContent();

interface Stats {
  summary: string;
  sidecar: { totals: { requests: number } };
  live: { ttft: { lastMs: number | null; p50Ms: number | null; p95Ms: number | null } };
  recent: { prefillTokens?: number; cachedTokens?: number; outputTokens?: number; client: string }[];
}
const apiStats = async () => (await (await fetch(`${sidecar.url}/api/stats`)).json()) as Stats;

async function traffic(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "claude-cli/2.1.101 (external, cli)" },
      body: JSON.stringify({
        model: "tiny",
        max_tokens: 16,
        stream: true,
        system: "Be brief.",
        messages: [{ role: "user", content: `question ${i}` }],
      }),
    });
    await res.text();
  }
  await sidecar.waitForRecords(sidecar.records.length);
}

describe("GET /dashboard", () => {
  it("serves the page and its chart library itself, with no CDN", async () => {
    const html = await (await fetch(`${sidecar.url}/dashboard`)).text();
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await fetch(`${sidecar.url}/dashboard/uplot.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get("content-type")).toMatch(/javascript/);
  });

  it("shows the empty state on a fresh data dir, with what to do", async () => {
    const page = await open();
    await expect.poll(() => page.locator('[data-stat="empty"]').isVisible()).toBe(true);
    expect(await text(page, "empty-commands")).toContain(`ANTHROPIC_BASE_URL=${sidecar.url}`);
    expect(await text(page, "upstream-state")).toBe("online");
    await page.screenshot({ path: `${SHOTS}dashboard-empty.png`, fullPage: true });
    await page.close();
  });

  it("shows the numbers /api/stats has, and updates without a reload after new traffic", async () => {
    const page = await open();
    await traffic(3);
    await expect.poll(async () => (await apiStats()).sidecar.totals.requests).toBe(3);
    // Within one polling period (2 s) the page shows the new state, no reload.
    await expect.poll(() => page.locator('[data-stat="recent"] tr').count(), { timeout: 5000 }).toBe(3);
    await expect.poll(() => page.locator('[data-stat="empty"]').isVisible()).toBe(false);
    const s = await apiStats();
    expect(await text(page, "summary")).toBe(s.summary);
    expect(await text(page, "ttft-p50")).toBe(humanDuration(s.live.ttft.p50Ms ?? Number.NaN));
    expect(await text(page, "ttft-p95")).toBe(humanDuration(s.live.ttft.p95Ms ?? Number.NaN));
    const first = page.locator('[data-stat="recent"] tr').first().locator("td");
    expect(await first.nth(1).textContent()).toBe(s.recent[0]?.client);
    expect(await first.nth(3).textContent()).toBe(humanCount(s.recent[0]?.prefillTokens ?? Number.NaN));
    expect(await first.nth(5).textContent()).toBe(humanCount(s.recent[0]?.outputTokens ?? Number.NaN));
    expect(await page.locator(".u-over").count()).toBe(1); // the chart drew

    await traffic(2);
    await expect.poll(() => page.locator('[data-stat="recent"] tr').count(), { timeout: 5000 }).toBe(5);
    await expect.poll(() => text(page, "summary")).toBe((await apiStats()).summary);
    await page.screenshot({ path: `${SHOTS}dashboard.png`, fullPage: true });
    await page.close();
  });

  it("keeps its page size flat while it polls (nothing accumulates)", async () => {
    const page = await open();
    const nodes = () => page.evaluate(() => document.getElementsByTagName("*").length);
    const before = await nodes();
    await page.waitForTimeout(5000); // two or three polls
    expect(await nodes()).toBe(before);
    await page.close();
  });

  it("reads on a phone in dark mode", async () => {
    const page = await open({ width: 390, height: 844 }, "dark");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe("rgb(15, 19, 24)");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SHOTS}dashboard-phone-dark.png`, fullPage: true });
    await page.close();
  });

  it("says when the data dir refuses writes, and stops saying it once writes go through", async () => {
    const page = await open();
    const warning = page.locator('[data-stat="store-warning"]');
    expect(await warning.isVisible()).toBe(false);
    // As the store reports a full disk (the full-disk test makes a real one; here only the page is under test).
    const fail = () => {
      sidecar.stats.store.failing = Object.assign(new Error("ENOSPC: no space left on device, write"), {
        code: "ENOSPC",
      });
    };
    fail();
    // This disk is fine: the store's next write (every second) would clear the failure before the page polls.
    const keepFailing = setInterval(fail, 50);
    await expect.poll(() => warning.isVisible(), { timeout: 5000 }).toBe(true);
    expect(await warning.textContent()).toMatch(
      /not taking writes \(ENOSPC: no space left on device.*resumes by itself/,
    );
    await page.screenshot({ path: `${SHOTS}dashboard-store-failing.png`, fullPage: true });
    clearInterval(keepFailing);
    sidecar.stats.store.failing = undefined;
    await expect.poll(() => warning.isVisible(), { timeout: 5000 }).toBe(false);
    await page.close();
  });

  it("lists why the cache missed, with where and what it cost", async () => {
    const page = await open();
    // The traffic above already missed for real: "question 0" asked again after conversations 2 and 3 had the slot.
    const before = ((await (await fetch(`${sidecar.url}/api/stats`)).json()) as { cache: { misses: object[] } }).cache
      .misses.length;
    const chat = (cachePrompt: boolean) =>
      fetch(`${sidecar.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-claude-code-session-id": "dashboard-miss" },
        body: JSON.stringify({
          model: "tiny",
          max_tokens: 4,
          cache_prompt: cachePrompt,
          messages: [
            { role: "system", content: "You are a careful agent for the dashboard test. ".repeat(20) },
            { role: "user", content: "Go on." },
          ],
        }),
      }).then((r) => r.text());
    await chat(true);
    await chat(false); // llama-server's chat endpoint honours this: the whole prompt is processed again
    const misses = async () =>
      ((await (await fetch(`${sidecar.url}/api/stats`)).json()) as { cache: { misses: object[] } }).cache.misses;
    await expect.poll(async () => (await misses()).length).toBe(before + 1);
    const [miss] = (await misses()) as { lostTokens: number; expectedTokens: number }[];
    const row = page.locator('[data-stat="misses"] tr').first().locator("td");
    await expect.poll(() => row.nth(1).textContent(), { timeout: 5000 }).toBe("cache turned off");
    expect(await row.nth(2).textContent()).toBe("cache_prompt: false");
    expect(await row.nth(3).textContent()).toBe(
      `${humanCount(miss?.lostTokens ?? Number.NaN)} of ${humanCount(miss?.expectedTokens ?? Number.NaN)}`,
    );
    expect(await page.locator('[data-stat="misses-empty"]').isVisible()).toBe(false);
    await page.screenshot({ path: `${SHOTS}dashboard-cache-miss.png`, fullPage: true });
    await page.close();
  });

  it("lists today's sessions from the request log, and shows a session's turns as bars with its miss marked", async () => {
    const session = `dash-${Date.now()}`;
    const system = `You are a careful agent for the sessions view. ${"Keep to the plan. ".repeat(30)}`;
    const turn = (messages: { role: string; content: string }[]) =>
      fetch(`${sidecar.url}/v1/messages`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-claude-code-session-id": session,
          "user-agent": "claude-cli/2.1.197 (external, cli)",
        },
        body: JSON.stringify({ model: "tiny", max_tokens: 8, stream: true, system, messages }),
      }).then((r) => r.text());
    const first = { role: "user", content: `Read the file. ${"Then fix what is wrong in it. ".repeat(20)}` };
    await turn([first]);
    await turn([first, { role: "assistant", content: "Done." }, { role: "user", content: "Now the tests." }]);
    // An earlier message edited: the prompt changes before its end, and the cache's prefix is lost from there.
    const edited = { ...first, content: `Read the other file. ${first.content}` };
    await turn([edited, { role: "assistant", content: "Done." }, { role: "user", content: "Now the tests." }]);
    const page = await open({ width: 1280, height: 1400 });
    const row = page.locator(`[data-stat="sessions"] tr[data-session="${session}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.locator("td").nth(2).textContent()).toBe("3");
    await row.click();
    const turns = page.locator('[data-stat="session-report"] .turn');
    await expect.poll(() => turns.count(), { timeout: 10_000 }).toBe(3);
    expect(await turns.nth(2).locator(".turn-note").textContent()).toMatch(/^miss: history_edited at messages\[0\]/);
    expect(await turns.nth(2).locator(".piece.lost").count()).toBe(1);
    expect(await page.locator(".session-summary").textContent()).toMatch(
      /^3 turns over .*1 cache miss \(history_edited\)/,
    );
    expect(await page.locator(".context-line polyline").getAttribute("points")).toMatch(/^0,[\d.]+ 50,[\d.]+ 100,/);
    await page.locator('[data-stat="sessions-card"]').screenshot({ path: `${SHOTS}dashboard-session.png` });
    // This sidecar keeps no content: a turn clicked says how to have it.
    await turns.nth(2).click();
    await expect
      .poll(() => page.locator('[data-stat="turn-content"]').textContent(), { timeout: 5000 })
      .toMatch(/No captured content for this turn: start the sidecar with --capture-content/);
    await page.close();
  });

  it("shows the agent's side of a session: its tools and the wait for the person between the model's turns", async () => {
    // A report as the sidecar builds it (the real sessionReport) from a Claude Code session's rows and telemetry:
    // a Bash call of 6 s after turn 1, a Read after turn 2, then 20 s of the person reading before turn 3.
    const at = Date.now() - 60_000;
    const row = (i: number, startedAt: number, durationMs: number, over: Partial<LogRow> = {}): LogRow => ({
      id: `agent-${i}`,
      startedAt,
      endedAt: startedAt + durationMs,
      session: "agent-demo",
      client: "claude-code",
      model: "qwen3-coder",
      route: "/v1/messages",
      outcome: "ok",
      status: 200,
      stream: true,
      prefill: 900,
      cached: 8000 * i,
      generated: 120,
      nCtx: 32768,
      ttftMs: 1500,
      queueMs: 20,
      durationMs,
      judged: true,
      ...over,
    });
    const rows = [
      row(1, at, 4000),
      row(2, at + 10_200, 3500),
      row(3, at + 34_000, 9000, {
        prefill: 9000,
        cached: 0,
        missCause: "system_changed",
        lostPrefillMs: 5000,
        ttftMs: 7000,
      }),
    ];
    const ev = (
      id: string,
      kind: AgentEvent["kind"],
      start: number,
      durationMs?: number,
      name?: string,
    ): AgentEvent => ({
      id,
      session: "agent-demo",
      kind,
      at: start,
      durationMs,
      name,
      outcome: "success",
    });
    const events = [
      ev("a", "tool", at + 4100, 6000, "Bash"),
      ev("b", "tool", at + 13_800, 200, "Read"),
      ev("c", "prompt", at + 33_900),
    ];
    const report = sessionReport("agent-demo", rows, events);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    await page.route("**/api/sessions?*", (r) =>
      r.fulfill({
        json: {
          sessions: [
            {
              id: "agent-demo",
              startedAt: at,
              endedAt: at + 43_000,
              clients: ["claude-code"],
              models: ["qwen3-coder"],
              requests: 3,
              prefill: 10_800,
              cached: 24_000,
              generated: 360,
              misses: 1,
              lostPrefillMs: 5000,
              errors: 0,
            },
          ],
        },
      }),
    );
    await page.route("**/api/sessions/agent-demo", (r) => r.fulfill({ json: { session: "agent-demo", report } }));
    await page.goto(`${sidecar.url}/dashboard`);
    await page.waitForSelector("body[data-ready=true]");
    await page.locator('[data-stat="sessions"] tr[data-session="agent-demo"]').click();
    const turns = page.locator('[data-stat="session-report"] .turn');
    await expect.poll(() => turns.count(), { timeout: 10_000 }).toBe(3);
    expect(await turns.nth(1).locator(".piece.tool").getAttribute("title")).toBe("the agent's tool Bash: 6.0 s");
    expect(await turns.nth(2).locator(".piece.person").getAttribute("title")).toMatch(/^waiting for the person: 19/);
    expect(await turns.nth(1).locator(".turn-note").textContent()).toContain("after Bash");
    expect(await page.locator(".agent-line").textContent()).toBe(
      "the agent reported 1 prompt(s), 0 API call(s) · tools: Bash ×1 6.0 s, Read ×1 200 ms",
    );
    expect(await page.locator(".session-summary").textContent()).toMatch(
      /in tools \(Bash 14%\), 46% waiting for the person/,
    );
    await page.locator('[data-stat="sessions-card"]').screenshot({ path: `${SHOTS}dashboard-session-agent.png` });
    await page.close();
  });

  it("shows the GPU tile where the sidecar reads a GPU: memory bar, utilisation, watts, heat, a throttling badge", async () => {
    const state = join(mkdtempSync(join(tmpdir(), "fake-gpu-")), "state.json");
    const gpu = (index: number, over: Record<string, unknown>) => nvidiaGpu({ index, uuid: `GPU-${index}`, ...over });
    writeFileSync(
      state,
      JSON.stringify({
        gpus: [
          gpu(0, {}),
          gpu(1, { "temperature.gpu": 88, "clocks.current.sm": 1410, "clocks_throttle_reasons.active": "0x60" }),
        ],
        apps: [{ gpu_uuid: "GPU-1", pid: 9, process_name: "python3", used_memory: 8192 }],
      }),
    );
    const withGpu = await startTestSidecar(llama.url, [], { runTool: nvidiaStandIn(state) });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      await page.goto(`${withGpu.url}/dashboard`);
      await page.waitForSelector("body[data-ready=true]");
      const rows = page.locator('[data-stat="gpus"] .gpu-row');
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
      expect(await rows.nth(0).textContent()).toMatch(
        /0 · NVIDIA L40.*30\.0 GiB \/ 48\.0 GiB.*97%.*281 \/ 300 W.*71 °C/,
      );
      expect(await rows.nth(0).locator(".badge.throttled").count()).toBe(0);
      expect(await rows.nth(1).locator(".badge.throttled").getAttribute("title")).toBe("sw_thermal, hw_thermal");
      expect(await rows.nth(1).locator(".mem-foreign").getAttribute("style")).toMatch(/width: 16\.\d+%/);
      await page.locator('[data-stat="gpu-card"]').screenshot({ path: `${SHOTS}dashboard-gpu.png` });
      await page.close();
    } finally {
      await withGpu.close();
    }
    // The other sidecar reads no GPU: no tile.
    const page = await open();
    expect(await page.locator('[data-stat="gpu-card"]').isHidden()).toBe(true);
    await page.close();
  });

  it("logged no console errors on any page", () => {
    expect(consoleErrors).toEqual([]);
  });
});
