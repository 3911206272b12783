import type { Dispatcher } from "undici";
import { describe, expect, it } from "vitest";
import { HOLD_WITHOUT_PAUSE_BYTES, UpstreamBody } from "../../../src/upstream/response.js";

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
