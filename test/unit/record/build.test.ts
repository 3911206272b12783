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
