// A real llama-server in router mode (--models-dir, --models-preset) behind the sidecar, set up as a user would with
// --upstream alone: the tiny model under two names with different context sizes, loaded on demand. Each model is
// scraped, queued and counted on its own; loads are timed apart from prefill; totals stay exact through an unload
// and reload, and through the router unloading one model to make room for another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordRow } from "../../src/record/request-record.js";
import type { StatsView } from "../../src/stats/views.js";
import { type LlamaServer, startRouterServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, expectSpanAttributes } from "../support/spans.js";
import { until } from "../support/until.js";

let router: LlamaServer;
let sidecar: TestSidecar;

beforeAll(async () => {
  router = await startRouterServer({
    models: { "tiny-a": { ctx: 2048 }, "tiny-b": { ctx: 1024, alias: "tb" } },
    modelsMax: 2,
  });
  sidecar = await startTestSidecar(router.url, ["--health-interval", "0.5", "--scrape-interval", "1"]);
}, 60_000);
afterAll(async () => {
  await sidecar?.close();
  await router?.stop();
});

async function chat(model: string, content: string): Promise<void> {
  const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content }] }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.text();
}

const apiStats = async () => (await (await fetch(`${sidecar.url}/api/stats`)).json()) as StatsView;
const part = (s: StatsView, model: string) => s.upstreams.find((u) => u.routerModel === model);

/**
 * A child's own counters, read through the router without loading it. The router passes on its child's
 * "Connection: close" beside its own keep-alive, so a pooled connection may be gone: one more try on a fresh one.
 */
async function childCounters(model: string) {
  const url = `${router.url}/metrics?model=${model}&autoload=false`;
  const res = await fetch(url).catch(() => fetch(url));
  const text = await res.text();
  const value = (name: string) => Number(new RegExp(`^llamacpp:${name} (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    prompt: value("prompt_tokens_total"),
    predicted: value("tokens_predicted_total"),
    deferred: value("requests_deferred"),
  };
}

/** The sidecar's lifetime totals for a model equal `truth` (a scrape follows each request within about a second). */
async function totalsReach(model: string, truth: { prompt: number; predicted: number }): Promise<void> {
  const seen = async () => {
    const c = part(await apiStats(), model)?.lifetime.counters ?? {};
    return { prompt: c.prompt_tokens_total, predicted: c.tokens_predicted_total };
  };
  await until(`${model}'s totals`, async () => JSON.stringify(await seen()) === JSON.stringify(truth)).catch(async () =>
    expect(await seen()).toEqual(truth),
  );
}

describe("a router-mode llama-server", () => {
  it("is seen as one upstream of two models, each with its own context, before either is loaded", async () => {
    expect(sidecar.banner).toMatch(
      /default tiny-a\s+http:\/\/127\.0\.0\.1:\d+\s+unloaded; loads on its first request \(1 slot\(s\), n_ctx 2048\)/,
    );
    expect(sidecar.banner).toMatch(/default tiny-b\s+.*n_ctx 1024/);
    const s = await apiStats();
    expect(s.upstreams.map((u) => [u.routerModel, u.modelState, u.nCtx, u.totalSlots])).toEqual([
      ["tiny-a", "unloaded", 2048, 1],
      ["tiny-b", "unloaded", 1024, 1],
    ]);
    // Scraping never loaded a model.
    expect((await childCounters("tiny-a")).prompt).toBeNaN();
  });

  it("loads a model on demand and times the load apart from the request's prefill", async () => {
    sidecar.clearRecords();
    await chat("tiny-a", "hello");
    const [r] = (await sidecar.waitForRecords(1)) as RecordRow[];
    expect(r).toMatchObject({ upstream: "default", upstreamModel: "tiny-a", modelLoaded: true });
    expect(r?.modelLoadMs).toBeGreaterThan(0);
    expectSpanAttributes(sidecar.spans().at(-1), {
      [ATTR.UPSTREAM_MODEL]: "tiny-a",
      [ATTR.MODEL_LOAD_MS]: r?.modelLoadMs,
    });
    sidecar.clearRecords();
    await chat("tiny-a", "again");
    const [again] = (await sidecar.waitForRecords(1)) as RecordRow[];
    expect(again?.modelLoadMs).toBeUndefined();
    expect(await sidecar.metrics()).toMatch(
      /llama_sidecar_model_load_seconds_count\{upstream="default",model="tiny-a"\} 1/,
    );
  });

  it("runs both models at once, while each one-slot model never gets a second request", async () => {
    let both = 0;
    let most = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await apiStats();
        const a = part(s, "tiny-a")?.queue.active ?? 0;
        const b = part(s, "tiny-b")?.queue.active ?? 0;
        both = Math.max(both, Math.min(a, b));
        most = Math.max(most, a, b);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all([
      ...Array.from({ length: 4 }, (_, i) => chat("tiny-a", `a ${i}: ${"word ".repeat(200)}`)),
      ...Array.from({ length: 4 }, (_, i) => chat("tb", `b ${i}: ${"word ".repeat(150)}`)),
    ]);
    watching = false;
    await watcher;
    expect(both).toBe(1);
    expect(most).toBe(1);
    expect((await childCounters("tiny-a")).deferred).toBe(0);
    expect((await childCounters("tiny-b")).deferred).toBe(0);
    for (const model of ["tiny-a", "tiny-b"]) {
      const c = await childCounters(model);
      await totalsReach(model, { prompt: c.prompt, predicted: c.predicted });
    }
  });

  it("keeps each model's totals exact through an unload and a reload: the reload counts as that model's restart", async () => {
    const before = await childCounters("tiny-b");
    await totalsReach("tiny-b", { prompt: before.prompt, predicted: before.predicted });
    await fetch(`${router.url}/models/unload`, { method: "POST", body: JSON.stringify({ model: "tiny-b" }) });
    await until(
      "the sidecar to see tiny-b unloaded",
      async () => part(await apiStats(), "tiny-b")?.modelState === "unloaded",
    );
    sidecar.clearRecords();
    await chat("tb", "back again");
    const [r] = (await sidecar.waitForRecords(1)) as RecordRow[];
    expect(r).toMatchObject({ upstreamModel: "tiny-b", modelLoaded: true });
    const after = await childCounters("tiny-b");
    await totalsReach("tiny-b", {
      prompt: before.prompt + after.prompt,
      predicted: before.predicted + after.predicted,
    });
    expect(part(await apiStats(), "tiny-b")?.restarts.count).toBe(1);
    expect(part(await apiStats(), "tiny-a")?.restarts.count).toBe(0);
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/llama_server_restarts_total\{upstream="default",model="tiny-b"\} 1/);
    expect(metrics).toMatch(/llama_server_tokens_predicted_total\{upstream="default",model="tiny-a"\} \d+/);
  });

  it("names the router's models when asked for one it does not have, in the client's protocol", async () => {
    const res = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "nope", max_tokens: 4, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(body.error.message).toMatch(/model "nope" is not served here; models: tiny-a, tiny-b, tb/);
  });
});

describe("a router that holds one model at a time (--models-max 1)", () => {
  let one: LlamaServer;
  let s: TestSidecar;
  beforeAll(async () => {
    one = await startRouterServer({ models: { "tiny-a": { ctx: 2048 }, "tiny-b": { ctx: 1024 } }, modelsMax: 1 });
    s = await startTestSidecar(one.url, ["--health-interval", "0.5", "--scrape-interval", "30"]);
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await one?.stop();
  });

  const ask = async (model: string) => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content: `to ${model}` }] }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await res.text();
  };
  const own = async (model: string) => {
    const text = await (await fetch(`${one.url}/metrics?model=${model}&autoload=false`)).text();
    const value = (name: string) => Number(new RegExp(`^llamacpp:${name} (\\S+)`, "m").exec(text)?.[1] ?? 0);
    return { prompt: value("prompt_tokens_total"), predicted: value("tokens_predicted_total") };
  };

  it("reads a model's last counters before the router unloads it to load another: none lost, none twice", async () => {
    await ask("tiny-a");
    // At once, long before the scrape a finished request sets off: only the scrape before the swap can see these.
    const firstA = await own("tiny-a");
    await ask("tiny-b");
    const b = await own("tiny-b");
    await ask("tiny-a");
    const secondA = await own("tiny-a");
    const truthA = { prompt: firstA.prompt + secondA.prompt, predicted: firstA.predicted + secondA.predicted };
    const life = (model: string) => s.stats.lifetime(`default|${model}`);
    await until("the totals", async () => life("tiny-a").tokens_predicted_total === truthA.predicted);
    expect(life("tiny-a")).toMatchObject({
      prompt_tokens_total: truthA.prompt,
      tokens_predicted_total: truthA.predicted,
    });
    await until("tiny-b's totals", async () => life("tiny-b").tokens_predicted_total === b.predicted);
    expect(life("tiny-b")).toMatchObject({ prompt_tokens_total: b.prompt });
    expect(s.stats.doc.upstreams["default|tiny-a"]?.restartCount).toBe(1);
  });
});
