// Why generation slowed: a slow request against the model's usual speed, and the change that explains it.
import { describe, expect, it } from "vitest";
import { describeSlowdown, type ServerState, SpeedForensics, type SpeedSample } from "../../../src/forensics/speed.js";

const SERVER: ServerState = { restarts: 0, nCtx: 32768, slots: 1, model: "qwen" };

const sample = (tps: number, over: Partial<SpeedSample> = {}): SpeedSample => ({
  model: "qwen",
  tps,
  outputTokens: 200,
  depth: "<4k",
  decoding: "1",
  server: SERVER,
  ...over,
});

/** Forensics that know the model at 60 tok/s, shallow and alone. */
function warmed(): SpeedForensics {
  const f = new SpeedForensics();
  for (const tps of [60, 61, 59, 60]) expect(f.judge(sample(tps))).toBeUndefined();
  return f;
}

describe("SpeedForensics", () => {
  it("says nothing of requests at the usual speed, of short ones, or of a model's first", () => {
    const f = new SpeedForensics();
    expect(f.judge(sample(10))).toBeUndefined(); // the first: nothing to compare with
    expect(f.judge(sample(12))).toBeUndefined();
    expect(warmed().judge(sample(3, { outputTokens: 8 }))).toBeUndefined(); // 8 tokens say little
  });

  it("puts a slow request down to a deeper context when that depth has been this slow before", () => {
    const f = warmed();
    const deep = { depth: "<64k" };
    // The first deep requests: no speed known there yet, the depth is the change.
    expect(f.judge(sample(28, deep))).toMatchObject({
      cause: "deeper_context",
      detail: "context <64k tokens, was <4k; no speed known there yet",
    });
    f.judge(sample(27, deep));
    const d = f.judge(sample(27, deep));
    expect(d?.cause).toBe("deeper_context");
    expect(d?.detail).toMatch(/^context <64k tokens, was <4k; usual there 2\d tok\/s$/);
    expect(d?.usualTps).toBeCloseTo(60, 0);
  });

  it("puts it down to more requests decoding at once", () => {
    const f = warmed();
    expect(f.judge(sample(30, { decoding: "3-4" }))).toMatchObject({
      cause: "more_decoding",
      detail: "3-4 requests decoding at once, was 1; no speed known there yet",
    });
  });

  it("names a restart and the settings it changed", () => {
    const f = warmed();
    const d = f.judge(sample(20, { server: { ...SERVER, restarts: 1, nCtx: 65536, slots: 4 } }));
    expect(d).toMatchObject({
      cause: "server_restarted",
      detail: "llama-server restarted (n_ctx 32768 -> 65536, slots 1 -> 4)",
    });
    const same = warmed().judge(sample(20, { server: { ...SERVER, restarts: 1 } }));
    expect(same?.detail).toBe("llama-server restarted, same settings");
  });

  it("names a fall in draft acceptance", () => {
    const f = new SpeedForensics();
    const drafting = { server: { ...SERVER, specAcceptance: 0.8 } };
    for (const tps of [90, 91, 89]) f.judge(sample(tps, drafting));
    expect(f.judge(sample(40, { server: { ...SERVER, specAcceptance: 0.35 } }))).toMatchObject({
      cause: "spec_acceptance_fell",
      detail: "draft acceptance 35%, was 80%",
    });
  });

  it("says the GPU side when nothing it can see changed, and also when deeper requests are slower than usual there", () => {
    const f = warmed();
    expect(f.judge(sample(25))?.cause).toBe("gpu_side");
    // The deep band is known at 28 tok/s; 10 there is not the depth.
    const g = warmed();
    for (const tps of [28, 28, 28]) g.judge(sample(tps, { depth: "<64k" }));
    expect(g.judge(sample(10, { depth: "<64k" }))?.cause).toBe("gpu_side");
  });

  it("keeps the usual speed through a slowdown, until ten slow requests in a row make the slow speed the usual", () => {
    const f = warmed();
    for (let i = 0; i < 10; i++) expect(f.judge(sample(20))?.cause).toBe("gpu_side");
    expect(f.judge(sample(20))).toBeUndefined();
    expect(f.judge(sample(19))).toBeUndefined();
  });

  it("writes one line without text", () => {
    const line = describeSlowdown({ cause: "gpu_side", detail: "x", tps: 20.4, usualTps: 60.2 }, "qwen");
    expect(line).toBe("generation slowed (gpu_side): 20 tok/s against qwen's usual 60 tok/s; x");
  });
});
