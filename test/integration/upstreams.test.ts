// Several real llama-servers behind one sidecar, set up from a config file: routing by model and alias, the union
// of their models, conversations kept on the server holding their prefix, failover when one dies, and each
// server's lifetime totals kept exactly, through its death and return.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordRow } from "../../src/record/request-record.js";
import type { StatsView } from "../../src/stats/views.js";
import { idleCounters, type LlamaCounters } from "../support/llama-metrics.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, expectSpanAttributes } from "../support/spans.js";

let a: LlamaServer;
let b: LlamaServer;
let small: LlamaServer;
let sidecar: TestSidecar;

// One slot each and no RAM prompt cache: a prefix survives only in the slot that last ran it.
const LLAMA = { parallel: 1, ctx: 4096, extraArgs: ["--cache-ram", "0"] };

beforeAll(async () => {
  [a, b, small] = await Promise.all([
    startLlamaServer(LLAMA),
    startLlamaServer(LLAMA),
    startLlamaServer({ parallel: 1, ctx: 2048 }),
  ]);
  const path = join(mkdtempSync(join(tmpdir(), "sidecar-upstreams-")), "sidecar.yaml");
  writeFileSync(
    path,
    [
      "upstreams:",
      `  - { name: a, url: "${a.url}" }`,
      `  - { name: b, url: "${b.url}" }`,
      `  - { name: small, url: "${small.url}", models: [small] }`,
      "aliases:",
      '  "claude-haiku-*": small',
      '  "claude-*": tiny',
      "",
    ].join("\n"),
  );
  sidecar = await startTestSidecar(undefined, ["--config", path, "--health-interval", "2", "--scrape-interval", "1"]);
}, 120_000);
afterAll(async () => {
  await sidecar?.close();
  await Promise.all([a?.stop(), b?.stop(), small?.stop()]);
});

const SYSTEM = "You are a careful coding agent working in a test repository. Answer briefly and precisely. ".repeat(20);

async function chat(messages: { role: string; content: string }[], model = "tiny"): Promise<string> {
  const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, max_tokens: 4, temperature: 0, messages }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  return body.choices[0]?.message.content ?? "";
}

/** The record of the next request sent by `send`. */
async function recordOf(send: () => Promise<unknown>): Promise<RecordRow> {
  sidecar.clearRecords();
  await send();
  const [r] = await sidecar.waitForRecords(1);
  return r as RecordRow;
}

const apiStats = async () => (await (await fetch(`${sidecar.url}/api/stats`)).json()) as StatsView;

function lifetimeOf(stats: StatsView, name: string) {
  const u = stats.upstreams.find((x) => x.name === name);
  const c = u?.lifetime.counters ?? {};
  return { prompt: c.prompt_tokens_total, predicted: c.tokens_predicted_total, restarts: u?.restarts.count };
}

/** Waits until the sidecar's totals for upstream `name` equal `truth` (scrapes follow requests within ~1 s). */
async function totalsReach(name: string, truth: { prompt: number; predicted: number }): Promise<void> {
  const deadline = Date.now() + 15_000;
  let seen = lifetimeOf(await apiStats(), name);
  while ((seen.prompt !== truth.prompt || seen.predicted !== truth.predicted) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    seen = lifetimeOf(await apiStats(), name);
  }
  expect({ prompt: seen.prompt, predicted: seen.predicted }).toEqual(truth);
}

const sum = (x: LlamaCounters, y: LlamaCounters) => ({
  prompt: x.prompt + y.prompt,
  predicted: x.predicted + y.predicted,
});
const only = (x: LlamaCounters) => ({ prompt: x.prompt, predicted: x.predicted });

describe("several llama-servers from a config file", () => {
  it("routes by model and alias, lists every model once, and names an unknown model in each client's protocol", async () => {
    const models = (await (await fetch(`${sidecar.url}/v1/models`)).json()) as {
      data: { id: string; upstreams?: string[] }[];
    };
    expect(models.data.find((m) => m.id === "tiny")?.upstreams).toEqual(["a", "b"]);
    expect(models.data.find((m) => m.id === "small")?.upstreams).toEqual(["small"]);

    const openai = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const err = await openai.chat.completions
      .create({ model: "gpt-5", messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
    expect((err as Error).message).toMatch(
      /model "gpt-5" is not served here; models: tiny, small; aliases: claude-haiku-\* -> small/,
    );

    const anthropic = new Anthropic({ baseURL: sidecar.url, apiKey: "unused", maxRetries: 0 });
    const refused = await anthropic.messages
      .create({ model: "gemini-3", max_tokens: 4, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.NotFoundError);
    expect((refused as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({
      type: "error",
      error: { type: "not_found_error" },
    });

    const haiku = await recordOf(() =>
      anthropic.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: 4,
        messages: [{ role: "user", content: "hi" }],
      }),
    );
    expect(haiku).toMatchObject({ upstream: "small", aliasedTo: "small", status: 200 });
    const sonnet = await recordOf(() =>
      anthropic.messages.create({
        model: "claude-sonnet-4-6",
        max_tokens: 4,
        messages: [{ role: "user", content: "hi" }],
      }),
    );
    expect(sonnet).toMatchObject({ aliasedTo: "tiny", status: 200 });
    expect(["a", "b"]).toContain(sonnet.upstream);
    expectSpanAttributes(sidecar.spans().at(-1), { [ATTR.UPSTREAM]: sonnet.upstream, [ATTR.ALIASED_TO]: "tiny" });

    const health = (await (await fetch(`${sidecar.url}/healthz`)).json()) as { upstreams: Record<string, string> };
    expect(health.upstreams).toEqual({ a: "online", b: "online", small: "online" });
  });

  it("keeps each of two alternating conversations on the server holding its prefix: reuse >= 95% from turn 2", async () => {
    const conversations = ["Fix the failing parser test.", "Explain the build script."].map((first) => [
      { role: "system", content: SYSTEM },
      { role: "user", content: first },
    ]);
    const turns: RecordRow[][] = [[], []];
    for (let turn = 0; turn < 4; turn++) {
      for (const [i, messages] of conversations.entries()) {
        const r = await recordOf(async () => {
          const reply = await chat(messages);
          messages.push({ role: "assistant", content: reply }, { role: "user", content: `Step ${turn + 1}: go on.` });
        });
        turns[i]?.push(r);
      }
    }
    const [one = [], two = []] = turns;
    const home = (rs: RecordRow[]) => [...new Set(rs.map((r) => r.upstream))];
    expect(home(one)).toHaveLength(1);
    expect(home(two)).toHaveLength(1);
    expect(home(one)[0]).not.toBe(home(two)[0]);
    for (const r of [...one.slice(1), ...two.slice(1)]) {
      const reuse = (r.cachedTokens ?? 0) / ((r.cachedTokens ?? 0) + (r.prefillTokens ?? 0));
      expect(reuse, JSON.stringify(r)).toBeGreaterThanOrEqual(0.95);
    }
  });

  it("fails over when a server dies, answers every request once, keeps both totals exact, and takes it back", async () => {
    const ask = (n: number, tag: string) =>
      Promise.all(
        Array.from({ length: n }, (_, i) => chat([{ role: "user", content: `${tag} request ${i}: say hi` }])),
      );
    await ask(4, "warm");
    const bBefore = await idleCounters(b.url);
    await totalsReach("b", only(bBefore));
    await b.stop("SIGKILL");

    sidecar.clearRecords();
    await ask(6, "while b is down");
    const during = await sidecar.waitForRecords(6);
    expect(during).toHaveLength(6);
    expect(during.every((r) => r.status === 200 && r.upstream === "a")).toBe(true);
    // The first request that went to b before its death was noticed moved on to a, before any byte went back.
    // (Six at once on one-slot servers: the second goes to b as the less loaded, whatever the first did.)
    const moved = during.filter((r) => r.failedOver);
    expect(moved.length).toBeGreaterThan(0);
    for (const r of moved) expect(r.failedOver).toEqual(["b"]);
    const movedSpan = sidecar.spans().find((span) => span.attributes[ATTR.FAILED_OVER] !== undefined);
    expect(movedSpan?.attributes[ATTR.FAILED_OVER]).toEqual(["b"]);

    b = await startLlamaServer({ ...LLAMA, port: b.port });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const health = (await (await fetch(`${sidecar.url}/healthz`)).json()) as { upstreams: Record<string, string> };
      if (health.upstreams.b === "online") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    sidecar.clearRecords();
    await ask(2, "b is back");
    const back = await sidecar.waitForRecords(2);
    expect(back.map((r) => r.upstream)).toContain("b");

    await totalsReach("a", only(await idleCounters(a.url)));
    await totalsReach("b", sum(bBefore, await idleCounters(b.url)));
    expect(lifetimeOf(await apiStats(), "b").restarts).toBe(1);
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/llama_sidecar_upstream_up\{upstream="b"\} 1/);
    expect(metrics).toMatch(/llama_server_tokens_predicted_total\{upstream="a",model="tiny"\} \d+/);
    expect(metrics).toMatch(/llama_server_restarts_total\{upstream="b",model="tiny"\} 1/);
    // The sidecar's own request series name the upstream that answered each request.
    for (const name of ["a", "b"]) {
      expect(metrics).toMatch(
        new RegExp(
          `llama_sidecar_requests_total\\{route="/v1/chat/completions",model="tiny",client="other",outcome="ok",upstream="${name}"\\} \\d+`,
        ),
      );
    }
  });
});
