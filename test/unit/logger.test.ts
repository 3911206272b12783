import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";

/** A stream that keeps what is written to it, and says whether it is a terminal. */
function sink(isTTY: boolean): Writable & { text: () => string; isTTY: boolean } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join("") });
}

describe("the process logger", () => {
  it("writes JSON lines for everything but a person's terminal", () => {
    const out = sink(false);
    createLogger({ logLevel: "info", logFormat: "auto" }, out as unknown as typeof process.stderr).info(
      { upstream: "gpu0" },
      "llama-server is online",
    );
    expect(JSON.parse(out.text())).toMatchObject({ level: 30, upstream: "gpu0", msg: "llama-server is online" });
  });

  it("writes pretty lines when asked (its formatter loaded only then)", () => {
    const out = sink(false);
    createLogger({ logLevel: "info", logFormat: "pretty" }, out as unknown as typeof process.stderr).warn("queue full");
    expect(out.text()).toMatch(/WARN.*queue full/);
    expect(() => JSON.parse(out.text())).toThrow();
  });
});
