import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { RecordIds } from "../../../src/record/record-id.js";

const msOf = (id: string) => Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);

describe("record ids", () => {
  it("are valid UUIDv7s carrying the clock's millisecond", () => {
    const ids = new RecordIds(() => 1_796_688_000_123);
    const id = ids.make();
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
    expect(msOf(id)).toBe(1_796_688_000_123);
  });

  it("sort in the order they were made within one millisecond, across refills of the random pool", () => {
    const ids = new RecordIds(() => 1_796_688_000_000);
    // 1,000 ids: the pool (256 ids a fill) is refilled three times in between.
    const made = Array.from({ length: 1000 }, () => ids.make());
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
  });

  it("keep their order when the clock goes back, and follow it when it moves on", () => {
    const times = [5_000, 4_000, 4_000, 9_000];
    const ids = new RecordIds(() => times.shift() ?? 9_000);
    const made = [ids.make(), ids.make(), ids.make(), ids.make()];
    expect([...made].sort()).toEqual(made);
    expect(made.slice(0, 3).map(msOf)).toEqual([5_000, 5_000, 5_000]);
    expect(msOf(made[3] ?? "")).toBe(9_000);
  });

  it("differ in their random bits between two sequences started in the same millisecond", () => {
    const a = new RecordIds(() => 7_000).make();
    const b = new RecordIds(() => 7_000).make();
    expect(a).not.toBe(b);
    expect(a.slice(-12)).not.toBe(b.slice(-12));
  });
});
