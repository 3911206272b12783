// The request journal: numbered entries replayed once and never twice, sealed files dropped once stored.
import { appendFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../../../src/store/journal.js";
import { freshDir } from "../../support/records.js";

describe("Journal", () => {
  it("numbers entries, replays those after a given number once each, and skips a half-written line", () => {
    const dir = freshDir();
    const j = new Journal(dir, "j", 0);
    expect(j.append({ n: 1 })).toBe(true);
    expect(j.append({ n: 2 })).toBe(true);
    expect(j.seal()).toBe(2);
    expect(j.append({ n: 3 })).toBe(true);
    j.close();
    appendFileSync(join(dir, "j"), '{"s":4,"d":{"n"'); // a write a crash cut short
    const all = Journal.replay(dir, "j", 0);
    expect(all.entries.map((e) => e.d)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(all.unreadable).toBe(1);
    expect(all.lastSeq).toBe(3);
    expect(Journal.replay(dir, "j", 2).entries.map((e) => e.s)).toEqual([3]);
  });

  it("drops sealed files once a store holds their entries, and keeps later ones", () => {
    const dir = freshDir();
    const j = new Journal(dir, "j", 10);
    j.append({});
    const sealed = j.seal();
    j.append({});
    j.dropThrough(sealed);
    expect(readdirSync(dir)).toEqual(["j"]);
    expect(Journal.replay(dir, "j", 0).entries.map((e) => e.s)).toEqual([12]);
  });

  it("reports a refused write and leaves no half line behind", () => {
    const dir = freshDir();
    const j = new Journal(join(dir, "missing-folder"), "j", 0);
    expect(j.append({ n: 1 })).toBe(false);
    expect(j.failing?.message).toMatch(/ENOENT/);
    expect(j.failedWrites).toBe(1);
    expect(j.seq).toBe(0);
  });
});
