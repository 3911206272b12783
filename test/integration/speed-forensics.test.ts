// Why generation slowed, end to end: llama-server's own timings (through the recorded fake, whose speeds a test can
// set) judged against the model's usual speed, and the verdict on the record, the span, /metrics and /api/stats.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeLlama, fixture, startFakeLlama, timingsAt } from "../support/fake-llama.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, expectSpanAttributes } from "../support/spans.js";

let fake: FakeLlama;
let sidecar: TestSidecar;
const logLines: string[] = [];

beforeAll(async () => {
  fake = await startFakeLlama();
  const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(line) });
  sidecar = await startTestSidecar(fake.url, [], { logger });
});
afterAll(async () => {
  await sidecar?.close();
  await fake?.close();
});

/** llama-server's answer with its timings set to `tps` over 100 generated tokens. */
function atSpeed(tps: number) {
  fake.transform = timingsAt(tps);
}

async function chat(tps: number) {
  atSpeed(tps);
  const f = fixture("post-v1-chat-completions");
  const res = await fetch(`${sidecar.url}${f.request.path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(f.request.body),
  });
  await res.text();
}

describe("speed forensics", () => {
  it("names the GPU side when a request is far below the usual speed with nothing else changed", async () => {
    for (const tps of [60, 62, 58, 61]) await chat(tps);
    const usual = await sidecar.waitForRecords(4);
    expect(usual.every((r) => r.slowdownCause === undefined)).toBe(true);
    sidecar.clearRecords();
    await chat(20);
    const [slow] = await sidecar.waitForRecords(1);
    expect(slow?.decodeTps).toBe(20);
    expect(slow?.slowdownCause).toBe("gpu_side");
    expect(slow?.usualTps).toBeGreaterThan(58);
    expectSpanAttributes(sidecar.spans().at(-1), {
      [ATTR.SPEED_SLOWDOWN_CAUSE]: "gpu_side",
      [ATTR.SPEED_SLOWDOWN_DETAIL]: slow?.slowdownDetail,
      [ATTR.SPEED_USUAL_TPS]: slow?.usualTps,
    });
    expect(await sidecar.metrics()).toMatch(
      /^llama_sidecar_generation_slowdowns_total\{upstream="default",cause="gpu_side"\} 1$/m,
    );
    const stats = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as {
      slowdowns: { cause: string; tps: number; model: string; detail: string }[];
    };
    expect(stats.slowdowns[0]).toMatchObject({ cause: "gpu_side", tps: 20, model: slow?.modelLabel });
    const line = logLines.map((l) => JSON.parse(l).msg as string).find((m) => m.startsWith("generation slowed"));
    expect(line).toMatch(
      /^generation slowed \(gpu_side\): 20 tok\/s against .+'s usual 6\d tok\/s; same context depth/,
    );
  });

  it("leaves requests at the usual speed alone", async () => {
    sidecar.clearRecords();
    await chat(59);
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.slowdownCause).toBeUndefined();
  });
});
