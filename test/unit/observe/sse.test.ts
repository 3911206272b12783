import { describe, expect, it } from "vitest";
import { SseDecoder, type SseEvent } from "../../../src/observe/sse.js";
import { FIXTURES } from "../../support/fake-llama.js";

function decodeAll(parts: Uint8Array[]): SseEvent[] {
  const events: SseEvent[] = [];
  const d = new SseDecoder((e) => events.push(e));
  for (const p of parts) d.push(p);
  d.end();
  return events;
}

function bytewise(buf: Buffer): Uint8Array[] {
  return Array.from(buf, (b) => Uint8Array.of(b));
}

/** Deterministic pseudo-random splits, so a failure reproduces. */
function randomSplits(buf: Buffer, seed: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let s = seed;
  let i = 0;
  while (i < buf.length) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 17);
    parts.push(buf.subarray(i, i + n));
    i += n;
  }
  return parts;
}

const sseFixtures = FIXTURES.filter((f) => f.headers["content-type"]?.includes("text/event-stream"));

describe("SseDecoder", () => {
  it("has recorded SSE fixtures to work on", () => {
    expect(sseFixtures.map((f) => f.name).sort()).toEqual([
      "post-completion-stream",
      "post-v1-chat-completions-stream",
      "post-v1-completions-stream",
      "post-v1-messages-stream",
      "post-v1-responses-stream",
    ]);
  });

  for (const f of sseFixtures) {
    describe(f.name, () => {
      const whole = Buffer.from(f.body);
      const expected = decodeAll([whole]);

      it("decodes every event of the recorded stream", () => {
        const blocks = f.body.split("\n\n").filter((b) => b.trim()).length;
        expect(expected.length).toBe(blocks);
        for (const e of expected) expect(e.data.length).toBeGreaterThan(0);
      });

      it("gives the same events fed a byte at a time", () => {
        expect(decodeAll(bytewise(whole))).toEqual(expected);
      });

      it("gives the same events in random splits", () => {
        for (const seed of [1, 7, 42, 1234]) expect(decodeAll(randomSplits(whole, seed))).toEqual(expected);
      });

      it("gives the same events with CRLF line endings, byte at a time", () => {
        const crlf = Buffer.from(f.body.replace(/\n/g, "\r\n"));
        expect(decodeAll(bytewise(crlf))).toEqual(expected);
      });

      it("gives the same events with bare CR line endings", () => {
        const cr = Buffer.from(f.body.replace(/\n/g, "\r"));
        expect(decodeAll(randomSplits(cr, 3))).toEqual(expected);
      });
    });
  }

  it("reassembles multi-byte UTF-8 characters split across chunks", () => {
    const text = "héllo 🦙 日本語 — ok";
    const payload = JSON.stringify({ choices: [{ delta: { content: text } }] });
    const buf = Buffer.from(`data: ${payload}\n\n`);
    // Split at every byte, which cuts inside each multi-byte character.
    const events = decodeAll(bytewise(buf));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.data ?? "").choices[0].delta.content).toBe(text);
  });

  it("keeps event names, multi-line data and ignores comments", () => {
    const raw = ': keep-alive\r\nevent: message_delta\r\ndata: {"a":\r\ndata: 1}\r\n\r\n';
    const events = decodeAll(bytewise(Buffer.from(raw)));
    expect(events).toEqual([{ id: undefined, event: "message_delta", data: '{"a":\n1}' }]);
  });

  it("flushes nothing for a half-sent event when the stream ends without its blank line", () => {
    const events = decodeAll([Buffer.from('data: {"complete":true}\n\ndata: {"cut')]);
    expect(events.map((e) => e.data)).toEqual(['{"complete":true}']);
  });
});
