// Lifetime totals across restarts of llama-server and of the sidecar, on both /metrics formats.
import { afterAll, describe, expect, it } from "vitest";
import { apiStats, startCli } from "../support/cli-process.js";
import { type FakeCounters, startFakeLlama } from "../support/fake-llama.js";
import { idleCounters, type LlamaCounters } from "../support/llama-metrics.js";
import { freePort, type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { until } from "../support/until.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function chat(url: string, text: string, maxTokens = 8): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: text }],
        max_tokens: maxTokens,
        stream: true,
      }),
    });
    const body = await res.text();
    if (res.status !== 200 && process.env.DEBUG_CHAT) console.error("chat failed", res.status, body.slice(0, 300));
    return res.status === 200;
  } catch (err) {
    if (process.env.DEBUG_CHAT) console.error("chat threw", err);
    return false;
  }
}

const KEYS = ["prompt_tokens_total", "prompt_tokens_cached_total", "tokens_predicted_total"] as const;
const asCounters = (c: LlamaCounters) => ({
  prompt_tokens_total: c.prompt,
  prompt_tokens_cached_total: c.cached,
  tokens_predicted_total: c.predicted,
});

function add(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function pick(c: Record<string, number>, keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, c[k] ?? 0]));
}

describe("llama-server restarts (real server, with Process-Start-Time-Unix and the cached counter)", () => {
  it("keeps lifetime totals equal to the sum of each incarnation's final counters, over 5 restarts", async () => {
    const port = await freePort();
    let llama: LlamaServer = await startLlamaServer({ port });
    const sidecar: TestSidecar = await startTestSidecar(llama.url, ["--scrape-interval", "1"]);
    cleanups.push(() => sidecar.close());
    let banked: Record<string, number> = {};
    try {
      for (let incarnation = 0; incarnation < 6; incarnation++) {
        for (let i = 0; i < 3; i++) expect(await chat(sidecar.url, `turn ${incarnation}.${i} `.repeat(5))).toBe(true);
        const final = asCounters(await idleCounters(llama.url));
        const expected = add(banked, final);
        await until("the sidecar to scrape the final counters", () => {
          const life = pick(sidecar.stats.lifetime(), KEYS);
          return KEYS.every((k) => life[k] === expected[k]);
        });
        banked = expected;
        if (incarnation < 5) {
          await llama.stop("SIGKILL");
          llama = await startLlamaServer({ port });
        }
      }
      expect(pick(sidecar.stats.lifetime(), KEYS)).toEqual(banked);
      expect(sidecar.stats.doc.upstreams.default?.restartCount).toBe(5);
      const stats = await apiStats(sidecar.url);
      expect(stats.upstream.restarts.count).toBe(5);
      expect(stats.upstream.scrape.newFormat).toBe(true);
      // The model label is the model llama-server has loaded (its alias here), known once the restarted server's
      // props are read again: until then the series is labelled model="".
      const predicted = `llama_server_tokens_predicted_total{upstream="default",model="tiny"} ${banked.tokens_predicted_total}`;
      await until("the restarted server's model label", async () => (await sidecar.metrics()).includes(predicted));
      const metrics = await sidecar.metrics();
      expect(metrics).toContain('llama_server_restarts_total{upstream="default",model="tiny"} 5');
    } finally {
      await llama.stop();
    }
  });
});

describe("llama-server restarts (older format: no header, no cached counter)", () => {
  it("detects restarts from counters going down, or a model load seen in between", async () => {
    const fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    const zero: FakeCounters = {
      prompt_tokens_total: 0,
      prompt_seconds_total: 0,
      tokens_predicted_total: 0,
      tokens_predicted_seconds_total: 0,
      n_decode_total: 0,
    };
    fake.counters = { ...zero };
    const sidecar = await startTestSidecar(fake.url, ["--scrape-interval", "1", "--health-interval", "0.2"]);
    cleanups.push(() => sidecar.close());
    const keys = Object.keys(zero);
    let banked: Record<string, number> = {};
    for (let incarnation = 0; incarnation < 6; incarnation++) {
      const final = {
        prompt_tokens_total: 100 + incarnation * 37,
        prompt_seconds_total: 0.5,
        tokens_predicted_total: 50 + incarnation * 11,
        tokens_predicted_seconds_total: 0.25,
        n_decode_total: 60 + incarnation,
      };
      fake.counters = final;
      sidecar.running.scraper.requestSoon(0);
      const expected = add(banked, final);
      await until(
        "the scrape",
        () => sidecar.stats.lifetime().tokens_predicted_total === expected.tokens_predicted_total,
      );
      banked = expected;
      if (incarnation === 5) break;
      if (incarnation % 2 === 0) {
        // A plain restart: counters start again from zero.
        fake.counters = { ...zero, prompt_tokens_total: 3, tokens_predicted_total: 1 };
        sidecar.running.scraper.requestSoon(0);
        await until(
          "the restart to be seen",
          () => sidecar.stats.doc.upstreams.default?.restartCount === incarnation + 1,
        );
      } else {
        // A restart whose new counters already exceed the old ones: only the model load in between tells.
        fake.state = "loading";
        await until("the monitor to see the load", () => sidecar.running.monitor.status.state === "loading");
        fake.state = "online";
        await until("online again", () => sidecar.running.monitor.status.state === "online");
        // Both scrapes (the one the return to online triggers, and this one) must see the same incarnation.
        await sidecar.running.scraper.scrape();
        expect(sidecar.stats.doc.upstreams.default?.restartCount).toBe(incarnation + 1);
      }
    }
    const life = pick(sidecar.stats.lifetime(), keys);
    for (const k of keys) expect(life[k]).toBeCloseTo(banked[k] ?? Number.NaN, 9);
    expect(sidecar.stats.doc.upstreams.default?.restartCount).toBe(5);
    expect(life.prompt_tokens_cached_total).toBeUndefined();
    expect((await apiStats(sidecar.url)).upstream.scrape.newFormat).toBe(false);
  });
});

// Ten crashes, each a fresh sidecar process started through tsx: a minute on a quiet machine, more on a busy one.
describe("sidecar crashes (SIGKILL) while llama-server keeps running", { timeout: 300_000 }, () => {
  it("never loses or double-counts llama-server's totals, and its own ledger never goes down", async () => {
    const llama = await startLlamaServer();
    cleanups.push(() => llama.stop());
    const dataDir = `/tmp/llama-sidecar-kill-${Date.now()}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ["--port", String(port), "--upstream", llama.url, "--data-dir", dataDir, "--scrape-interval", "1"];
    let cli = startCli(args);
    await cli.waitFor(/Proxy URL/);
    cleanups.push(() => cli.stop());

    const completed: number[] = [];
    let traffic = true;
    const loop = (async () => {
      let i = 0;
      while (traffic) {
        if (await chat(url, `request ${i++}`, 4)) completed.push(Date.now());
        else await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const kills: number[] = [];
    let previous = await apiStats(url);
    for (let k = 0; k < 10; k++) {
      // Past the one second of ledger (b) at risk, so the reading taken at the last start is on disk.
      await new Promise((r) => setTimeout(r, 1100 + Math.random() * 900));
      kills.push(Date.now());
      await cli.stop("SIGKILL");
      cli = startCli(args);
      await cli.waitFor(/Proxy URL/);
      const now = await apiStats(url);
      for (const key of KEYS) {
        expect(now.upstream.lifetime.counters[key] ?? 0).toBeGreaterThanOrEqual(
          previous.upstream.lifetime.counters[key] ?? 0,
        );
      }
      expect(now.sidecar.totals.requests).toBeGreaterThanOrEqual(previous.sidecar.totals.requests);
      previous = now;
    }
    traffic = false;
    await loop;
    const truth = asCounters(await idleCounters(llama.url));
    await until("a scrape of the final counters", async () => {
      const s = await apiStats(url);
      return s.upstream.lifetime.counters.tokens_predicted_total === truth.tokens_predicted_total;
    });
    const final = await apiStats(url);
    expect(pick(final.upstream.lifetime.counters, KEYS)).toEqual(truth);
    expect(final.upstream.restarts.count).toBe(0);
    // Ledger (b) risks at most one second of requests per crash, and never counts one twice.
    const atRisk = completed.filter((t) => kills.some((kill) => t <= kill && kill - t < 1100)).length;
    expect(final.sidecar.totals.requests).toBeLessThanOrEqual(completed.length + kills.length);
    expect(final.sidecar.totals.requests).toBeGreaterThanOrEqual(completed.length - atRisk);
    expect(completed.length).toBeGreaterThan(20);
  });

  it("does the same against an older-format llama-server", async () => {
    const fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    fake.counters = {
      prompt_tokens_total: 10,
      prompt_seconds_total: 0.1,
      tokens_predicted_total: 5,
      tokens_predicted_seconds_total: 0.1,
      n_decode_total: 6,
    };
    const dataDir = `/tmp/llama-sidecar-kill-old-${Date.now()}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ["--port", String(port), "--upstream", fake.url, "--data-dir", dataDir, "--scrape-interval", "1"];
    let cli = startCli(args);
    await cli.waitFor(/Proxy URL/);
    cleanups.push(() => cli.stop());
    let previous = 0;
    for (let k = 0; k < 10; k++) {
      fake.counters.prompt_tokens_total += 17 + k;
      fake.counters.tokens_predicted_total += 3 + k;
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      await cli.stop("SIGKILL");
      cli = startCli(args);
      await cli.waitFor(/Proxy URL/);
      const now = (await apiStats(url)).upstream.lifetime.counters.tokens_predicted_total ?? 0;
      expect(now).toBeGreaterThanOrEqual(previous);
      previous = now;
    }
    const truth = fake.counters.tokens_predicted_total;
    await until(
      "the final scrape",
      async () => (await apiStats(url)).upstream.lifetime.counters.tokens_predicted_total === truth,
    );
    const final = await apiStats(url);
    expect(final.upstream.lifetime.counters.prompt_tokens_total).toBe(fake.counters.prompt_tokens_total);
    expect(final.upstream.restarts.count).toBe(0);
  });
});
