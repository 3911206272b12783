import { describe, expect, it, vi } from "vitest";
import { Observation } from "../../../src/observe/observation.js";
import { createTap, ParseScheduler } from "../../../src/observe/tap.js";
import { buildRecord } from "../../../src/record/build.js";

import type { Dialect } from "../../../src/wire/routes.js";
import { type Fixture, fixture, sseEvents } from "../../support/fake-llama.js";
import { BUILD, exchangeFacts } from "../../support/records.js";

const scheduler = new ParseScheduler();

/** Token counts as llama-server reported them in the recorded body, read independently of the sidecar's code. */
function reported(f: Fixture): { prefill: number; cached: number; output: number } {
  const jsons = f.headers["content-type"]?.includes("event-stream")
    ? sseEvents(f.body)
        .map(
          (e) =>
            e
              .split("\n")
              .find((l) => l.startsWith("data: "))
              ?.slice(6) ?? "",
        )
        .filter((d) => d.startsWith("{"))
        .map((d) => JSON.parse(d))
    : [JSON.parse(f.body)];
  const withTimings = jsons.find((j) => j.timings);
  if (withTimings) {
    const t = withTimings.timings;
    return { prefill: t.prompt_n, cached: t.cache_n, output: t.predicted_n };
  }
  // The Responses API, non-streamed: input_tokens includes the cached part.
  if (jsons[0].object === "response") {
    const u = jsons[0].usage;
    const cached = u.input_tokens_details.cached_tokens;
    return { prefill: u.input_tokens - cached, cached, output: u.output_tokens };
  }
  // Anthropic: no timings; usage split over message_start and message_delta (or one message).
  const start = jsons.find((j) => j.type === "message_start")?.message.usage ?? jsons[0].usage;
  const delta = jsons.find((j) => j.type === "message_delta")?.usage ?? jsons[0].usage;
  return { prefill: start.input_tokens, cached: start.cache_read_input_tokens, output: delta.output_tokens };
}

function observe(f: Fixture, dialect: Dialect, split: "whole" | "bytes"): Observation {
  let clock = 0;
  const obs = new Observation(0);
  const tap = createTap(dialect, f.headers["content-type"] ?? "", obs, { now: () => ++clock, scheduler });
  const buf = Buffer.from(f.body);
  if (split === "whole") tap.push(buf);
  else for (let i = 0; i < buf.length; i++) tap.push(buf.subarray(i, i + 1));
  tap.end();
  return obs;
}

const CASES: [string, Dialect, string][] = [
  ["post-v1-chat-completions-stream", "openai-chat", "length"],
  ["post-v1-chat-completions", "openai-chat", "length"],
  ["post-v1-completions-stream", "openai-completion", "length"],
  ["post-v1-completions", "openai-completion", "length"],
  ["post-completion-stream", "llama-completion", "limit"],
  ["post-completion", "llama-completion", "limit"],
  ["post-v1-messages-stream", "anthropic-messages", "max_tokens"],
  ["post-v1-messages", "anthropic-messages", "max_tokens"],
  ["post-v1-responses-stream", "openai-responses", "completed"],
  ["post-v1-responses", "openai-responses", "completed"],
];

describe("response taps read exactly what llama-server reported", () => {
  for (const [name, dialect, finish] of CASES) {
    it(`${name}: counts, finish reason and model, fed whole and a byte at a time`, () => {
      const f = fixture(name);
      const want = reported(f);
      for (const split of ["whole", "bytes"] as const) {
        const obs = observe(f, dialect, split);
        const facts = exchangeFacts(obs, { path: f.request.path, model: { stream: name.endsWith("-stream") } });
        const rec = buildRecord(facts, "ok", 1000, BUILD);
        expect({ prefill: rec.prefillTokens, cached: rec.cachedTokens, output: rec.outputTokens }).toEqual(want);
        expect(rec.finishReason).toBe(finish);
        expect(rec.model).toBe("tiny");
        if (name.endsWith("-stream")) expect(obs.firstContentAt).toBeGreaterThan(0);
      }
    });
  }

  it("times the first token at the first content delta, not the role-only delta before it", () => {
    const f = fixture("post-v1-chat-completions-stream");
    const events = sseEvents(f.body);
    let clock = 0;
    const obs = new Observation(0);
    const tap = createTap("openai-chat", "text/event-stream", obs, { now: () => clock, scheduler });
    clock = 5;
    tap.push(Buffer.from(events[0] ?? "")); // role delta, flushed before prefill ends
    expect(obs.firstContentAt).toBeUndefined();
    clock = 900;
    tap.push(Buffer.from(events.slice(1).join("")));
    tap.end();
    expect(obs.firstContentAt).toBe(900);
  });

  it("writes first and parses after: each chunk keeps the time it arrived, parsed a few ms later in one batch", async () => {
    // Earlier tests' taps left a batch timer (a real one) pending: let it run, so this tap starts the next batch.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const events = sseEvents(fixture("post-v1-chat-completions-stream").body);
    let clock = 0;
    const obs = new Observation(0);
    const tap = createTap("openai-chat", "text/event-stream", obs, { now: () => clock, scheduler });
    vi.useFakeTimers();
    try {
      clock = 100;
      tap.push(Buffer.from(events.slice(0, 2).join(""))); // role delta, then the first content delta
      expect(obs.firstContentAt).toBeUndefined(); // not parsed yet: the chunk is on its way to the client first
      clock = 250;
      vi.advanceTimersByTime(4);
      expect(obs.firstContentAt).toBeUndefined(); // the rest of a burst may still be going out
      vi.advanceTimersByTime(1);
      expect(obs.firstContentAt).toBe(100);
    } finally {
      vi.useRealTimers();
    }
    clock = 999;
    tap.push(Buffer.from(events.slice(2).join("")));
    tap.end(); // parses what is pending at once
    expect(obs.lastContentAt).toBe(999);
    expect(obs.timings?.predicted_n).toBeGreaterThan(0);
  });

  it("uses llama-server's timings for speeds and marks stream-derived speeds as derived", () => {
    const withTimings = observe(fixture("post-v1-chat-completions-stream"), "openai-chat", "whole");
    const stream = { model: { stream: true } };
    const r1 = buildRecord(exchangeFacts(withTimings, stream), "ok", 50, BUILD);
    expect(r1.derived).toBe(false);
    expect(r1.decodeTps).toBe(withTimings.timings?.predicted_per_second);

    // Streamed as llama-server sends it, an event a chunk; the fake clock ticks once per chunk.
    let clock = 0;
    const anthropic = new Observation(0);
    const tap = createTap("anthropic-messages", "text/event-stream", anthropic, { now: () => ++clock, scheduler });
    for (const event of sseEvents(fixture("post-v1-messages-stream").body)) tap.push(Buffer.from(event));
    tap.end();
    const r2 = buildRecord(exchangeFacts(anthropic, stream), "ok", 50, BUILD);
    expect(r2.derived).toBe(true);
    // n tokens over n-1 gaps between the first and last content events.
    const gaps = (anthropic.lastContentAt ?? 0) - (anthropic.firstContentAt ?? 0);
    expect(r2.decodeTps).toBeCloseTo((((r2.outputTokens ?? 0) - 1) * 1000) / gaps, 3);
  });

  it("derives TTFT for a non-streamed answer from the generation time", () => {
    const obs = observe(fixture("post-v1-chat-completions"), "openai-chat", "whole");
    const t = obs.timings;
    const rec = buildRecord(exchangeFacts(obs, { model: { stream: false } }), "ok", 500, BUILD);
    expect(rec.derived).toBe(true);
    expect(rec.ttftMs).toBeCloseTo(500 - (t?.predicted_ms ?? 0) + (t?.predicted_per_token_ms ?? 0), 3);
  });
});
