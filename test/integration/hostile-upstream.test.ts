// A llama-server that sends bad numbers (negative, NaN, Infinity, strings, absurd) in timings, usage or /metrics:
// each is left out and counted, the lifetime totals stay exact, and the stats file stays valid across a restart.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStats } from "../../src/stats/service.js";
import { METRIC_PREFIX } from "../../src/telemetry/instruments.js";
import { type FakeLlama, fixture, startFakeLlama } from "../support/fake-llama.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR } from "../support/spans.js";

let fake: FakeLlama;
let sidecar: TestSidecar;

beforeAll(async () => {
  fake = await startFakeLlama();
  sidecar = await startTestSidecar(fake.url);
});
afterAll(async () => {
  await sidecar?.close();
  await fake?.close();
});

const PROMPT_N = /"prompt_n":\d+/;
const PROMPT_TOKENS = /"prompt_tokens":\d+/;
const promptN = (name: string) => Number(PROMPT_N.exec(fixture(name).body)?.[0].split(":")[1]);
/** The prefill of one whole and one streamed answer, as the recording has them. */
const good = promptN("post-v1-chat-completions") + promptN("post-v1-chat-completions-stream");

function chat(stream: boolean) {
  return fetch(`${sidecar.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", stream, messages: [{ role: "user", content: "hi" }] }),
  }).then((r) => r.text());
}

/** The value of one series on the sidecar's /metrics (summed over label sets matching `labels`). */
async function metric(name: string, labels = ""): Promise<number> {
  const text = await sidecar.metrics();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    if (labels && !line.includes(labels)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

const BAD_VALUES = ["-40", "1e999", '"forty"', "1e300", "4.5", "null"];

describe("bad numbers from llama-server", () => {
  it("leaves each bad prompt_n out of every total and counts it by field, streamed and whole", async () => {
    await chat(false);
    await chat(true);
    await sidecar.waitForRecords(2);
    const promptTotal = `${METRIC_PREFIX}_prompt_tokens_total`;
    expect(await metric(promptTotal)).toBe(good);
    for (const bad of BAD_VALUES) {
      // The whole answer also reports usage, from which the prefill would be read in timings' place: both go bad.
      fake.transform = (body) =>
        body.replace(PROMPT_N, `"prompt_n":${bad}`).replace(PROMPT_TOKENS, `"prompt_tokens":${bad}`);
      await chat(false);
      await chat(true);
    }
    fake.transform = undefined;
    await sidecar.waitForRecords(2 + 2 * BAD_VALUES.length);
    // null is "absent", not invalid; every other bad value counted once per response that held it.
    const invalid = `${METRIC_PREFIX}_upstream_invalid_values_total`;
    expect(await metric(invalid, 'field="timings.prompt_n"')).toBe(2 * (BAD_VALUES.length - 1));
    expect(await metric(invalid, 'field="usage.prompt_tokens"')).toBe(BAD_VALUES.length - 1);
    expect(await metric(promptTotal)).toBe(good);
    const bad = sidecar.records.filter((r) => r.invalidFields?.includes("timings.prompt_n"));
    expect(bad).toHaveLength(2 * (BAD_VALUES.length - 1));
    expect(bad.every((r) => r.prefillTokens === undefined)).toBe(true);
    const spans = sidecar.spans().filter((s) => s.attributes[ATTR.UPSTREAM_INVALID_FIELDS] !== undefined);
    expect(spans.map((s) => s.attributes[ATTR.UPSTREAM_INVALID_FIELDS])).toContainEqual(["timings.prompt_n"]);
  });

  it("a NaN (which is not JSON) makes the whole event unreadable: nothing of it is counted", async () => {
    sidecar.clearRecords();
    fake.transform = (body) => body.replace(PROMPT_N, '"prompt_n":NaN');
    await chat(true);
    fake.transform = undefined;
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.prefillTokens).toBeUndefined();
    expect(await metric(`${METRIC_PREFIX}_prompt_tokens_total`)).toBe(good);
  });

  it("drops negative and non-numeric usage counts in an Anthropic answer", async () => {
    sidecar.clearRecords();
    fake.transform = (body) =>
      body
        .replace(/"cache_read_input_tokens":\d+/, '"cache_read_input_tokens":-3')
        .replace(/"input_tokens":\d+/, '"input_tokens":"1"');
    const res = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
    });
    await res.text();
    fake.transform = undefined;
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.cachedTokens).toBeUndefined();
    expect(r?.prefillTokens).toBeUndefined();
    expect(r?.invalidFields).toEqual(["usage.input_tokens", "usage.cache_read_input_tokens"]);
  });

  it("keeps /metrics rendering, and the lifetime totals whole, when llama-server's own counters go bad", async () => {
    const metricsText = fixture("get-metrics").body;
    const before = await metric("llama_server_prompt_tokens_total");
    fake.rawMetrics = metricsText.replace(/^llamacpp:prompt_tokens_total .*$/m, "llamacpp:prompt_tokens_total -50");
    await sidecar.running.scraper.scrape();
    const res = await fetch(`${sidecar.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await metric("llama_server_prompt_tokens_total")).toBe(before);
    expect(
      await metric(`${METRIC_PREFIX}_upstream_invalid_values_total`, 'field="metrics.prompt_tokens_total"'),
    ).toBeGreaterThanOrEqual(1);
    fake.rawMetrics = metricsText.replace(
      /^llamacpp:tokens_predicted_total .*$/m,
      "llamacpp:tokens_predicted_total NaN",
    );
    await sidecar.running.scraper.scrape();
    expect((await fetch(`${sidecar.url}/metrics`)).status).toBe(200);
    fake.rawMetrics = undefined;
    await sidecar.running.scraper.scrape();
  });

  it("leaves a stats file that the next start reads whole: no total moved aside", async () => {
    const totals = sidecar.stats.totals();
    await sidecar.running.records.flush();
    await sidecar.stats.flush();
    const lines: string[] = [];
    const again = await openStats(
      sidecar.config.dataDir,
      pino({ level: "warn" }, { write: (s: string) => lines.push(s) }),
    );
    expect(again.totals()).toEqual(totals);
    expect(lines.join("")).not.toMatch(/moved aside|invalid values/);
  });
});
