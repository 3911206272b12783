import { describe, expect, it } from "vitest";
import { openStats } from "../../../src/stats/service.js";
import { ledgerEntry as entry, freshDir, silent } from "../../support/records.js";

describe("JsonStore", () => {
  it("keeps writing after the clean-up that follows a write fails", async () => {
    const dir = freshDir();
    const stats = await openStats(dir, silent);
    stats.store.onSnapshot = () => () => {
      throw new Error("EBUSY: the sealed journal could not be removed");
    };
    stats.requests.add(entry(10));
    await stats.store.flush();
    stats.requests.add(entry(20));
    await stats.store.flush();
    expect(stats.store.failing).toBeUndefined();
    expect(stats.store.saved.sidecar).toEqual(stats.doc.sidecar);
    expect(stats.totals().prompt).toBe(30);
  });
});
