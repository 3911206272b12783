// The relay's SSE framing: whole events pass at once, an unfinished one waits, in any split and any line ending.
import { describe, expect, it } from "vitest";
import { lastEventEnd, SseFramer } from "../../../src/proxy/sse-framing.js";

const b = (s: string) => Buffer.from(s, "utf8");

/** Feeds `input` in pieces cut at `cuts`; returns what was forwarded, piece by piece, and what stayed held. */
function frame(input: Buffer, cuts: number[]): { forwarded: Buffer[]; rest: Buffer | undefined } {
  const framer = new SseFramer();
  const forwarded: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, input.length]) {
    const out = framer.push(input.subarray(at, cut));
    if (out) forwarded.push(out);
    at = cut;
  }
  return { forwarded, rest: framer.rest() };
}

/** Deterministic pseudo-random cut points. */
function cutsFor(length: number, seed: number): number[] {
  let x = seed;
  const out = new Set<number>();
  for (let i = 0; i < length / 3; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.add(1 + (x % Math.max(1, length - 1)));
  }
  return [...out].sort((a, c) => a - c);
}

const EVENTS = ['data: {"a":"héllo"}', 'event: message_delta\ndata: {"b":2}', "data: [DONE]"];

describe("lastEventEnd", () => {
  it("finds the end of the last blank line for each of LF, CR and CRLF", () => {
    expect(lastEventEnd(b("data: 1\n\ndata: 2"), new Uint8Array())).toBe(9);
    expect(lastEventEnd(b("data: 1\r\n\r\ndata: 2\r\n"), new Uint8Array())).toBe(11);
    expect(lastEventEnd(b("data: 1\r\rdata"), new Uint8Array())).toBe(9);
    expect(lastEventEnd(b("data: 1\n\r\n"), new Uint8Array())).toBe(10);
    expect(lastEventEnd(b("data: 1\r\n"), new Uint8Array())).toBe(-1);
    expect(lastEventEnd(b("data: 1\n"), new Uint8Array())).toBe(-1);
  });

  it("sees a blank line that starts in the bytes before the chunk", () => {
    expect(lastEventEnd(b("\ndata"), b("1\n"))).toBe(1);
    expect(lastEventEnd(b("\n\r\n"), b("1\r"))).toBe(3);
    expect(lastEventEnd(b("data"), b("\n\n"))).toBe(-1); // a boundary wholly before the chunk was already passed on
  });
});

describe("SseFramer", () => {
  for (const [name, eol] of [
    ["LF", "\n"],
    ["CRLF", "\r\n"],
    ["CR", "\r"],
  ] as const) {
    const stream = b(EVENTS.map((e) => e.replaceAll("\n", eol) + eol + eol).join(""));

    it(`passes whole events only, with ${name} line endings, split anywhere (a byte at a time too)`, () => {
      const splits = [
        Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
        ...[1, 2, 3, 4, 5].map((seed) => cutsFor(stream.length, seed)),
      ];
      for (const cuts of splits) {
        const { forwarded, rest } = frame(stream, cuts);
        // Nothing lost, nothing reordered, nothing held at a clean end.
        expect(Buffer.concat(forwarded).equals(stream)).toBe(true);
        expect(rest).toBeUndefined();
        // What has gone out ends with a blank line after every piece: the client only ever holds whole events.
        let sent = Buffer.alloc(0);
        for (const piece of forwarded) {
          sent = Buffer.concat([sent, piece]);
          expect(lastEventEnd(sent, new Uint8Array())).toBe(sent.length);
        }
      }
    });
  }

  it("holds an event cut off mid-way, and hands it back whole if the stream ends cleanly", () => {
    const whole = b('data: {"x":1}\n\n');
    const cut = b('data: {"con');
    const { forwarded, rest } = frame(Buffer.concat([whole, cut]), [5, 16, 20]);
    expect(Buffer.concat(forwarded).toString()).toBe(whole.toString());
    expect(rest?.toString()).toBe(cut.toString());
  });

  it("keeps multi-byte UTF-8 intact across cuts inside a character", () => {
    const stream = b('data: {"t":"日本語 ✓"}\n\n');
    const { forwarded } = frame(stream, [13, 14, 15, 16, 17]);
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]?.toString("utf8")).toBe(stream.toString("utf8"));
  });

  it("passes a chunk that ends with a blank line as the very same buffer (nothing copied)", () => {
    const framer = new SseFramer();
    const chunk = b("data: 1\n\n");
    expect(framer.push(chunk)).toBe(chunk);
  });
});
