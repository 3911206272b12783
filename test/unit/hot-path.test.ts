// The request body reader, the relay's raw upstream body, request cancellation and the deferred request records,
// driven directly.
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import type { Dispatcher } from "undici";
import { describe, expect, it } from "vitest";
import { Cancellation } from "../../src/cancellation.js";
import { readRequestBody } from "../../src/proxy/body.js";
import { RecordQueue } from "../../src/proxy/records.js";
import { HOLD_WITHOUT_PAUSE_BYTES, UpstreamBody } from "../../src/upstream/response.js";

/** What undici's dispatch controller does, recorded. */
function controller() {
  const calls: string[] = [];
  const c = {
    paused: false,
    aborted: false,
    reason: null as Error | null,
    pause() {
      calls.push("pause");
      c.paused = true;
    },
    resume() {
      calls.push("resume");
      c.paused = false;
    },
    abort(reason: Error) {
      calls.push("abort");
      c.aborted = true;
      c.reason = reason;
    },
  };
  return { c: c as unknown as Dispatcher.DispatchController, calls };
}

describe("UpstreamBody", () => {
  it("holds chunks that arrive before the reader, pausing the socket past a limit, then hands them over in order", () => {
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    const big = Buffer.alloc(HOLD_WITHOUT_PAUSE_BYTES, "b");
    body.onData(Buffer.from("a"));
    expect(calls).toEqual([]); // a small first chunk is simply held
    body.onData(big);
    body.onData(Buffer.from("c"));
    expect(calls).toEqual(["pause"]);
    const seen: string[] = [];
    body.read({ data: (b) => seen.push(b.toString()), end: () => seen.push("END"), error: () => seen.push("ERR") });
    expect(seen).toEqual(["a", big.toString(), "c"]);
    expect(calls).toEqual(["pause", "resume"]);
    body.onData(Buffer.from("d"));
    body.onEnd();
    expect(seen).toEqual(["a", big.toString(), "c", "d", "END"]);
  });

  it("neither pauses nor resumes for a small held chunk, and stays paused when the reader asked for a pause", () => {
    const small = controller();
    const quick = new UpstreamBody(small.c);
    quick.onData(Buffer.from("a"));
    quick.read({ data: () => {}, end: () => {}, error: () => {} });
    expect(small.calls).toEqual([]);
    const { c, calls } = controller();
    const body = new UpstreamBody(c);
    body.onData(Buffer.alloc(HOLD_WITHOUT_PAUSE_BYTES + 1));
    body.read({ data: () => body.pause(), end: () => {}, error: () => {} });
    expect(calls).toEqual(["pause", "pause"]);
    body.resume();
    expect(calls.at(-1)).toBe("resume");
  });

  it("reports an end or a failure that came before the reader", async () => {
    const ended = new UpstreamBody(controller().c);
    ended.onData(Buffer.from("héllo"));
    ended.onEnd();
    expect(await ended.text()).toBe("héllo");
    const failed = new UpstreamBody(controller().c);
    failed.onError(Object.assign(new Error("socket hang up"), { code: "UND_ERR_SOCKET" }));
    await expect(failed.text()).rejects.toThrow("socket hang up");
  });

  it("is read once, and destroy() aborts only a response still in flight", () => {
    const live = controller();
    const body = new UpstreamBody(live.c);
    body.read({ data: () => {}, end: () => {}, error: () => {} });
    expect(() => body.read({ data: () => {}, end: () => {}, error: () => {} })).toThrow(/only once/);
    body.destroy();
    expect(live.calls).toEqual(["abort"]);
    const done = controller();
    const finished = new UpstreamBody(done.c);
    finished.onEnd();
    finished.destroy();
    expect(done.calls).toEqual([]);
  });
});

describe("RecordQueue", () => {
  it("records later, in order, or at once on flush(); one failing record does not stop the rest", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (l: string) => void lines.push(l) });
    const q = new RecordQueue(logger, 1);
    const done: number[] = [];
    q.defer(() => done.push(1));
    q.defer(() => {
      throw new Error("sink broke");
    });
    q.defer(() => done.push(3));
    expect(done).toEqual([]);
    q.flush();
    expect(done).toEqual([1, 3]);
    expect(lines.join("")).toMatch(/sink broke/);
    q.defer(() => done.push(4));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toEqual([1, 3, 4]);
  });
});

describe("Cancellation", () => {
  it("calls each listener once, not the removed ones, and a late listener at once", () => {
    const cancel = new Cancellation();
    const calls: string[] = [];
    cancel.onAbort(() => calls.push("queue"));
    const stop = cancel.onAbort(() => calls.push("upstream"));
    stop();
    expect(cancel.aborted).toBe(false);
    cancel.abort();
    cancel.abort();
    expect(calls).toEqual(["queue"]);
    expect(cancel.aborted).toBe(true);
    cancel.onAbort(() => calls.push("late"))();
    expect(calls).toEqual(["queue", "late"]);
  });
});

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
