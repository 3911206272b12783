import { describe, expect, it } from "vitest";
import { Observation } from "../../../src/observe/observation.js";
import { buildRecord } from "../../../src/record/build.js";
import { BUILD, exchangeFacts } from "../../support/records.js";

describe("derived prefill speed", () => {
  it("counts the prefill from when llama-server got the request, not the time in the sidecar's queue", () => {
    const obs = new Observation(0);
    obs.setUsage({ prefill: 1000, cached: 0, generated: 1 });
    obs.content(5_500); // first token 5.5 s after the request came in, 5 s of it in the queue
    const facts = exchangeFacts(obs, { path: "/v1/messages", client: "claude-code", model: { stream: true } });
    const rec = buildRecord({ ...facts, queueWaitMs: 5000 }, "ok", 6000, BUILD);
    expect(rec.ttftMs).toBe(5500); // TTFT is what the user waited, queue included
    expect(rec.prefillTps).toBe(2000); // 1000 tokens in 0.5 s
    expect(rec.derived).toBe(true);
  });
});

describe("a record's id", () => {
  it("is a UUIDv7 whose order is the records' order, so the request log's rows go in at the end of its tree", () => {
    const facts = exchangeFacts(new Observation(0), {
      path: "/v1/chat/completions",
      client: "other",
      model: { stream: false },
    });
    const ids = Array.from({ length: 50 }, () => buildRecord(facts, "ok", 10, BUILD).id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // Its first 48 bits are the time it was made, in ms: within this test's run of now.
    const ms = Number.parseInt(ids[0]?.replace(/-/g, "").slice(0, 12) ?? "", 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
  });
});
