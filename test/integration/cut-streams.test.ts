// llama-server's stream cut inside an event: the client gets only whole events, then the sidecar's error event
// whole, so the official SDKs surface the error instead of choking on spliced JSON.
import Anthropic from "@anthropic-ai/sdk";
import { createParser } from "eventsource-parser";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { fixture } from "../support/fake-llama.js";
import { post, sidecar, useFakeProxy } from "../support/fake-proxy.js";

useFakeProxy();

const CUT = { "x-fake-fault": "die-mid-event", "x-fake-gap-ms": "5" };

/** Every event of a raw SSE body, parsed as the SSE specification says. */
function events(body: string): { event?: string; data: string }[] {
  const out: { event?: string; data: string }[] = [];
  const parser = createParser({ onEvent: (e) => out.push({ event: e.event, data: e.data }) });
  parser.feed(body);
  return out;
}

describe("a stream cut mid-event", () => {
  for (const name of ["post-v1-chat-completions-stream", "post-v1-messages-stream"]) {
    it(`${name}: ends with the error event whole, after whole events only`, async () => {
      const f = fixture(name);
      const res = await post(f.request.path, f.request.body, CUT);
      const body = await res.text();
      const all = events(body);
      const last = all.at(-1);
      // Each event parses as JSON: none has the sidecar's error spliced into it.
      for (const e of all) expect(() => JSON.parse(e.data)).not.toThrow();
      const error = JSON.parse(last?.data ?? "{}");
      if (name.includes("messages")) {
        expect(last?.event).toBe("error");
        expect(error).toMatchObject({ type: "error", error: { type: "api_error" } });
      } else {
        expect(error).toMatchObject({ error: { code: "upstream_error" } });
      }
      expect(body.endsWith("\n\n")).toBe(true);
      const [record] = await sidecar.waitForRecords(1);
      expect(record?.outcome).toBe("upstream_error");
    });
  }

  it("the OpenAI SDK surfaces the sidecar's error", async () => {
    const client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: "local", defaultHeaders: CUT, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "tiny",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    const err = await (async () => {
      for await (const _ of stream) {
        // read on
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/llama-server .* failed/);
  });

  it("the Anthropic SDK surfaces the sidecar's error event", async () => {
    const client = new Anthropic({ baseURL: sidecar.url, apiKey: "local", defaultHeaders: CUT, maxRetries: 0 });
    const err = await client.messages
      .stream({ model: "tiny", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toMatch(/api_error.*llama-server .* failed/);
  });
});
