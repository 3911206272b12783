// The request body reader, the relay's raw upstream body, request cancellation and the deferred request records,
// driven directly.
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { readRequestBody } from "../../../src/proxy/body.js";

/** A request whose body arrives as the test writes it, with the headers given. */
function incoming(headers: Record<string, string>): PassThrough & { headers: Record<string, string> } {
  return Object.assign(new PassThrough(), { headers });
}

/** Whether the promise has settled once pending callbacks have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe("readRequestBody", () => {
  it("goes on at the last byte a Content-Length declares, without waiting for the stream's end", async () => {
    const req = incoming({ "content-length": "11" });
    const body = readRequestBody(req as unknown as IncomingMessage, 1024);
    req.write("hello ");
    expect(await settled(body)).toBe(false);
    req.write("world"); // the stream never ends: only the length says the body is whole
    expect(await settled(body)).toBe(true);
    expect((await body).toString()).toBe("hello world");
  });

  it("waits for the end of a body without a Content-Length (chunked), and joins its parts", async () => {
    const req = incoming({ "transfer-encoding": "chunked" });
    const body = readRequestBody(req as unknown as IncomingMessage, 1024);
    req.write("hello ");
    req.write("world");
    expect(await settled(body)).toBe(false);
    req.end();
    expect((await body).toString()).toBe("hello world");
  });

  it("refuses a body past the limit, whether declared or sent", async () => {
    const declared = incoming({ "content-length": "2000" });
    await expect(readRequestBody(declared as unknown as IncomingMessage, 1024)).rejects.toMatchObject({
      code: "payload_too_large",
    });
    const sent = incoming({ "transfer-encoding": "chunked" });
    const body = readRequestBody(sent as unknown as IncomingMessage, 1024);
    sent.write(Buffer.alloc(1025));
    await expect(body).rejects.toMatchObject({ code: "payload_too_large" });
  });
});
