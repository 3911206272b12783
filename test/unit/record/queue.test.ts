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
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toEqual([1, 3, 4]);
  });

  it("ends each response right after its own record, and only then does what the records put off", () => {
    const q = new RecordQueue(pino({ level: "silent" }));
    const order: string[] = [];
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
    // A crash in the middle of a burst then counts no request whose client has not seen its end.
    expect(order).toEqual(["record 1", "release 1", "record 2", "release 2", "afterwards 1", "afterwards 2"]);
  });
});
