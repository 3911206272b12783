import { describe, expect, it } from "vitest";
import { addRecord, totals } from "../../../src/stats/request-ledger.js";
import { joinKey, ledgerModels, splitKey } from "../../../src/store/ledger-keys.js";
import { emptyStats } from "../../../src/store/schema.js";
import { BoundedLabel, LABEL_MAX_LENGTH, MODEL_LABEL_LIMIT } from "../../../src/wire/labels.js";
import { requestRecord as rec } from "../../support/records.js";

describe("request ledger keys and labels", () => {
  it("reads back every part of a key whatever characters a client put in it, and keys written before escaping", () => {
    for (const parts of [
      ["/v1/messages", "a|b", "other", "ok"],
      ["%7C", "50%", "x|%|y", ""],
    ]) {
      expect(splitKey(joinKey(parts))).toEqual(parts);
    }
    expect(splitKey("/v1/messages|tiny|claude-code|ok")).toEqual(["/v1/messages", "tiny", "claude-code", "ok"]);
  });

  it("keeps the first models by name for good: seeded from the ledger, so labels agree across restarts", () => {
    const doc = emptyStats(new Date(0)).sidecar;
    const labels = new BoundedLabel(MODEL_LABEL_LIMIT, () => ledgerModels(doc));
    const record = (model: string) => ({ ...rec(100, 10), model, modelLabel: labels.value(model) });
    for (let i = 0; i < MODEL_LABEL_LIMIT + 5; i++) addRecord(doc, record(`m|${i}`));
    const names = new Set(ledgerModels(doc));
    expect(names.size).toBe(MODEL_LABEL_LIMIT + 1);
    expect(names.has("other")).toBe(true);
    expect(totals(doc).requests).toBe(MODEL_LABEL_LIMIT + 5);
    // After a restart, a new label set learns the same names from the ledger: an old model keeps its name,
    // a new one is "other", as it was before.
    const again = new BoundedLabel(MODEL_LABEL_LIMIT, () => ledgerModels(doc));
    expect(again.value("m|3")).toBe("m|3");
    expect(again.value("brand-new")).toBe("other");
    expect(again.value("y".repeat(500))).toBe("other");
    expect(new BoundedLabel(1).value("y".repeat(500))).toHaveLength(LABEL_MAX_LENGTH);
  });
});
