// No prompt text is kept unless asked: a marker sent in prompts, and echoed back by llama-server's errors, never
// reaches the data dir, the logs, /api/stats, the spans or /metrics; with --capture-content the spans carry it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeLlama, startFakeLlama } from "../support/fake-llama.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";

const MARKER = "please-remember-7f3a9c";

let fake: FakeLlama;
beforeAll(async () => {
  fake = await startFakeLlama();
});
afterAll(async () => fake?.close());

async function start(args: string[] = []): Promise<{ sidecar: TestSidecar; logs: string[] }> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const sidecar = await startTestSidecar(fake.url, args, { logger: pino({ level: "trace" }, sink) });
  return { sidecar, logs };
}

/** Requests that carry the marker every way a prompt can: answered, refused, echoed back in an error, cut short. */
async function sendMarkedRequests(url: string): Promise<void> {
  const chat = { model: "tiny", messages: [{ role: "user", content: `${MARKER} hi` }] };
  const anthropic = { model: "tiny", max_tokens: 8, messages: [{ role: "user", content: MARKER }] };
  const send = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : new Uint8Array(body),
    })
      .then((r) => r.text())
      .catch(() => "");
  await send("/v1/chat/completions", JSON.stringify(chat));
  await send("/v1/chat/completions", JSON.stringify({ ...chat, stream: true }));
  await send("/v1/messages", JSON.stringify({ ...anthropic, stream: true }));
  await send("/v1/messages/count_tokens", JSON.stringify(anthropic));
  await send("/v1/chat/completions", JSON.stringify(chat), { "x-fake-fault": "echo-error" });
  await send("/v1/messages", JSON.stringify(anthropic), { "x-fake-fault": "echo-error" });
  // Echoed without quotes (issue 26: such text once survived in recent[].errorMessage and on the span status).
  await send("/v1/chat/completions", JSON.stringify(chat), { "x-fake-fault": "echo-plain" });
  await send("/v1/messages", JSON.stringify(anthropic), { "x-fake-fault": "echo-plain" });
  await send("/v1/chat/completions", JSON.stringify({ ...chat, stream: true }), { "x-fake-fault": "die-mid-event" });
  await send("/v1/chat/completions", `{"messages":[{"role":"user","content":"${MARKER}"`); // cut-off JSON
  await send("/v1/chat/completions", `{"messages": "${MARKER}" }`); // wrong type
  await send("/v1/messages", Buffer.concat([Buffer.from(`{"messages":"${MARKER}`), Buffer.from([0xff])]));
}

function dataDirText(dir: string): string {
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("\n");
}

function spanText(sidecar: TestSidecar): string {
  return JSON.stringify(
    sidecar.spans().map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
  );
}

describe("prompt text", () => {
  it("appears nowhere the sidecar keeps or shows anything, by default", async () => {
    const { sidecar, logs } = await start();
    try {
      await sendMarkedRequests(sidecar.url);
      await sidecar.waitForRecords(12);
      const stats = await (await fetch(`${sidecar.url}/api/stats`)).text();
      const metrics = await sidecar.metrics();
      await sidecar.stats.flush();
      // The requests were seen and recorded, errors included: just without their words.
      expect(stats).toContain('"errorMessage":"Failed to parse messages"');
      expect(stats).toContain("llama-server invalid_request_error (its text is kept only with --capture-content)");
      for (const [where, text] of [
        ["data dir", dataDirText(sidecar.config.dataDir)],
        ["logs", logs.join("")],
        ["/api/stats", stats],
        ["spans", spanText(sidecar)],
        ["/metrics", metrics],
      ]) {
        expect(text, where).not.toContain(MARKER);
      }
      expect(logs.length).toBeGreaterThan(0);
    } finally {
      await sidecar.close();
    }
  });

  it("is on the spans with --capture-content, so the check above can see it", async () => {
    const { sidecar } = await start(["--capture-content"]);
    try {
      await sendMarkedRequests(sidecar.url);
      await sidecar.waitForRecords(12);
      expect(spanText(sidecar)).toContain(MARKER);
      expect(dataDirText(sidecar.config.dataDir)).not.toContain(MARKER);
    } finally {
      await sidecar.close();
    }
  });
});
