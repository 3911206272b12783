// The record queue: records off the hot path, in order; a burst saved at once before any of its responses ends.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RecordQueue } from "../../../src/record/queue.js";

describe("RecordQueue", () => {
  it("records later, in order, or at once on flush(); one failing record does not stop the rest", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (l: string) => void lines.push(l) });
    const q = new RecordQueue(logger, 1);
    const done: number[] = [];
    q.defer(() => void done.push(1));
    q.defer(() => {
      throw new Error("sink broke");
    });
    q.defer(() => void done.push(3));
    expect(done).toEqual([]);
    q.flush();
    expect(done).toEqual([1, 3]);
    expect(lines.join("")).toMatch(/sink broke/);
    q.defer(() => void done.push(4));
    await expect.poll(() => done).toEqual([1, 3, 4]); // on its own, a few milliseconds later
  });

  it("saves a burst's records at once, then ends their responses, and only then does what the records put off", () => {
    const order: string[] = [];
    const durable = { hold: () => void order.push("hold"), commit: () => void order.push("commit") };
    const q = new RecordQueue(pino({ level: "silent" }), 5, [durable]);
    for (const n of [1, 2]) {
      q.defer(
        () => {
          order.push(`record ${n}`);
          return () => void order.push(`afterwards ${n}`);
        },
        () => void order.push(`release ${n}`),
      );
    }
    q.flush();
    // A crash anywhere in the burst then loses no request whose client has seen its end.
    expect(order).toEqual([
      "hold",
      "record 1",
      "record 2",
      "commit",
      "release 1",
      "release 2",
      "afterwards 1",
      "afterwards 2",
    ]);
  });

  it("still saves and releases when a record or the save itself fails", () => {
    const released: number[] = [];
    let committed = 0;
    const durable = {
      hold: () => {},
      commit: () => {
        committed++;
        throw new Error("disk gone");
      },
    };
    const q = new RecordQueue(pino({ level: "silent" }), 5, [durable]);
    q.defer(
      () => {
        throw new Error("listener broke");
      },
      () => void released.push(1),
    );
    q.defer(
      () => undefined,
      () => void released.push(2),
    );
    q.flush();
    expect(committed).toBe(1);
    expect(released).toEqual([1, 2]);
  });
});

describe("RecordQueue, on its own", () => {
  it("ends a burst's responses at this turn's end, and does what their records put off later, or on a read", async () => {
    const order: string[] = [];
    // Put off for longer than the test runs: only a reader's flush() does it.
    const q = new RecordQueue(pino({ level: "silent" }), 600_000);
    q.defer(
      () => {
        order.push("record");
        return () => void order.push("afterwards");
      },
      () => void order.push("release"),
    );
    await expect.poll(() => order).toContain("release");
    expect(order).toEqual(["record", "release"]); // the next requests come first
    q.flush();
    expect(order).toEqual(["record", "release", "afterwards"]);
  });

  it("does a big burst's put-off work a slice per turn, so what arrives in between is not held up", async () => {
    const q = new RecordQueue(pino({ level: "silent" }), 0);
    let done = 0;
    let seenBetween = -1;
    for (let i = 0; i < 40; i++) {
      q.defer(
        () => () => {
          done++;
          // Runs at the next turn: after this slice, before the next one.
          if (done === 1) setImmediate(() => (seenBetween = done));
        },
        () => {},
      );
    }
    await expect.poll(() => done).toBe(40);
    expect(seenBetween).toBe(32);
  });
});
