// The status line's words for a session: context against the slot, cache, TTFT, speed, and what runs now.
import { describe, expect, it } from "vitest";
import { sessionLine } from "../../../src/clients/statusline.js";
import type { SessionView } from "../../../src/wire/session-view.js";

const base: SessionView = {
  session: "s",
  model: "qwen3-coder",
  requests: 3,
  contextUsed: 12_300,
  nCtx: 32_768,
  cacheReuse: 0.97,
  ttftMs: 820,
  decodeTps: 41.4,
  upstream: "online",
};

describe("sessionLine", () => {
  it("shows context in use against the slot's n_ctx, cache reuse, TTFT and speed", () => {
    expect(sessionLine(base)).toBe("qwen3-coder · ctx ▓▓▓░░░░░ 12k/33k (38%) · cache 97% · TTFT 820 ms · 41 tok/s");
  });

  it("shows a queued turn's place, a prefill's progress and time left, and llama-server when it is not online", () => {
    expect(sessionLine({ ...base, now: { phase: "queued", queuePosition: 2 } })).toContain(" · queued #2 · ");
    const progress = {
      ratio: 0.45,
      processed: 9000,
      total: 20000,
      cached: 0,
      etaMs: 65_000,
      source: "estimate" as const,
    };
    expect(sessionLine({ ...base, now: { phase: "prefilling", progress } })).toContain(
      " · prefill ~45%, ~1 min left · ",
    );
    expect(sessionLine({ ...base, upstream: "loading" })).toMatch(/ · llama-server loading$/);
  });

  it("says little for a session with nothing measured yet", () => {
    expect(sessionLine({ session: "s", requests: 0, upstream: "online", now: { phase: "prefilling" } })).toBe(
      "local model · prefilling",
    );
  });

  it("names the model as Claude Code shows it, never by a file's path", () => {
    const served = { ...base, model: "/home/you/models/qwen3-coder.gguf" };
    expect(sessionLine(served)).toMatch(/^qwen3-coder · ctx /);
    expect(sessionLine(served, "my-coder")).toMatch(/^my-coder · ctx /);
  });
});
