import { describe, expect, it } from "vitest";
import { AdmissionQueue } from "../../../src/admission/queue.js";
import { Cancellation } from "../../../src/cancellation.js";
import { SidecarError } from "../../../src/errors.js";

describe("admission queue", () => {
  it("admits up to the limit, then FIFO with interactive before background", async () => {
    const q = new AdmissionQueue({ limit: () => 1, maxQueued: 10, maxWaitMs: 10_000 });
    const never = new Cancellation();
    const first = await q.acquire("interactive", never);
    const order: string[] = [];
    const track = (name: string, p: ReturnType<typeof q.acquire>) =>
      p.then((t) => {
        order.push(name);
        return t;
      });
    const bg = track("bg", q.acquire("background", never));
    const i1 = track("i1", q.acquire("interactive", never));
    const i2 = track("i2", q.acquire("interactive", never));
    expect(q.depth).toBe(3);
    first.release();
    (await i1).release();
    (await i2).release();
    (await bg).release();
    expect(order).toEqual(["i1", "i2", "bg"]);
    expect(q.active).toBe(0);
  });

  it("rejects when full, after the longest wait, and drops a waiter whose client left", async () => {
    const q = new AdmissionQueue({ limit: () => 1, maxQueued: 1, maxWaitMs: 50 });
    const never = new Cancellation();
    const held = await q.acquire("interactive", never);
    const waiting = q.acquire("interactive", never);
    await expect(q.acquire("interactive", never)).rejects.toMatchObject({ code: "overloaded" });
    await expect(waiting).rejects.toBeInstanceOf(SidecarError);
    const leaving = new Cancellation();
    const gone = q.acquire("interactive", leaving);
    expect(q.depth).toBe(1);
    leaving.abort();
    await expect(gone).rejects.toMatchObject({ code: "client_closed" });
    expect(q.depth).toBe(0);
    // A client that left before its turn to queue is turned away at once, and takes no place.
    const left = new Cancellation();
    left.abort();
    await expect(q.acquire("interactive", left)).rejects.toMatchObject({ code: "client_closed" });
    expect(q.depth).toBe(0);
    held.release();
  });
});
