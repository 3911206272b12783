// llama-swap in front of real llama-servers (a faithful fake of it, test/support/llama-swap.ts), behind the sidecar
// set up with --upstream alone: each model its own unit, routed by name and alias, swaps counted and timed apart
// from prefill, and each model's totals exact through being swapped out and back in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordRow } from "../../src/record/request-record.js";
import type { StatsView } from "../../src/stats/views.js";
import { type LlamaSwap, startLlamaSwap } from "../support/llama-swap.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { until } from "../support/until.js";

let swap: LlamaSwap;
let sidecar: TestSidecar;

const SERVER = ["--parallel", "1", "--metrics", "--slots", "--threads", "1", "--jinja"];

beforeAll(async () => {
  swap = await startLlamaSwap({
    qwen: { args: ["-c", "2048", ...SERVER], aliases: ["gpt-4o-mini"] },
    llama: { args: ["-c", "1024", ...SERVER] },
  });
  sidecar = await startTestSidecar(swap.url, ["--health-interval", "0.5", "--scrape-interval", "30"]);
}, 60_000);
afterAll(async () => {
  await sidecar?.close();
  await swap?.close();
});

async function ask(model: string): Promise<RecordRow> {
  sidecar.clearRecords();
  const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content: `hello ${model}` }] }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.text();
  const [r] = await sidecar.waitForRecords(1);
  return r as RecordRow;
}

/** A model's llama-server's own counters, read from it directly while it runs. */
async function own(model: string) {
  const text = await (await fetch(`http://127.0.0.1:${swap.portOf(model)}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^llamacpp:${name} (\\S+)`, "m").exec(text)?.[1] ?? 0);
  return { prompt: value("prompt_tokens_total"), predicted: value("tokens_predicted_total") };
}

describe("llama-swap as an upstream", () => {
  it("is seen as one upstream of two models, none running yet", async () => {
    expect(sidecar.banner, sidecar.banner).toMatch(
      /default llama\s+http:\/\/127\.0\.0\.1:\d+\s+unloaded; loads on its first request/,
    );
    expect(sidecar.banner).toMatch(/default qwen\s+/);
    const s = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as StatsView;
    expect(s.upstreams.map((u) => [u.routerModel, u.modelState])).toEqual([
      ["llama", "unloaded"],
      ["qwen", "unloaded"],
    ]);
    expect(swap.starts).toEqual({});
  });

  it("routes by name and alias, counts and times each swap apart, and keeps each model's totals exact", async () => {
    const first = await ask("qwen");
    expect(first).toMatchObject({ upstreamModel: "qwen", modelLoaded: true });
    expect(first.modelLoadMs).toBeGreaterThan(0);
    const viaAlias = await ask("gpt-4o-mini");
    expect(viaAlias).toMatchObject({ upstreamModel: "qwen" });
    expect(viaAlias.modelLoadMs).toBeUndefined();
    // At once, before any scrape a finished request sets off: only the scrape before the swap sees these.
    const qwenFirst = await own("qwen");
    const toLlama = await ask("llama");
    expect(toLlama).toMatchObject({ upstreamModel: "llama", modelLoaded: true });
    const llama = await own("llama");
    expect(await ask("qwen")).toMatchObject({ modelLoaded: true });
    const qwenSecond = await own("qwen");
    expect(swap.starts).toEqual({ qwen: 2, llama: 1 });

    const life = (model: string) => sidecar.stats.lifetime(`default|${model}`);
    const truth = {
      prompt: qwenFirst.prompt + qwenSecond.prompt,
      predicted: qwenFirst.predicted + qwenSecond.predicted,
    };
    sidecar.running.fleet.units.find((u) => u.model === "qwen")?.scraper.requestSoon(0);
    await until("qwen's totals", () => life("qwen").tokens_predicted_total === truth.predicted);
    expect(life("qwen")).toMatchObject({ prompt_tokens_total: truth.prompt, tokens_predicted_total: truth.predicted });
    expect(life("llama")).toMatchObject({ prompt_tokens_total: llama.prompt, tokens_predicted_total: llama.predicted });
    expect(sidecar.stats.doc.upstreams["default|qwen"]?.restartCount).toBe(1);
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/llama_sidecar_model_load_seconds_count\{upstream="default",model="qwen"\} 2/);
    expect(metrics).toMatch(/llama_sidecar_model_load_seconds_count\{upstream="default",model="llama"\} 1/);
  });

  it("names llama-swap's models and aliases when asked for one it does not have", async () => {
    const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "mistral", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("model_not_found");
    expect(body.error.message).toMatch(/models: llama, qwen, gpt-4o-mini/);
  });
});
