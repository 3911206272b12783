import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RecordQueue } from "../../../src/proxy/records.js";

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
