import { describe, expect, it } from "vitest";
import { Cancellation } from "../../src/cancellation.js";

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
